package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Taskcluster's identifier rules (services/queue/schemas/constants.yml in
// v44): the queue answers 400 to a claim with anything else, and such a
// worker type can never be given a task.
var (
	identifierPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,38}$`)
	workerTypePattern = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,36}[a-z0-9])?$`)
)

func checkIdentifier(key, v string) error {
	if !identifierPattern.MatchString(v) {
		return fmt.Errorf("config: %s: %q is not a Taskcluster identifier (1 to 38 of a-z A-Z 0-9 _ -)", key, v)
	}
	return nil
}

// parseURL hides url.Parse's error, which quotes the whole URL and with it
// any password.
func parseURL(key, v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil {
		return nil, fmt.Errorf("config: %s: not a valid URL", key)
	}
	return u, nil
}

func checkHTTPURL(key, v string) error {
	u, err := parseURL(key, v)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("config: %s: must be an http:// or https:// URL with a host", key)
	}
	return nil
}

func checkAllowedBuildersURL(v string) error {
	const key = "allowed_builders_url"
	u, err := parseURL(key, v)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host != "" {
			return nil
		}
	case "file":
		if (u.Host == "" || u.Host == "localhost") && strings.HasPrefix(u.Path, "/") && u.Path != "/" {
			return nil
		}
		return fmt.Errorf("config: %s: a file URL needs an absolute path (file:///path/to/list.json)", key)
	}
	return fmt.Errorf("config: %s: must be an http://, https:// or file:/// URL", key)
}

// parsePulseURL checks pulse_url and fills in pulse_user/pulse_password when
// the URL carries no credentials of its own.
func parsePulseURL(v, user, password string) (string, error) {
	const key = "pulse_url"
	u, err := parseURL(key, v)
	if err != nil {
		return "", err
	}
	if u.Scheme != "amqp" && u.Scheme != "amqps" {
		return "", fmt.Errorf("config: %s: must be an amqp:// or amqps:// URL", key)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("config: %s: missing host", key)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("config: %s: invalid port", key)
		}
	}
	if u.User == nil && user != "" {
		if password != "" {
			u.User = url.UserPassword(user, password)
		} else {
			u.User = url.User(user)
		}
	}
	return u.String(), nil
}

// checkHostPort checks a host:port address; a listen address may leave the
// host empty (all interfaces) and use port 0 (any free port).
func checkHostPort(key, v string, listen bool) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("config: %s: %q is not host:port", key, v)
	}
	n, err := strconv.Atoi(port)
	low := 1
	if listen {
		low = 0
	}
	if err != nil || n < low || n > 65535 {
		return fmt.Errorf("config: %s: %q has an invalid port", key, v)
	}
	if host == "" && !listen {
		return fmt.Errorf("config: %s: %q has no host", key, v)
	}
	if strings.ContainsAny(host, " /@") {
		return fmt.Errorf("config: %s: %q has an invalid host", key, v)
	}
	return nil
}

// sameListenAddress reports whether two checked listen addresses would
// collide on one host: same fixed port and the same or a wildcard host.
func sameListenAddress(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	norm := func(h string) string {
		switch h {
		case "", "0.0.0.0", "::":
			return "*"
		case "localhost":
			return "127.0.0.1"
		}
		return h
	}
	ha, hb = norm(ha), norm(hb)
	return ha == hb || ha == "*" || hb == "*"
}
