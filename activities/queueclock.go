package activities

import (
	"net/http"
	"sync"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
)

// QueueClock is how far the queue's clock was ahead of the bridge's when it
// answered (negative: behind). takenUntil and deadlines are times of the
// queue's clock; the workflow must not compare them with its own without
// it, or a queue 3 minutes ahead lets every claim expire before its
// reclaim, and one 3 minutes behind turns reclaims into a loop.
type QueueClock struct {
	Ahead time.Duration `json:"tcClockAhead,omitempty"`
	// Read is false when the reply had no usable Date header: Ahead is
	// then unknown, not zero.
	Read bool `json:"tcClockRead,omitempty"`
}

// queueClockReader is a per-call HTTP client that reads the queue's clock
// off each reply's Date header. The header has a resolution of one second
// and is written somewhere between the request's sending and the reply's
// arrival, so Date + 1 s - sent is the largest the offset can be: a claim
// measured with it never seems to last longer than it does.
type queueClockReader struct {
	next tcclient.ReducedHTTPClient

	mu    sync.Mutex
	clock QueueClock
}

func (r *queueClockReader) Do(req *http.Request) (*http.Response, error) {
	sent := time.Now()
	resp, err := r.next.Do(req)
	if err != nil {
		return resp, err
	}
	if date, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
		r.mu.Lock()
		// The client retries 5xx itself: the last answer is the one
		// whose takenUntil the caller sees.
		r.clock = QueueClock{Ahead: date.Add(time.Second).Sub(sent).Round(time.Millisecond), Read: true}
		r.mu.Unlock()
	}
	return resp, nil
}

func (r *queueClockReader) read() QueueClock {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clock
}
