package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/cenkalti/backoff/v3"
	"github.com/taskcluster/httpbackoff/v3"
	"github.com/taskcluster/slugid-go/slugid"
	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
)

// The deployment's identities, as in the end-to-end tests: the bridge's
// credentials carry exactly the scopes it needs (REFERENCE §A).
const (
	provisionerID  = "buildbot-bridge"
	workerType     = "buildbot-bridge"
	workerGroup    = "bbb-bench"
	workerID       = "bbb-bench-1"
	schedulerID    = "bench-scheduler"
	bridgeClientID = "project/releng/buildbot-bridge"
	schedClientID  = "bench-scheduler"
	tcExchanges    = "exchange/taskcluster-queue/v1/"
	buildExchange  = "exchange/build"
	queueBasename  = "queue/bbb-bench"
)

// benchBuilders are the builders the bench's tasks use and the simulated
// masters serve: the prefilled history's builders are left alone.
var benchBuilders = []string{"bench-linux64-opt", "bench-linux64-debug", "bench-win64-opt", "bench-macosx64-opt"}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// bridgeConfig is the config.json the worker and starter read.
type bridgeConfig struct {
	rootURL, bridgeToken, dbURL, selfServeURL, amqpURL string
	temporalAddr, namespace, taskQueue                 string
	workerListen, starterListen                        string
	reclaimLead                                        time.Duration // 0: the bridge's default
}

func (c bridgeConfig) write(dir string) (string, error) {
	raw := map[string]any{
		"taskcluster_queue_config": map[string]any{
			"rootUrl":     c.rootURL,
			"credentials": map[string]any{"clientId": bridgeClientID, "accessToken": c.bridgeToken},
		},
		"buildbot_scheduler_db": c.dbURL,
		"selfserve_url":         c.selfServeURL,
		"pulse_url":             c.amqpURL,
		"pulse_queue_basename":  queueBasename,
		"tc_worker_group":       workerGroup,
		"tc_worker_id":          workerID,
		"tclistener": map[string]any{
			"pulse_exchange_basename": "exchange/taskcluster-queue/v1",
			"worker_type":             workerType,
			"provisioner_id":          provisionerID,
		},
		"bblistener": map[string]any{"pulse_exchange": buildExchange},
		"temporal":   map[string]any{"address": c.temporalAddr, "namespace": c.namespace, "task_queue": c.taskQueue},
		"worker":     map[string]any{"listen": c.workerListen},
		"starter":    map[string]any{"listen": c.starterListen},
	}
	if c.reclaimLead > 0 {
		raw["reclaim"] = map[string]any{"lead_seconds": int(c.reclaimLead / time.Second)}
	}
	data, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "config.json")
	// It holds the bridge's access token.
	return p, os.WriteFile(p, data, 0o600)
}

func schedulerClient(rootURL, token string) *tcqueue.Queue {
	q := tcqueue.New(&tcclient.Credentials{ClientID: schedClientID, AccessToken: token}, rootURL)
	q.HTTPBackoffClient = &httpbackoff.Client{BackOffSettings: &backoff.ExponentialBackOff{
		InitialInterval: 50 * time.Millisecond, RandomizationFactor: 0.2, Multiplier: 2,
		MaxInterval: time.Second, MaxElapsedTime: 30 * time.Second, Clock: backoff.SystemClock,
	}}
	return q
}

// benchDeadline is the tasks' deadline (from creation) in the benchmark,
// far beyond any run.
const benchDeadline = 3 * time.Hour

// createTasks creates n tasks for the bridge's worker pool, rate per
// second (0: as fast as concurrent callers can), and records when each
// creation was answered.
func createTasks(ctx context.Context, q *tcqueue.Queue, n int, rate float64, rec *recorder, prefix string, deadline time.Duration) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = slugid.Nice()
	}
	const callers = 16
	work := make(chan int)
	errs := make(chan error, callers)
	for range callers {
		go func() {
			for i := range work {
				if err := createTask(q, ids[i], i, prefix, deadline); err != nil {
					errs <- err
					return
				}
				now := time.Now()
				rec.update(ids[i], func(t *taskTimes) { t.created = now })
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
		return nil, err
	}
	for range callers {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	return ids, err
}

func createTask(q *tcqueue.Queue, taskID string, i int, prefix string, deadline time.Duration) error {
	p, _ := json.Marshal(map[string]any{
		"buildername": benchBuilders[i%len(benchBuilders)],
		"properties":  map[string]any{"product": "firefox", "branch": "mozilla-central", "bench_index": i},
		"sourcestamp": map[string]any{
			"branch":   "https://hg.mozilla.org/mozilla-central",
			"revision": fmt.Sprintf("%040x", uint64(i)*2654435761),
		},
	})
	now := time.Now()
	def := tcqueue.TaskDefinitionRequest{
		ProvisionerID: provisionerID,
		WorkerType:    workerType,
		SchedulerID:   schedulerID,
		TaskGroupID:   taskID,
		Created:       tcclient.Time(now),
		Deadline:      tcclient.Time(now.Add(deadline)),
		Expires:       tcclient.Time(now.Add(max(24*time.Hour, deadline+time.Hour))),
		Payload:       p,
		Retries:       5,
		Metadata: tcqueue.TaskMetadata{
			Name: prefix + " task", Description: "bbb-bench task",
			Owner: "releng@example.com", Source: "https://example.com/bbb-bench",
		},
	}
	if _, err := q.CreateTask(taskID, &def); err != nil {
		return fmt.Errorf("bench: createTask: %w", err)
	}
	return nil
}
