package bridge

import (
	"regexp"
	"testing"

	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/internal/config"
)

func TestDeploymentOptions(t *testing.T) {
	off, err := deploymentOptions(config.Temporal{Versioning: config.VersioningOff})
	if err != nil || off.UseVersioning {
		t.Errorf("versioning off: %+v, %v; want an unversioned worker", off, err)
	}

	given, err := deploymentOptions(config.Temporal{Versioning: config.VersioningAutoUpgrade, DeploymentName: "bbb", BuildID: "2026.12.02"})
	if err != nil {
		t.Fatal(err)
	}
	if !given.UseVersioning || given.Version.DeploymentName != "bbb" || given.Version.BuildID != "2026.12.02" ||
		given.DefaultVersioningBehavior != workflow.VersioningBehaviorAutoUpgrade {
		t.Errorf("with a build id: %+v", given)
	}

	// A test binary carries no VCS stamps: the executable names itself,
	// the same way every time.
	derived, err := deploymentOptions(config.Temporal{Versioning: config.VersioningAutoUpgrade, DeploymentName: "bbb"})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^sha256-[0-9a-f]{16}$`).MatchString(derived.Version.BuildID) {
		t.Errorf("derived build id %q, want sha256-<16 hex digits>", derived.Version.BuildID)
	}
	again, _ := deploymentOptions(config.Temporal{Versioning: config.VersioningAutoUpgrade, DeploymentName: "bbb"})
	if again.Version != derived.Version {
		t.Errorf("build id changed between calls: %q then %q", derived.Version.BuildID, again.Version.BuildID)
	}
}
