package bbsim

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"sync"
	"time"
)

// dbTimeout bounds each scheduler-DB statement or transaction.
const dbTimeout = 30 * time.Second

// build is one run of a builder on a master, serving one or more requests.
type build struct {
	m          *master
	builder    string
	builderDir string // escaped, as in routing keys
	reqs       []BuildRequestInfo
	reqProps   [][]property
	attempt    Attempt
	slave      string
	stop       chan int // a result to finish with at once

	// finishing is set (under m.mu) once the build is ending, so a late
	// stop is refused rather than silently ignored.
	finishing bool

	mu       sync.Mutex
	number   int
	ids      []int64
	started  time.Time
	finished time.Time
	result   int
	logURL   string
}

func (b *build) brids() []int64 {
	out := make([]int64, len(b.reqs))
	for i, r := range b.reqs {
		out[i] = r.ID
	}
	return out
}

func (b *build) buildIDsSnapshot() []int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int64(nil), b.ids...)
}

func (b *build) record() BuildRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := BuildRecord{
		BuildIDs: append([]int64(nil), b.ids...),
		Number:   b.number,
		Master:   b.m.id.name,
		Builder:  b.builder,
		BRIDs:    b.brids(),
		Result:   b.result,
		Started:  b.started,
		Finished: b.finished,
		LogURL:   b.logURL,
	}
	if len(b.ids) > 0 {
		r.ID = b.ids[0]
	}
	if b.finished.IsZero() {
		r.Result = -1
	}
	return r
}

// run is the whole life of the build. If ctx ends (the Sim is closed, like
// a master killed) the build is abandoned where it is: claimed, unfinished.
func (b *build) run(ctx context.Context) {
	defer b.m.buildDone(b)
	s := b.m.sim
	brids := b.brids()
	number, err := b.m.buildNumber(ctx, b.builder)
	var ids []int64
	start := time.Now()
	if err == nil {
		// Until the DB answers: giving the requests back after a try of
		// unknown outcome could leave a builds row that never finishes
		// beside the rebuild. insertBuilds makes the retries safe.
		err = retryDB(ctx, 0, func(c context.Context) error {
			var e error
			ids, e = insertBuilds(c, s.opts.DB, s.opts.Driver, number, brids, start.Unix())
			if e != nil && ctx.Err() == nil {
				s.log.Warn("bbsim: cannot write builds rows; retrying", "master", b.m.id.name, "brids", brids, "err", e)
			}
			return e
		})
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		s.log.Error("bbsim: cannot start build; giving its requests back", "master", b.m.id.name, "brids", brids, "err", err)
		// Until the DB answers again: a request left claimed by a live
		// master that does not build it waits out the claim timeout.
		if uerr := retryDB(ctx, 0, func(c context.Context) error {
			return unclaimRequests(c, s.opts.DB, brids, b.m.id)
		}); uerr != nil {
			s.log.Error("bbsim: unclaim failed", "brids", brids, "err", uerr)
		}
		return
	}
	b.mu.Lock()
	b.number, b.ids, b.started = number, ids, start
	b.mu.Unlock()
	s.addBuild(b)
	s.log.Info("bbsim: build started", "master", b.m.id.name, "builder", b.builder, "number", number, "brids", brids)

	att := b.attempt
	props := b.properties()
	if !att.DropStarted && !att.LogUploadedBeforeStarted {
		b.publish(ctx, "started", b.startedPayload(props))
	}

	result, ok := b.wait(ctx)
	if !ok {
		return
	}
	end := time.Now()
	err = retryDB(ctx, 0, func(c context.Context) error {
		return finishBuildRows(c, s.opts.DB, s.opts.Driver, ids, brids, result, end.Unix())
	})
	if err != nil {
		return // only when ctx ended
	}
	logURL := ""
	if !att.NoLogURL {
		logURL = b.logLocation(number)
		s.storeLog(logURL, b.logText(number, result, start, end))
	}
	b.mu.Lock()
	b.finished, b.result, b.logURL = end, result, logURL
	b.mu.Unlock()
	s.log.Info("bbsim: build finished", "master", b.m.id.name, "builder", b.builder, "number", number,
		"brids", brids, "result", ResultName(result))

	if !att.DropFinished {
		b.publish(ctx, "finished", b.finishedPayload(props, result, start, end))
	}
	if !att.DropLogUploaded {
		b.publish(ctx, "log_uploaded", b.logUploadedPayload(props, result, start, end, logURL))
	}
	if !att.DropStarted && att.LogUploadedBeforeStarted {
		b.publish(ctx, "started", b.startedPayload(props))
	}
}

// wait runs the build: until its scripted duration ends, it is stopped, or
// ctx ends (ok false). Meanwhile it refreshes the claims, as a running
// master does.
func (b *build) wait(ctx context.Context) (result int, ok bool) {
	s := b.m.sim
	var done <-chan time.Time
	if d := b.attempt.Duration; d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		done = t.C
	}
	refresh := time.NewTicker(s.opts.ClaimRefreshInterval)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, false
		case r := <-b.stop:
			b.markFinishing()
			return r, true
		case <-done:
			// A stop that raced the timer wins: its sender was told yes.
			b.m.mu.Lock()
			b.finishing = true
			b.m.mu.Unlock()
			select {
			case r := <-b.stop:
				return r, true
			default:
				return b.attempt.Result, true
			}
		case <-refresh.C:
			rctx, cancel := context.WithTimeout(ctx, dbTimeout)
			err := refreshClaims(rctx, s.opts.DB, b.brids(), time.Now().Unix(), b.m.id)
			cancel()
			if err != nil && ctx.Err() == nil {
				s.log.Warn("bbsim: claim refresh failed", "master", b.m.id.name, "err", err)
			}
		}
	}
}

func (b *build) markFinishing() {
	b.m.mu.Lock()
	b.finishing = true
	b.m.mu.Unlock()
}

// properties are the build's properties as the master sets them up: the
// requests' buildset properties (the lead request's win on a merged build),
// then what the Builder, Build and BuildSlave add.
func (b *build) properties() []property {
	byName := map[string]property{}
	for i := len(b.reqProps) - 1; i >= 0; i-- {
		for _, p := range b.reqProps[i] {
			byName[p.Name] = p
		}
	}
	lead := b.reqs[0]
	b.mu.Lock()
	number := b.number
	b.mu.Unlock()
	for _, p := range []property{
		{"buildername", b.builder, "Builder"},
		{"master", fmt.Sprintf("http://%s:8010/", b.m.id.host), "Builder"},
		{"buildnumber", number, "Build"},
		{"branch", nullable(lead.Branch), "Build"},
		{"revision", nullable(lead.Revision), "Build"},
		{"project", lead.Project, "Build"},
		{"repository", lead.Repository, "Build"},
		{"slavename", b.slave, "BuildSlave"},
	} {
		byName[p.Name] = p
	}
	return sortedProps(byName)
}

// postrunProperties adds what postrun.py adds before log_uploaded.
func (b *build) postrunProperties(props []property, logURL string) []property {
	byName := map[string]property{}
	for _, p := range props {
		byName[p.Name] = p
	}
	brids := b.brids()
	if len(brids) > maxRequestIDs {
		brids = brids[:maxRequestIDs]
	}
	times := map[string]int64{}
	for _, r := range b.reqs[:len(brids)] {
		times[fmt.Sprint(r.ID)] = r.SubmittedAt
	}
	b.mu.Lock()
	statusdbID := b.ids[0]
	b.mu.Unlock()
	if logURL != "" {
		byName["log_url"] = property{"log_url", logURL, "postrun.py"}
	}
	byName["statusdb_id"] = property{"statusdb_id", statusdbID, "postrun.py"}
	byName["request_ids"] = property{"request_ids", brids, "postrun.py"}
	byName["request_times"] = property{"request_times", times, "postrun.py"}
	return sortedProps(byName)
}

// maxRequestIDs is postrun.py's cap on the request_ids it reports.
const maxRequestIDs = 100

func sortedProps(byName map[string]property) []property {
	out := make([]property, 0, len(byName))
	for _, p := range byName {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (b *build) logLocation(number int) string {
	branch := branchTail(b.reqs[0].Branch)
	if branch == "" {
		branch = "default"
	}
	return fmt.Sprintf("%s/%s/%s-%s-build%d.txt.gz", b.m.sim.logURLBase(),
		url.PathEscape(branch), b.builderDir, url.PathEscape(b.m.id.host), number)
}

func (b *build) logText(number, result int, start, end time.Time) string {
	return fmt.Sprintf("builder: %s\nslave: %s\nstarttime: %d\nresults: %s (%d)\nbuildnumber: %d\nmaster: %s\n\n========= Finished (results: %d, elapsed: %s) =========\n",
		b.builder, b.slave, start.Unix(), ResultName(result), result, number, b.m.id.name,
		result, end.Sub(start).Round(time.Millisecond))
}

// retryDB runs f, each try bounded by dbTimeout, until it succeeds, tries
// are used up (tries <= 0: until ctx ends) or ctx ends. Lock conflicts
// between masters (MySQL deadlocks, SQLite's busy database) make retrying
// the normal way to go.
func retryDB(ctx context.Context, tries int, f func(context.Context) error) error {
	wait := 50 * time.Millisecond
	for i := 1; ; i++ {
		c, cancel := context.WithTimeout(ctx, dbTimeout)
		err := f(c)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || (tries > 0 && i >= tries) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(wait*2, 2*time.Second)
	}
}
