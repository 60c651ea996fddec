package tcfake_test

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.createTask(t, 0)

	// One lost claim: the client's own retry gets through.
	var claimFaults atomic.Int32
	e.q.SetFault(func(method string) (int, bool) {
		if method == "claimTask" && claimFaults.Add(1) == 1 {
			return 500, false
		}
		return 0, false
	})
	claim := e.claim(t, id, "0")
	var statuses []int
	for _, c := range e.q.Calls() {
		if c.Method == "claimTask" {
			statuses = append(statuses, c.Status)
		}
	}
	if len(statuses) != 2 || statuses[0] != 500 || statuses[1] != 200 {
		t.Errorf("claimTask statuses = %v, want [500 200]", statuses)
	}

	// A reclaim that never arrives changes nothing.
	e.q.SetFault(func(method string) (int, bool) {
		if method == "reclaimTask" {
			return 503, false
		}
		return 0, false
	})
	e.clock.Advance(time.Minute)
	_, err := e.queue.ReclaimTask(id, "0")
	wantAPIError(t, err, 503, "InternalServerError")
	if s, _ := e.q.Status(id); !time.Time(s.Runs[0].TakenUntil).Equal(time.Time(claim.TakenUntil)) {
		t.Errorf("takenUntil moved by a lost reclaim: %v", time.Time(s.Runs[0].TakenUntil))
	}

	// A completion whose reply is lost is applied all the same.
	e.q.SetFault(func(method string) (int, bool) {
		if method == "reportCompleted" {
			return 500, true
		}
		return 0, false
	})
	_, err = e.queue.ReportCompleted(id, "0")
	wantAPIError(t, err, 500, "InternalServerError")
	if s, _ := e.q.Status(id); s.State != "completed" {
		t.Errorf("state after applied-then-failed completion = %s", s.State)
	}
	e.q.SetFault(nil)
	if _, err := e.queue.ReportCompleted(id, "0"); err != nil {
		t.Errorf("repeat completion: %v", err)
	}
}
