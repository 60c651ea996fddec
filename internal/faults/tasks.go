package faults

import (
	"context"
	"fmt"
	"time"

	"github.com/taskcluster/slugid-go/slugid"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// plan fixes every task's id, builder and outcome before any exists, so
// the masters' Script only ever reads.
func (d *deployment) plan(n int) {
	d.tasks = make([]plannedTask, 0, n)
	for i := range n {
		t := plannedTask{id: slugid.Nice(), builder: servedBuilders[i%len(servedBuilders)]}
		t.outcome = MixedOutcome(i, d.fault.MinBuild, d.fault.MaxBuild)
		if d.fault.Shape != nil {
			d.fault.Shape(i, &t)
		}
		if t.outcome.Unserved {
			t.builder = unservedBuilder
		}
		d.tasks = append(d.tasks, t)
	}
	for i := range d.tasks {
		d.byID[d.tasks[i].id] = &d.tasks[i]
	}
}

// createTasks creates the planned tasks but the late ones through the
// official client, 8 callers at once, and closes d.created when done.
func (d *deployment) createTasks(ctx context.Context) error {
	defer close(d.created)
	return d.createWhere(ctx, false)
}

// createLate creates the late tasks, for the Strike, and says how many.
func (d *deployment) createLate(ctx context.Context) (int, error) {
	n := 0
	for _, t := range d.tasks {
		if t.late {
			n++
		}
	}
	return n, d.createWhere(ctx, true)
}

func (d *deployment) createWhere(ctx context.Context, late bool) error {
	var idx []int
	for i, t := range d.tasks {
		if t.late == late {
			idx = append(idx, i)
		}
	}
	return localdeploy.CreateTasks(ctx, len(idx), 8, 0, func(j int) error { return d.createTask(idx[j]) })
}

func (d *deployment) createTask(i int) error {
	t := d.tasks[i]
	err := d.CreateTask(t.id, localdeploy.Task{
		Builder:    t.builder,
		Properties: map[string]any{"product": "firefox", "branch": "mozilla-central", "faults_outcome": t.outcome.Name},
		Sourcestamp: map[string]any{
			"branch":   "https://hg.mozilla.org/mozilla-central",
			"revision": fmt.Sprintf("%040x", uint64(i+1)*2654435761),
		},
		Deadline: 3 * time.Hour,
		Retries:  5,
		Name:     d.fault.Name + " " + t.outcome.Name, Description: "bbb-faults task", Source: "https://example.com/bbb-faults",
	})
	if err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	return nil
}
