package tcfake

import "time"

func (q *Queue) resolverLoop() {
	tick := time.NewTicker(q.opts.ResolverInterval)
	defer tick.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-tick.C:
			q.RunResolvers()
		}
	}
}

// RunResolvers makes one pass of the claim and deadline resolvers now, and
// returns once their Pulse messages are published. Tests with a ManualClock
// call it after Advance.
//
// As in the real queue: a running run whose takenUntil has passed becomes
// exception/claim-expired (with a retry run when retries are left, announced
// by task-pending alone; otherwise task-exception), unless the deadline has
// passed too; DeadlineDelay after the deadline a pending or running run
// becomes exception/deadline-exceeded, announced by task-exception.
func (q *Queue) RunResolvers() {
	q.resolverMu.Lock()
	defer q.resolverMu.Unlock()

	q.mu.Lock()
	now := q.now()
	candidates := make([]*task, 0, len(q.active))
	for _, t := range q.active {
		candidates = append(candidates, t)
	}
	var msgs []pulseMessage
	for _, t := range candidates {
		last := t.lastRun()
		if last == nil || !last.active() {
			delete(q.active, t.id)
			continue
		}
		switch {
		case !now.Before(t.deadline.Add(q.opts.DeadlineDelay)):
			q.resolveLastRun(t, "deadline-exceeded", now)
			msgs = append(msgs, newMessage("task-exception", t, len(t.runs)-1, "", "", false))
		case last.state == stateRunning && now.After(last.takenUntil) && !t.deadline.Before(now):
			msgs = append(msgs, q.claimExpired(t, now)...)
		}
	}
	q.mu.Unlock()
	q.publishAll(msgs)
}
