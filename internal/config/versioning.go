package config

import (
	"fmt"
	"strings"
)

// maxVersionField keeps a deployment name or build ID well inside the
// server's limit (each is at most about (1000 - prefix) / 2 characters,
// since both go into the version's entity workflow ID).
const maxVersionField = 255

// readVersioning reads temporal.versioning, .deployment_name and .build_id,
// refusing what the server would refuse only when the worker first polls.
func readVersioning(o *object, t *Temporal) error {
	var err error
	if t.Versioning, err = withDefault(o, "versioning", VersioningAutoUpgrade); err != nil {
		return err
	}
	if t.Versioning != VersioningAutoUpgrade && t.Versioning != VersioningOff {
		return fmt.Errorf("config: %s: %q is not %q or %q", o.key("versioning"), t.Versioning, VersioningAutoUpgrade, VersioningOff)
	}
	if t.DeploymentName, err = withDefault(o, "deployment_name", DefaultDeploymentName); err != nil {
		return err
	}
	if err := checkVersionField(o.key("deployment_name"), t.DeploymentName, ".:"); err != nil {
		return err
	}
	id, _, err := o.str("build_id")
	if err != nil {
		return err
	}
	t.BuildID = strings.TrimSpace(id)
	if t.BuildID != "" {
		if err := checkVersionField(o.key("build_id"), t.BuildID, ""); err != nil {
			return err
		}
	}
	if _, named := o.raw("deployment_name"); t.Versioning == VersioningOff && (t.BuildID != "" || named) {
		return fmt.Errorf("config: %s is %q: leave out %s and %s, or turn versioning on", o.key("versioning"), VersioningOff, o.key("deployment_name"), o.key("build_id"))
	}
	return nil
}

func checkVersionField(key, v, forbidden string) error {
	switch {
	case len(v) > maxVersionField:
		return fmt.Errorf("config: %s: %d characters, at most %d", key, len(v), maxVersionField)
	case strings.HasPrefix(v, "__"):
		return fmt.Errorf("config: %s: %q must not start with \"__\" (reserved by Temporal)", key, v)
	case strings.ContainsAny(v, forbidden):
		return fmt.Errorf("config: %s: %q must not contain any of %q", key, v, forbidden)
	case strings.IndexFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return fmt.Errorf("config: %s: %q must not contain spaces or control characters", key, v)
	}
	return nil
}
