package buildbot3

import (
	"encoding/json"
	"fmt"
	"strings"
)

const (
	workerName     = "w1"
	workerPassword = "w1-pass"
	// BridgeScheduler is the name of the force scheduler through which the
	// bridge creates requests.
	BridgeScheduler = "taskcluster"
	// otherScheduler drives the builders the bridge scheduler leaves out:
	// Buildbot refuses a config with a builder no scheduler names.
	otherScheduler = "others"
	authRole       = "bridge"
)

// pyStr quotes s as a Python string literal. A JSON string is one, and
// Go's encoder escapes everything that could end it early.
func pyStr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func pyList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = pyStr(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// masterCfg renders master.cfg. The worker's steps take their inputs as
// list arguments, never inside a shell string, so a property value cannot
// inject shell code.
func masterCfg(opts Options, wwwPort, pbPort int) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# Written by internal/testenv/buildbot3 at each start; do not edit.")
	p("from buildbot.plugins import schedulers, steps, util, worker")
	p("from taskcluster_bridge import bridge_reporter, bridge_scheduler")
	p("")
	p("c = BuildmasterConfig = {}")
	p("c['title'] = 'buildbot3 test master'")
	p("c['buildbotURL'] = 'http://127.0.0.1:%d/'", wwwPort)
	p("c['buildbotNetUsageData'] = None")
	p("c['db'] = {'db_url': 'sqlite:///state.sqlite'}")
	p("c['protocols'] = {'pb': {'port': 'tcp:%d:interface=127.0.0.1'}}", pbPort)
	p("c['workers'] = [worker.Worker(%s, %s)]", pyStr(workerName), pyStr(workerPassword))
	p("c['collapseRequests'] = %s", pyBool(opts.CollapseRequests))
	p("")
	p("factory = util.BuildFactory()")
	p("factory.addStep(steps.ShellCommand(name='taskid', command=['echo', util.Interpolate('taskId=%%(prop:taskId)s')]))")
	p("factory.addStep(steps.ShellCommand(name='sleep', command=['sleep', util.Interpolate('%%(prop:sleep:-1)s')]))")
	// The exit code reaches sh as $1, outside the script text.
	p("factory.addStep(steps.ShellCommand(name='exit', command=['sh', '-c', 'exit \"$1\"', 'exit', util.Interpolate('%%(prop:exit:-0)s')]))")
	if opts.Steps != "" {
		p("%s", opts.Steps)
	}
	p("")
	p("c['builders'] = [util.BuilderConfig(name=n, workernames=[%s], factory=factory, collapseRequests=%s) for n in %s]",
		pyStr(workerName), pyBool(opts.CollapseRequests), pyList(opts.Builders))
	bridged := opts.SchedulerBuilders
	if bridged == nil {
		bridged = opts.Builders
	}
	p("c['schedulers'] = [bridge_scheduler(name=%s, builderNames=%s)]", pyStr(BridgeScheduler), pyList(bridged))
	if rest := missing(opts.Builders, bridged); len(rest) > 0 {
		p("c['schedulers'].append(schedulers.ForceScheduler(name=%s, builderNames=%s))", pyStr(otherScheduler), pyList(rest))
	}
	p("c['services'] = []")
	if opts.PushURL != "" {
		p("c['services'].append(bridge_reporter(%s, %s, user=%s))", pyStr(opts.PushURL), pyStr(opts.PushPassword), pyStr(pushUser(opts)))
	}
	p("")
	p("c['www'] = {'port': 'tcp:%d:interface=127.0.0.1'}", wwwPort)
	if opts.Auth != nil {
		p("c['www']['auth'] = util.UserPasswordAuth({%s: %s})", pyStr(opts.Auth.User), pyStr(opts.Auth.Password))
		// Reads stay open to anyone, as on most real masters; only the
		// control endpoints (force, cancel, stop) need the role.
		p("c['www']['authz'] = util.Authz(")
		p("    allowRules=[util.AnyControlEndpointMatcher(role=%s)],", pyStr(authRole))
		p("    roleMatchers=[util.RolesFromUsername(roles=[%s], usernames=[%s])])", pyStr(authRole), pyStr(opts.Auth.User))
	}
	return b.String()
}

func pushUser(opts Options) string {
	if opts.PushUser == "" {
		return "buildbot"
	}
	return opts.PushUser
}

// missing returns the names of all that are not in some.
func missing(all, some []string) []string {
	in := make(map[string]bool, len(some))
	for _, s := range some {
		in[s] = true
	}
	var out []string
	for _, s := range all {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}
