package tcfake

import (
	"sync"
	"time"
)

// Clock is the queue's notion of "now": claim expiry, deadlines and every
// timestamp it reports come from it. Hawk request timestamps are still checked
// against real time, as clients sign with their real clock.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// SkewedClock is real time off by a fixed offset: a queue whose machine's
// clock disagrees with the bridge's.
type SkewedClock time.Duration

// Now returns real time plus the offset.
func (c SkewedClock) Now() time.Time { return time.Now().Add(time.Duration(c)) }

// ManualClock is a Clock that moves only when told to, so tests can expire
// claims and pass deadlines without waiting.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a ManualClock showing t0.
func NewManualClock(t0 time.Time) *ManualClock {
	return &ManualClock{now: t0}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set puts the clock at t (which may be earlier than now).
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
