package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v3"
	"github.com/taskcluster/httpbackoff/v3"
	"github.com/taskcluster/slugid-go/slugid"
	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
)

// schedulerClient is the task creator's (and canceller's) view of the
// queue. It retries 5xx for longer than any fault lasts: the scheduler is
// not under test.
func schedulerClient(rootURL, token string) *tcqueue.Queue {
	q := tcqueue.New(&tcclient.Credentials{ClientID: schedClientID, AccessToken: token}, rootURL)
	q.HTTPBackoffClient = &httpbackoff.Client{BackOffSettings: &backoff.ExponentialBackOff{
		InitialInterval: 50 * time.Millisecond, RandomizationFactor: 0.2, Multiplier: 2,
		MaxInterval: 2 * time.Second, MaxElapsedTime: 2 * time.Minute, Clock: backoff.SystemClock,
	}}
	return q
}

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

// createTasks creates the planned tasks through the official client, 8
// callers at once, and closes d.created when done.
func (d *deployment) createTasks(ctx context.Context) error {
	defer close(d.created)
	work := make(chan int)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for i := range work {
				if err := d.createTask(i); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var err error
feed:
	for i := range d.tasks {
		select {
		case work <- i:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(work)
	for range 8 {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	return err
}

func (d *deployment) createTask(i int) error {
	t := d.tasks[i]
	p, _ := json.Marshal(map[string]any{
		"buildername": t.builder,
		"properties":  map[string]any{"product": "firefox", "branch": "mozilla-central", "faults_outcome": t.outcome.Name},
		"sourcestamp": map[string]any{
			"branch":   "https://hg.mozilla.org/mozilla-central",
			"revision": fmt.Sprintf("%040x", uint64(i+1)*2654435761),
		},
	})
	now := time.Now()
	def := tcqueue.TaskDefinitionRequest{
		ProvisionerID: provisionerID,
		WorkerType:    workerType,
		SchedulerID:   schedulerID,
		TaskGroupID:   t.id,
		Created:       tcclient.Time(now),
		Deadline:      tcclient.Time(now.Add(3 * time.Hour)),
		Expires:       tcclient.Time(now.Add(24 * time.Hour)),
		Payload:       p,
		Retries:       5,
		Metadata: tcqueue.TaskMetadata{
			Name: d.fault.Name + " " + t.outcome.Name, Description: "bbb-faults task",
			Owner: "releng@example.com", Source: "https://example.com/bbb-faults",
		},
	}
	if _, err := d.sched.CreateTask(t.id, &def); err != nil {
		return fmt.Errorf("faults: createTask: %w", err)
	}
	return nil
}
