package bbsim

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/pulse"
)

// DefaultExchange is the exchange Mozilla's masters published build events to.
const DefaultExchange = "exchange/build"

// Forever, as an Attempt's Duration, keeps the build running until
// (*Sim).FinishBuild or a self-serve build cancel ends it.
const Forever time.Duration = -1

// Defaults applied by New to zero Options fields.
const (
	DefaultPollInterval         = time.Second
	DefaultClaimRefreshInterval = 10 * time.Minute
	DefaultClaimTimeout         = time.Hour
	DefaultAgentDelay           = 200 * time.Millisecond
	DefaultSelfServeAddr        = "127.0.0.1:0"
	DefaultBuildDuration        = 200 * time.Millisecond
)

// Options configures a Sim. DB, Driver and Publisher are required.
type Options struct {
	// DB is the scheduler DB holding Buildbot 0.8's tables.
	DB *sql.DB
	// Driver is "mysql" or "sqlite", the driver DB was opened with.
	Driver string
	// Publisher carries the build events; the Sim declares Exchange on it
	// at Start, as the owner of that exchange.
	Publisher *pulse.Publisher
	// Exchange is where build events go (default "exchange/build").
	Exchange string

	// Masters lists the simulated masters, each polling on its own. An
	// entry is either a full master name "host:/basedir" or a short host
	// name h, which becomes "h:/builds/buildbot/h/master". The default is
	// one master whose name is unique to this Sim. Two Sims given the same
	// name behave like a restarted master: the newer one takes over the
	// older one's claimed, incomplete requests.
	Masters []string
	// Builders restricts the masters to these builder names; empty means
	// every builder that has requests.
	Builders []string
	// BuilderDirs maps a builder name to its directory name, which is what
	// the routing keys carry (after "." and " " become "_"). Builders not
	// in the map use their name.
	BuilderDirs map[string]string
	// MaxBuildsPerMaster limits the builds a master runs at once, like a
	// finite pool of slaves; 0 means no limit.
	MaxBuildsPerMaster int

	// PollInterval is db_poll_interval (Mozilla used 60 s on build
	// masters); default 1 s.
	PollInterval time.Duration
	// ClaimRefreshInterval is how often a running build's claimed_at is
	// refreshed; default 10 minutes as in Buildbot. It must be shorter
	// than ClaimTimeout.
	ClaimRefreshInterval time.Duration
	// ClaimTimeout is how old a claim must be before any master takes the
	// request over (Buildbot 0.8's stale-claim rule): default an hour, the
	// value 0.8 hard-codes. A shorter one lets a test or a fault run see a
	// lost request come back; whole seconds, as claimed_at has.
	ClaimTimeout time.Duration

	// Script decides what each build of a request does. Nil means every
	// build succeeds after DefaultBuildDuration.
	Script Script

	// SelfServeAddr is the self-serve listen address (default
	// 127.0.0.1:0, a free port).
	SelfServeAddr string
	// AgentDelay is how long after a self-serve call its agent acts
	// (default 200 ms; negative means at once).
	AgentDelay time.Duration
	// LogURLBase is the prefix of the log_url property. The default points
	// at the Sim's own HTTP server, which serves the (gzipped) logs.
	LogURLBase string

	// Logger receives the Sim's log; nil means slog.Default().
	Logger *slog.Logger
}

func (o *Options) applyDefaults() error {
	if o.DB == nil {
		return errors.New("bbsim: Options.DB is required")
	}
	if o.Driver != "mysql" && o.Driver != "sqlite" {
		return fmt.Errorf("bbsim: Options.Driver must be \"mysql\" or \"sqlite\", not %q", o.Driver)
	}
	if o.Publisher == nil {
		return errors.New("bbsim: Options.Publisher is required")
	}
	if o.Exchange == "" {
		o.Exchange = DefaultExchange
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.ClaimRefreshInterval <= 0 {
		o.ClaimRefreshInterval = DefaultClaimRefreshInterval
	}
	if o.ClaimTimeout <= 0 {
		o.ClaimTimeout = DefaultClaimTimeout
	}
	if o.ClaimTimeout < time.Second {
		return errors.New("bbsim: Options.ClaimTimeout must be at least a second")
	}
	if o.ClaimRefreshInterval >= o.ClaimTimeout {
		// Running builds would be taken over between two refreshes.
		return fmt.Errorf("bbsim: Options.ClaimRefreshInterval (%s) must be shorter than ClaimTimeout (%s)",
			o.ClaimRefreshInterval, o.ClaimTimeout)
	}
	if o.AgentDelay == 0 {
		o.AgentDelay = DefaultAgentDelay
	} else if o.AgentDelay < 0 {
		o.AgentDelay = 0
	}
	if o.SelfServeAddr == "" {
		o.SelfServeAddr = DefaultSelfServeAddr
	}
	if o.Script == nil {
		o.Script = Fixed(Attempt{Result: SUCCESS, Duration: DefaultBuildDuration})
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBuildsPerMaster < 0 {
		return errors.New("bbsim: Options.MaxBuildsPerMaster must not be negative")
	}
	return nil
}
