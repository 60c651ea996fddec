package faults

import (
	"context"
	"testing"

	"go.temporal.io/sdk/client"
)

type countingClient struct{ withStart, signals int }

func (c *countingClient) SignalWithStartWorkflow(context.Context, string, string, any,
	client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	c.withStart++
	return nil, nil
}

func (c *countingClient) SignalWorkflow(context.Context, string, string, string, any) error {
	c.signals++
	return nil
}

// The hook dies on exactly the n-th call of its method, before Temporal
// sees that call; other calls pass through.
func TestDyingClientDiesBeforeTheNthCall(t *testing.T) {
	inner := &countingClient{}
	died := 0
	c := &DyingClient{Client: inner, Method: "SignalWorkflow", N: 3, Die: func() { died++ }}
	ctx := context.Background()
	for range 5 {
		_, _ = c.SignalWithStartWorkflow(ctx, "task-x", "task-pending", nil, client.StartWorkflowOptions{}, "TaskWorkflow")
	}
	for i := 1; i <= 2; i++ {
		_ = c.SignalWorkflow(ctx, "task-x", "", "build-started", nil)
	}
	if died != 0 {
		t.Fatalf("died after %d SignalWorkflow calls, want at the 3rd", inner.signals)
	}
	// A real Die never returns; this one does, so the call goes on.
	_ = c.SignalWorkflow(ctx, "task-x", "", "build-started", nil)
	if died != 1 || inner.withStart != 5 {
		t.Errorf("died %d times, %d SignalWithStart passed; want 1 and 5", died, inner.withStart)
	}
}

func TestParseDieBefore(t *testing.T) {
	m, n, err := ParseDieBefore("SignalWithStartWorkflow:40")
	if err != nil || m != "SignalWithStartWorkflow" || n != 40 {
		t.Errorf("ParseDieBefore = %q, %d, %v", m, n, err)
	}
	for _, bad := range []string{"", "SignalWorkflow", "SignalWorkflow:0", "SignalWorkflow:x", "Query:3"} {
		if _, _, err := ParseDieBefore(bad); err == nil {
			t.Errorf("ParseDieBefore(%q) accepted", bad)
		}
	}
}
