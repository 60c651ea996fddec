package faults

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"go.temporal.io/sdk/client"

	"github.com/bbbridge/buildbot-bridge/internal/starter"
)

// DieBeforeEnv names the environment variable of bbb-faults-proc's starter
// hook: "SignalWithStartWorkflow:40" makes the starter die on its 40th
// SignalWithStartWorkflow call, after it received and decoded the message
// and before Temporal hears of it; "SignalWorkflow:60" likewise for the
// signals of Buildbot events and task-exception.
const DieBeforeEnv = "BBB_FAULTS_DIE_BEFORE"

// SelfKillMarker is the line the hook writes before it kills the process,
// so the run tells a death on purpose from a crash.
const SelfKillMarker = "bbb-faults-proc: dying on purpose"

// ParseDieBefore reads a DieBeforeEnv value.
func ParseDieBefore(spec string) (method string, n int, err error) {
	method, count, ok := strings.Cut(spec, ":")
	if ok {
		n, err = strconv.Atoi(count)
	}
	if !ok || err != nil || n < 1 {
		return "", 0, fmt.Errorf("%s=%q: want METHOD:N with N ≥ 1", DieBeforeEnv, spec)
	}
	if method != "SignalWithStartWorkflow" && method != "SignalWorkflow" {
		return "", 0, fmt.Errorf("%s=%q: METHOD is SignalWithStartWorkflow or SignalWorkflow", DieBeforeEnv, spec)
	}
	return method, n, nil
}

// DyingClient is the starter's Temporal client with the hook: on the n-th
// call of method it calls die (which does not return) instead of calling
// Temporal.
type DyingClient struct {
	Client starter.TemporalClient
	Method string
	N      int
	Die    func()

	mu    sync.Mutex
	calls int
}

func (c *DyingClient) count(method string) {
	if method != c.Method {
		return
	}
	c.mu.Lock()
	c.calls++
	hit := c.calls == c.N
	c.mu.Unlock()
	if hit {
		c.Die()
	}
}

// SignalWithStartWorkflow implements starter.TemporalClient.
func (c *DyingClient) SignalWithStartWorkflow(ctx context.Context, workflowID, signalName string, signalArg any,
	options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error) {
	c.count("SignalWithStartWorkflow")
	return c.Client.SignalWithStartWorkflow(ctx, workflowID, signalName, signalArg, options, workflow, workflowArgs...)
}

// SignalWorkflow implements starter.TemporalClient.
func (c *DyingClient) SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error {
	c.count("SignalWorkflow")
	return c.Client.SignalWorkflow(ctx, workflowID, runID, signalName, arg)
}
