package tcfake_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
)

// TestManyTasksConcurrently runs a few hundred tasks through claim and
// completion from several goroutines at once, as the bridge's activities do.
func TestManyTasksConcurrently(t *testing.T) {
	e := newEnv(t, envOptions{})
	const tasks, workers = 200, 8
	ids := make(chan string, tasks)
	for i := 0; i < tasks; i++ {
		ids <- newTaskID(t)
	}
	close(ids)
	var wg sync.WaitGroup
	errs := make(chan error, tasks)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := e.client(nil)
			for id := range ids {
				if _, err := c.CreateTask(id, taskDefinition(e.clock.Now(), 0)); err != nil {
					errs <- fmt.Errorf("create %s: %w", id, err)
					continue
				}
				if _, err := c.ClaimTask(id, "0", &tcqueue.TaskClaimRequest{WorkerGroup: workerGroup, WorkerID: fmt.Sprintf("w%d", w)}); err != nil {
					errs <- fmt.Errorf("claim %s: %w", id, err)
					continue
				}
				if _, err := c.ReportCompleted(id, "0"); err != nil {
					errs <- fmt.Errorf("complete %s: %w", id, err)
				}
			}
		}(w)
	}
	// Resolver passes interleave with the traffic and must not disturb it.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			e.q.RunResolvers()
		}
	}()
	wg.Wait()
	<-done
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	completed := 0
	for _, c := range e.q.Calls() {
		if c.Method == "reportCompleted" && c.Status == 200 {
			completed++
			if s, ok := e.q.Status(c.TaskID); !ok || s.State != "completed" {
				t.Errorf("%s: %+v", c.TaskID, s)
			}
		}
	}
	if completed != tasks {
		t.Errorf("%d tasks completed, want %d", completed, tasks)
	}
}
