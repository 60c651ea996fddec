package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// PulseURLRedacted is the effective Pulse URL with its password replaced by
// "xxxxx", safe to log.
func (c Config) PulseURLRedacted() string { return redactURL(string(c.PulseURL)) }

// redactURL hides a URL's password; an unparsable URL is hidden whole.
func redactURL(v string) string {
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil {
		return redacted
	}
	return u.Redacted()
}

// attrs lists the configuration with every secret redacted.
func (c Config) attrs() []slog.Attr {
	attrs := []slog.Attr{
		slog.String("taskcluster_queue_config.rootUrl", c.Taskcluster.RootURL),
		slog.String("taskcluster_queue_config.credentials.clientId", c.Taskcluster.ClientID),
		slog.String("taskcluster_queue_config.credentials.accessToken", c.Taskcluster.AccessToken.String()),
		slog.String("backend", c.Backend()),
	}
	if b := c.Buildbot; b != nil {
		attrs = append(attrs,
			slog.String("buildbot.api_url", redactURL(b.APIURL)),
			slog.String("buildbot.user", b.User),
			slog.String("buildbot.password", b.Password.String()),
			slog.String("buildbot.force_scheduler", b.ForceScheduler),
			slog.String("buildbot.events_listen", b.EventsListen),
			slog.String("buildbot.events_password", b.EventsPassword.String()),
		)
	} else {
		attrs = append(attrs,
			slog.String("buildbot_scheduler_db", c.SchedulerDB.Redacted()),
			slog.String("selfserve_url", redactURL(c.SelfServeURL)),
			slog.String("bblistener.pulse_exchange", c.BBListener.PulseExchange),
		)
	}
	return append(attrs,
		slog.String("pulse_url", c.PulseURLRedacted()),
		slog.String("pulse_queue_basename", c.PulseQueueBasename),
		slog.String("restricted_builders", fmt.Sprintf("%q", c.RestrictedBuilders.Sources())),
		slog.String("ignored_builders", fmt.Sprintf("%q", c.IgnoredBuilders.Sources())),
		slog.String("claim_worker_group", c.ClaimWorkerGroup()),
		slog.String("claim_worker_id", c.ClaimWorkerID()),
		slog.String("tclistener.pulse_exchange_basename", c.TCListener.PulseExchangeBasename),
		slog.String("tclistener.provisioner_id", c.TCListener.ProvisionerID),
		slog.String("tclistener.worker_type", c.TCListener.WorkerType),
		slog.Duration("reflector.interval", c.Reflector.Interval),
		slog.String("temporal.address", c.Temporal.Address),
		slog.String("temporal.namespace", c.Temporal.Namespace),
		slog.String("temporal.task_queue", c.Temporal.TaskQueue),
		slog.String("allowed_builders_url", redactURL(c.AllowedBuildersURL)),
		slog.Duration("allowed_builders_refresh", c.AllowedBuildersRefresh),
		slog.Duration("reclaim.lead_seconds", c.Reclaim.Lead),
		slog.Duration("finished_grace_seconds", c.FinishedGrace),
		slog.String("worker.listen", c.Worker.Listen),
		slog.String("starter.listen", c.Starter.Listen),
	)
}

// LogValue implements slog.LogValuer: the configuration as a group, secrets
// redacted.
func (c Config) LogValue() slog.Value { return slog.GroupValue(c.attrs()...) }

// String renders the configuration as key=value pairs, secrets redacted.
func (c Config) String() string {
	var b strings.Builder
	for i, a := range c.attrs() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", a.Key, a.Value)
	}
	return b.String()
}
