package bbsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Sim is a set of simulated Buildbot 0.8 masters sharing one scheduler DB,
// plus a BuildAPI self-serve service. Create it with New, run it with Start,
// stop it with Close.
type Sim struct {
	opts    Options
	log     *slog.Logger
	masters []*master
	builder map[string]bool // Options.Builders as a set; nil: all

	scriptMu sync.RWMutex
	scr      Script

	down atomic.Bool

	mu       sync.Mutex
	builds   []*build
	calls    []SelfServeCall
	jobs     map[int64]*job
	jobSeq   int64
	logs     map[string][]byte // log path → gzipped log
	errs     []error
	errSeen  map[string]bool
	started  bool
	closed   bool
	httpBase string // http://host:port of the HTTP server

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	srv    *http.Server
}

// BuildRecord describes one build a Sim ran or is running.
type BuildRecord struct {
	// ID is the builds.id of the build's first request; BuildIDs has one
	// builds.id per request, in BRIDs' order (merged builds have several).
	ID       int64
	BuildIDs []int64
	// Number is the build number (per master and builder).
	Number  int
	Master  string // master name, host:/basedir
	Builder string
	BRIDs   []int64
	// Result is the build's result, or -1 while it runs.
	Result   int
	Started  time.Time
	Finished time.Time // zero while running
	LogURL   string    // "" while running or when NoLogURL
}

// SelfServeCall is one request the self-serve service answered.
type SelfServeCall struct {
	Method     string
	Path       string
	RemoteUser string
	Status     int
	Time       time.Time
}

// New checks opts and returns a Sim that is not running yet.
func New(opts Options) (*Sim, error) {
	if err := opts.applyDefaults(); err != nil {
		return nil, err
	}
	s := &Sim{
		opts:    opts,
		log:     opts.Logger,
		scr:     opts.Script,
		jobs:    map[int64]*job{},
		logs:    map[string][]byte{},
		errSeen: map[string]bool{},
	}
	if len(opts.Builders) > 0 {
		s.builder = map[string]bool{}
		for _, b := range opts.Builders {
			s.builder[b] = true
		}
	}
	names := opts.Masters
	if len(names) == 0 {
		names = []string{defaultMasterName()}
	}
	seen := map[string]bool{}
	for _, entry := range names {
		if entry == "" {
			return nil, errors.New("bbsim: empty master name")
		}
		name, host := parseMasterName(entry)
		if seen[name] {
			return nil, fmt.Errorf("bbsim: master %q listed twice", name)
		}
		seen[name] = true
		s.masters = append(s.masters, newMaster(s, name, host))
	}
	return s, nil
}

// Start declares the build exchange, starts the self-serve server and the
// masters' pollers. ctx bounds the start-up only; the Sim runs until Close.
func (s *Sim) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("bbsim: already started")
	}
	s.started = true
	s.mu.Unlock()

	if err := s.opts.Publisher.DeclareTopicExchange(ctx, s.opts.Exchange); err != nil {
		return fmt.Errorf("bbsim: declare %s: %w", s.opts.Exchange, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.SelfServeAddr)
	if err != nil {
		return fmt.Errorf("bbsim: self-serve listen: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	s.mu.Lock()
	s.httpBase = "http://" + ln.Addr().String()
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("bbsim: self-serve server stopped", "err", err)
		}
	}()
	for _, m := range s.masters {
		m.id.incarnation = newIncarnation()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			m.run(s.ctx)
		}()
	}
	s.log.Info("bbsim: started", "masters", s.MasterNames(), "selfserve", s.SelfServeURL())
	return nil
}

// Close stops the masters and the self-serve server and waits for them.
// Running builds are abandoned as if the masters were killed: their
// requests stay claimed and their builds rows unfinished. Close does not
// close the Publisher.
func (s *Sim) Close() {
	s.mu.Lock()
	if s.closed || !s.started || s.cancel == nil {
		s.closed = true
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	s.wg.Wait()
}

// MasterNames returns the masters' names (claimed_by_name, _meta.master_name).
func (s *Sim) MasterNames() []string {
	out := make([]string, len(s.masters))
	for i, m := range s.masters {
		out[i] = m.id.name
	}
	return out
}

// SelfServeURL is the self-serve base URL, without trailing slash, as the
// bridge's selfserve_url takes it. Empty before Start.
func (s *Sim) SelfServeURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpBase == "" {
		return ""
	}
	return s.httpBase + selfServePrefix
}

// SetSelfServeDown makes self-serve answer 503 to everything (down=true)
// or work again.
func (s *Sim) SetSelfServeDown(down bool) { s.down.Store(down) }

// SetScript replaces the Script for builds started from now on.
func (s *Sim) SetScript(sc Script) {
	if sc == nil {
		sc = Fixed(Attempt{Result: SUCCESS, Duration: DefaultBuildDuration})
	}
	s.scriptMu.Lock()
	s.scr = sc
	s.scriptMu.Unlock()
}

func (s *Sim) script() Script {
	s.scriptMu.RLock()
	defer s.scriptMu.RUnlock()
	return s.scr
}

// FinishBuild ends the running build that has buildID (a builds.id) among
// its rows, with result, through the normal finish path. It fails if no
// master of this Sim is running that build.
func (s *Sim) FinishBuild(buildID int64, result int) error {
	for _, m := range s.masters {
		if m.stopBuild(buildID, result) {
			return nil
		}
	}
	return fmt.Errorf("bbsim: build %d is not running here", buildID)
}

// Builds returns the builds this Sim started, oldest first.
func (s *Sim) Builds() []BuildRecord {
	s.mu.Lock()
	bs := slices.Clone(s.builds)
	s.mu.Unlock()
	out := make([]BuildRecord, len(bs))
	for i, b := range bs {
		out[i] = b.record()
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// SelfServeCalls returns the self-serve requests answered so far, in order.
func (s *Sim) SelfServeCalls() []SelfServeCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Errors returns what a real master would have choked on, e.g. a buildset
// property that is not a JSON [value, source] pair (each reported once).
func (s *Sim) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

func (s *Sim) recordError(key string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errSeen[key] {
		return
	}
	s.errSeen[key] = true
	s.errs = append(s.errs, err)
	s.log.Error(err.Error())
}

func (s *Sim) addBuild(b *build) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.builds = append(s.builds, b)
}

// claimTimeout is Options.ClaimTimeout in claimed_at's unit, seconds.
func (s *Sim) claimTimeout() int64 {
	return int64(s.opts.ClaimTimeout / time.Second)
}

func (s *Sim) serves(builder string) bool {
	return s.builder == nil || s.builder[builder]
}

func (s *Sim) builderDir(builder string) string {
	if d, ok := s.opts.BuilderDirs[builder]; ok && d != "" {
		return d
	}
	return builder
}

func (s *Sim) logURLBase() string {
	if s.opts.LogURLBase != "" {
		return s.opts.LogURLBase
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.httpBase + logsPrefix
}
