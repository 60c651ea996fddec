package localdeploy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v3"
	"github.com/taskcluster/httpbackoff/v3"
	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
)

// Retry is how a queue client retries a 5xx or a refused connection:
// exponential backoff from Initial to Max between tries, for at most
// Elapsed in all.
type Retry struct {
	Initial, Max, Elapsed time.Duration
}

// DefaultRetry suits a scheduler on a local, healthy queue.
var DefaultRetry = Retry{Initial: 50 * time.Millisecond, Max: time.Second, Elapsed: 30 * time.Second}

// QueueClient is the official Taskcluster client for the queue at rootURL
// as clientID, retrying as r says.
func QueueClient(rootURL, clientID, accessToken string, r Retry) *tcqueue.Queue {
	q := tcqueue.New(&tcclient.Credentials{ClientID: clientID, AccessToken: accessToken}, rootURL)
	q.HTTPBackoffClient = &httpbackoff.Client{BackOffSettings: &backoff.ExponentialBackOff{
		InitialInterval: r.Initial, RandomizationFactor: 0.2, Multiplier: 2,
		MaxInterval: r.Max, MaxElapsedTime: r.Elapsed, Clock: backoff.SystemClock,
	}}
	return q
}

// Task is a task for the bridge's worker pool, as a scheduler (a decision
// task, a user) creates it.
type Task struct {
	// Builder, Properties and Sourcestamp make the payload (Sourcestamp
	// nil: none), unless Payload is set.
	Builder     string
	Properties  map[string]any
	Sourcestamp map[string]any
	Payload     json.RawMessage

	// Deadline is from now; Expires too, by default a day or the deadline
	// and an hour, whichever is later.
	Deadline time.Duration
	Expires  time.Duration
	Retries  int
	Priority string
	Scopes   []string

	Name, Description, Source string
	// Owner defaults to releng@example.com.
	Owner string
}

func (t Task) payload() (json.RawMessage, error) {
	if t.Payload != nil {
		return t.Payload, nil
	}
	p := map[string]any{"buildername": t.Builder}
	if t.Properties != nil {
		p["properties"] = t.Properties
	}
	if t.Sourcestamp != nil {
		p["sourcestamp"] = t.Sourcestamp
	}
	return json.Marshal(p)
}

// CreateTask creates t as taskID in id's worker pool through q, the
// scheduler's client.
func (id Identity) CreateTask(q *tcqueue.Queue, taskID string, t Task) error {
	payload, err := t.payload()
	if err != nil {
		return err
	}
	expires := t.Expires
	if expires == 0 {
		expires = max(24*time.Hour, t.Deadline+time.Hour)
	}
	owner := t.Owner
	if owner == "" {
		owner = "releng@example.com"
	}
	now := time.Now()
	def := tcqueue.TaskDefinitionRequest{
		ProvisionerID: id.ProvisionerID,
		WorkerType:    id.WorkerType,
		SchedulerID:   id.SchedulerID,
		TaskGroupID:   taskID,
		Created:       tcclient.Time(now),
		Deadline:      tcclient.Time(now.Add(t.Deadline)),
		Expires:       tcclient.Time(now.Add(expires)),
		Payload:       payload,
		Priority:      t.Priority,
		Retries:       int64(t.Retries),
		Scopes:        t.Scopes,
		Metadata:      tcqueue.TaskMetadata{Name: t.Name, Description: t.Description, Owner: owner, Source: t.Source},
	}
	if _, err := q.CreateTask(taskID, &def); err != nil {
		return fmt.Errorf("createTask: %w", err)
	}
	return nil
}

// CreateTasks calls create(0) ... create(n-1) from callers goroutines, so
// that the queue sees concurrent callers as it would from many schedulers;
// rate > 0 paces the calls to rate per second. It stops at the first error.
func CreateTasks(ctx context.Context, n, callers int, rate float64, create func(i int) error) error {
	work := make(chan int)
	errs := make(chan error, callers)
	for range callers {
		go func() {
			for i := range work {
				if err := create(i); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	start := time.Now()
	var err error
feed:
	for i := range n {
		if rate > 0 {
			at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
		}
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
	if err != nil {
		return err
	}
	for range callers {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	return err
}
