package config

import (
	"fmt"
	"strings"

	"github.com/bbbridge/buildbot-bridge/internal/dburl"
)

// keys08 are the keys that choose Buildbot 0.8.
var keys08 = []string{"buildbot_scheduler_db", "selfserve_url"}

// readBackend reads exactly one Buildbot backend: the buildbot section
// (modern Buildbot) or buildbot_scheduler_db and selfserve_url (0.8).
// Both, or neither, is refused: a bridge half-configured for each would
// inject into one master and listen to the other.
func (r reader) readBackend(top, bb, bbl *object, c *Config) error {
	_, hasSection := top.raw("buildbot")
	var given08 []string
	for _, k := range keys08 {
		if _, ok := top.raw(k); ok {
			given08 = append(given08, k)
		}
	}
	if _, ok := bbl.raw("pulse_exchange"); ok && hasSection {
		given08 = append(given08, "bblistener.pulse_exchange")
	}
	switch {
	case hasSection && len(given08) > 0:
		return fmt.Errorf("config: buildbot and %s: configure one Buildbot backend, not both (buildbot for Buildbot 3.x/4.x, buildbot_scheduler_db + selfserve_url for Buildbot 0.8)",
			strings.Join(given08, " and "))
	case hasSection:
		return r.readREST(bb, c)
	case len(given08) == 0:
		return fmt.Errorf("config: no Buildbot configured: set buildbot (Buildbot 3.x/4.x) or buildbot_scheduler_db and selfserve_url (Buildbot 0.8)")
	}
	return r.read08(top, c)
}

func (r reader) read08(top *object, c *Config) error {
	rawDB, err := required(top, "buildbot_scheduler_db")
	if err != nil {
		return err
	}
	if c.SchedulerDB, err = dburl.Parse(rawDB); err != nil {
		return fmt.Errorf("config: buildbot_scheduler_db: %s", strings.TrimPrefix(err.Error(), "dburl: "))
	}
	for _, p := range c.SchedulerDB.IgnoredParams {
		r.log.Warn("config: buildbot_scheduler_db: query parameter "+p+" has no effect here and is ignored", "key", "buildbot_scheduler_db", "param", p)
	}
	if c.SelfServeURL, err = required(top, "selfserve_url"); err != nil {
		return err
	}
	if err := checkHTTPURL("selfserve_url", c.SelfServeURL); err != nil {
		return err
	}
	c.SelfServeURL = strings.TrimRight(c.SelfServeURL, "/")
	return nil
}

func (r reader) readREST(o *object, c *Config) error {
	b := &Buildbot{}
	var err error
	if b.APIURL, err = required(o, "api_url"); err != nil {
		return err
	}
	if err := checkHTTPURL(o.key("api_url"), b.APIURL); err != nil {
		return err
	}
	u, _ := parseURL(o.key("api_url"), b.APIURL)
	if u.User != nil {
		return fmt.Errorf("config: %s: put the credentials in buildbot.user and buildbot.password (or %s), not in the URL", o.key("api_url"), EnvBuildbotPassword)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("config: %s: must be the master's web root, without a query or fragment", o.key("api_url"))
	}
	b.APIURL = strings.TrimRight(b.APIURL, "/") + "/"
	if strings.HasSuffix(b.APIURL, "/api/v2/") {
		return fmt.Errorf("config: %s: give the master's web root (%s), not its API path", o.key("api_url"), strings.TrimSuffix(b.APIURL, "api/v2/"))
	}
	if b.User, _, err = o.str("user"); err != nil {
		return err
	}
	b.User = strings.TrimSpace(b.User)
	password, err := r.stringOrEnv(o, "password", EnvBuildbotPassword)
	if err != nil {
		return err
	}
	b.Password = Secret(password)
	if b.User == "" && password != "" {
		return fmt.Errorf("config: %s: a password needs buildbot.user", r.source(o, "password", EnvBuildbotPassword))
	}
	if b.User != "" && password == "" {
		return fmt.Errorf("config: %s: missing (or set %s): buildbot.user is set", o.key("password"), EnvBuildbotPassword)
	}
	if b.ForceScheduler, err = withDefault(o, "force_scheduler", DefaultForceScheduler); err != nil {
		return err
	}
	if b.EventsListen, err = withDefault(o, "events_listen", DefaultBuildbotEventsListen); err != nil {
		return err
	}
	if err := checkHostPort(o.key("events_listen"), b.EventsListen, true); err != nil {
		return err
	}
	events, err := r.stringOrEnv(o, "events_password", EnvBuildbotEventsPassword)
	if err != nil {
		return err
	}
	if events == "" {
		// Whoever can post an event can resolve a task.
		return fmt.Errorf("config: %s: missing (or set %s): the master's pushes must be authenticated", o.key("events_password"), EnvBuildbotEventsPassword)
	}
	b.EventsPassword = Secret(events)
	c.Buildbot = b
	return nil
}
