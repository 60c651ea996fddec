package faults

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sync"
	"time"
)

// tcProxy stands between the bridge and the stand-in queue. It passes
// everything through, except that the first claim of a task chosen to race
// is held until the task has been cancelled in the queue: the claim then
// meets a cancelled run and is answered 409, as when a user cancels a task
// at the moment the bridge claims it.
type tcProxy struct {
	srv    *http.Server
	ln     net.Listener
	cancel func(ctx context.Context, taskID string) error

	mu    sync.Mutex
	race  map[string]bool // tasks whose first claim races with a cancel
	raced map[string]bool
	errs  []error

	// hang, while set, decides per call whether it is held past the
	// bridge's call timeout, and whether the queue applies it first.
	hang              func() (held, applied bool)
	holdFor           time.Duration
	heldN, heldAfterN int
}

var claimPath = regexp.MustCompile(`/api/queue/v1/task/([^/]+)/runs/\d+/claim$`)

// newTCProxy proxies to rootURL; cancel cancels a task in the queue (as
// its scheduler would).
func newTCProxy(rootURL string, cancel func(ctx context.Context, taskID string) error) (*tcProxy, error) {
	target, err := url.Parse(rootURL)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &tcProxy{ln: ln, cancel: cancel, race: map[string]bool{}, raced: map[string]bool{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// The Host header stays as the bridge sent it: the queue
			// checks Hawk signatures against it.
			pr.Out.Host = pr.In.Host
		},
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p.serveHung(w, r, rp) {
				return
			}
			if m := claimPath.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPost && p.takeRace(m[1]) {
				ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
				if err := p.cancel(ctx, m[1]); err != nil {
					p.mu.Lock()
					p.errs = append(p.errs, err)
					p.mu.Unlock()
				}
				cancel()
			}
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Hang holds calls past the bridge's call timeout as decide says (nil:
// none): held before the queue sees them (lost on the way in), or after the
// queue applied them (the reply lost). A held call is answered 504 once
// holdFor has passed or the bridge gave up, whichever comes first.
func (p *tcProxy) Hang(decide func() (held, applied bool), holdFor time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hang, p.holdFor = decide, holdFor
}

// Held counts the calls held so far, and those of them the queue applied.
func (p *tcProxy) Held() (held, applied int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.heldN, p.heldAfterN
}

func (p *tcProxy) serveHung(w http.ResponseWriter, r *http.Request, rp *httputil.ReverseProxy) bool {
	p.mu.Lock()
	decide, holdFor := p.hang, p.holdFor
	held, applied := false, false
	if decide != nil {
		held, applied = decide()
	}
	if held {
		p.heldN++
		if applied {
			p.heldAfterN++
		}
	}
	p.mu.Unlock()
	if !held {
		return false
	}
	if applied {
		rp.ServeHTTP(httptest.NewRecorder(), r)
	} else {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	select {
	case <-r.Context().Done():
	case <-time.After(holdFor):
	}
	http.Error(w, "tc-hangs: held past the call timeout", http.StatusGatewayTimeout)
	return true
}

// RootURL is what the bridge's config points at.
func (p *tcProxy) RootURL() string { return "http://" + p.ln.Addr().String() }

// Race makes the first claim of each task race with its cancellation.
func (p *tcProxy) Race(taskIDs ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range taskIDs {
		p.race[id] = true
	}
}

func (p *tcProxy) takeRace(taskID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.race[taskID] || p.raced[taskID] {
		return false
	}
	p.raced[taskID] = true
	return true
}

// Raced counts the claims that met a cancel, and the cancels that failed.
func (p *tcProxy) Raced() (int, []error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.raced), append([]error(nil), p.errs...)
}

func (p *tcProxy) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
}
