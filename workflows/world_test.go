package workflows

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// The tests drive TaskWorkflow against a "world": a Taskcluster task with
// the queue's real run state machine (REFERENCE §A) and a Buildbot
// BuildRequest row, which the mocked activities read and change. Every
// activity call is recorded with its argument and the workflow time.

const (
	taskID  = "fQ3r0Xy2T8a0mTq9X9lq8A"
	builder = "mozilla-central_ubuntu64_vm_test-mochitest-1"
	master  = "buildbot-master104.bb.releng.scl3.mozilla.com"
)

var (
	// t0 is the workflow start. It is near the wall clock because the test
	// environment checks a local activity retry's deadline against real
	// time: a start in the past would make every retry time out.
	t0       = time.Now().UTC().Truncate(time.Second)
	deadline = t0.Add(24 * time.Hour)
	expires  = t0.Add(365 * 24 * time.Hour)
)

// testTiming is DESIGN §5's defaults, set explicitly as a starter would.
var testTiming = signals.Timing{ReclaimLead: 300 * time.Second, FinishedGrace: 600 * time.Second, CheckInterval: 60 * time.Second}

type callRecord struct {
	Name string
	Arg  any
	At   time.Duration // workflow time since t0
}

func (c callRecord) String() string { return fmt.Sprintf("%s@%s", c.Name, c.At) }

type world struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	mu          sync.Mutex
	status      activities.TaskStatus
	claimPeriod time.Duration
	// tcAhead is how far the queue's clock runs ahead of the workflow's:
	// its takenUntil and deadline checks follow its own clock, and every
	// reply says so, as the Date header does.
	tcAhead     time.Duration
	quarantined bool
	prepared    activities.Prepared
	nextBRID    int64
	row         activities.BuildRequestState
	calls       []callRecord
	attrs       map[string]any
	memo        map[string]any
	// override replaces an activity's answer, by activity name.
	override map[string]func(arg any) (any, error)
	// hungReclaims is how many reclaim attempts hang until their timeout,
	// as a call to TC that never answers; reclaimBudgets is what each
	// hung attempt was given.
	hungReclaims   int
	reclaimBudgets []time.Duration
	// logger, when set before newEnv, receives the workflow's and the
	// SDK's logs instead of quietLogger.
	logger log.Logger
}

// newWorld makes a task with one pending run, scheduled 5 s before t0, and
// a valid payload for builder.
func newWorld(t *testing.T) *world {
	w := &world{
		t:           t,
		claimPeriod: 1200 * time.Second,
		nextBRID:    4711,
		status: activities.TaskStatus{
			TaskID: taskID, State: runPending, Deadline: deadline, Expires: expires,
			Runs: []activities.Run{pendingRun(0, "scheduled", t0.Add(-5*time.Second))},
		},
		prepared: activities.Prepared{
			Decision:    activities.DecisionInject,
			BuilderName: builder,
			Branch:      "mozilla-central",
			Revision:    "4e3a9c2f1d7b",
			Expires:     expires,
			Deadline:    deadline,
			Injection: &activities.InjectInput{
				TaskID:      taskID,
				BuilderName: builder,
				Sourcestamp: activities.Sourcestamp{Branch: "mozilla-central", Revision: "4e3a9c2f1d7b",
					Repository: "https://hg.mozilla.org/mozilla-central"},
				Properties: []activities.Property{{Name: "product", Value: []byte(`"firefox"`)}},
			},
		},
		attrs:    map[string]any{},
		memo:     map[string]any{},
		override: map[string]func(any) (any, error){},
	}
	w.newEnv(t0)
	return w
}

func pendingRun(id int, reason string, scheduled time.Time) activities.Run {
	return activities.Run{RunID: id, State: runPending, ReasonCreated: reason, Scheduled: scheduled}
}

var quietLogger = log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// newEnv makes a test environment starting at start, with the world's
// activities mocked; ContinueAsNew tests make a second one.
func (w *world) newEnv(start time.Time) *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(quietLogger)
	if w.logger != nil {
		suite.SetLogger(w.logger)
	}
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	env.RegisterWorkflowWithOptions(TaskWorkflow, workflow.RegisterOptions{Name: signals.TaskWorkflowType})
	env.OnActivity(a.TaskStatus, mock.Anything, mock.Anything).Return(w.TaskStatus)
	env.OnActivity(a.PrepareTask, mock.Anything, mock.Anything).Return(w.PrepareTask)
	env.OnActivity(a.InjectBuildRequest, mock.Anything, mock.Anything).Return(w.InjectBuildRequest)
	env.OnActivity(a.ClaimRun, mock.Anything, mock.Anything).Return(w.ClaimRun)
	env.OnActivity(a.ReclaimRun, mock.Anything, mock.Anything).Return(w.ReclaimRun)
	env.OnActivity(a.CreateArtifacts, mock.Anything, mock.Anything).Return(w.CreateArtifacts)
	env.OnActivity(a.ReportCompleted, mock.Anything, mock.Anything).Return(w.ReportCompleted)
	env.OnActivity(a.ReportFailed, mock.Anything, mock.Anything).Return(w.ReportFailed)
	env.OnActivity(a.ReportException, mock.Anything, mock.Anything).Return(w.ReportException)
	env.OnActivity(a.RerunTask, mock.Anything, mock.Anything).Return(w.RerunTask)
	env.OnActivity(a.CancelTask, mock.Anything, mock.Anything).Return(w.CancelTask)
	env.OnActivity(a.ReadBuildRequest, mock.Anything, mock.Anything).Return(w.ReadBuildRequest)
	env.OnActivity(a.CancelBuildRequest, mock.Anything, mock.Anything).Return(w.CancelBuildRequest)
	env.OnActivity(a.CancelBuilds, mock.Anything, mock.Anything).Return(w.CancelBuilds)
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, k := range []temporal.SearchAttributeKeyKeyword{signals.AttrTaskID, signals.AttrBuilderName, signals.AttrTaskState} {
			if v, ok := sa.GetKeyword(k); ok {
				w.attrs[k.GetName()] = v
			}
		}
		if v, ok := sa.GetInt64(signals.AttrBuildRequestID); ok {
			w.attrs[signals.AttrBuildRequestID.GetName()] = v
		}
	})
	env.OnUpsertMemo(mock.Anything).Run(func(args mock.Arguments) {
		w.mu.Lock()
		defer w.mu.Unlock()
		for k, v := range args.Get(0).(map[string]any) {
			w.memo[k] = v
		}
	})
	w.env = env
	return env
}

// start runs the task workflow as the starter does: SignalWithStart with
// task-pending for runID, then the scripted signals.
func (w *world) start(runID int) {
	w.env.RegisterDelayedCallback(func() {
		w.env.SignalWorkflow(signals.TaskPendingName, signals.TaskPending{
			EventID: signals.PendingEventID(runID), TaskID: taskID, RunID: runID})
	}, 0)
	w.env.ExecuteWorkflow(signals.TaskWorkflowType, signals.TaskStart{TaskID: taskID, Timing: testTiming}, (*ResumeState)(nil))
}

// at schedules fn at workflow time t0+d.
func (w *world) at(d time.Duration, fn func()) {
	w.env.RegisterDelayedCallback(fn, d-w.env.Now().Sub(t0))
}

func (w *world) signal(d time.Duration, name string, payload any) {
	w.at(d, func() { w.env.SignalWorkflow(name, payload) })
}

// buildRunsFrom starts build number of our BuildRequest at workflow time
// t0+d, as Buildbot does: the row shows it running and its started event
// arrives.
func (w *world) buildRunsFrom(d time.Duration, number int) {
	w.at(d, w.buildStarts)
	w.signal(d, signals.BuildStartedName, started(brid, number))
}

// buildFinishesAt ends build number at t0+d with results: the row is
// complete and the finished event arrives.
func (w *world) buildFinishesAt(d time.Duration, number, results int) {
	w.at(d, func() { w.buildEnds(results) })
	w.signal(d, signals.BuildFinishedName, finished(brid, number, results))
}

func started(brid int64, number int) signals.BuildStarted {
	return signals.BuildStarted{EventID: signals.StartedEventID(brid, master, number), TaskID: taskID,
		BuildRequestID: brid, BuilderName: builder, Master: master, BuildNumber: number}
}

func finished(brid int64, number, results int) signals.BuildFinished {
	return signals.BuildFinished{EventID: signals.FinishedEventID(brid, master, number), TaskID: taskID,
		BuildRequestID: brid, BuilderName: builder, Master: master, BuildNumber: number, Results: results,
		Properties: map[string][2]any{
			"buildername": {builder, "Builder"},
			"buildnumber": {float64(number), "Build"},
			"log_url":     {logURL(number), "Build"},
		},
		LogURL: logURL(number)}
}

func logURL(number int) string {
	return fmt.Sprintf("http://ftp.mozilla.org/pub/firefox/tinderbox-builds/mozilla-central-linux64/1714557600/%s-bm104-build1-build%d.txt.gz", builder, number)
}

func exception(runID int, reason string) signals.TaskException {
	return signals.TaskException{EventID: signals.ExceptionEventID(runID, reason), TaskID: taskID, RunID: runID, Reason: reason}
}

func pending(runID int) signals.TaskPending {
	return signals.TaskPending{EventID: signals.PendingEventID(runID), TaskID: taskID, RunID: runID}
}

// --- what the tests read back ---

func (w *world) callNames(skip ...string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var names []string
next:
	for _, c := range w.calls {
		for _, s := range skip {
			if c.Name == s {
				continue next
			}
		}
		names = append(names, c.Name)
	}
	return names
}

func (w *world) callsOf(name string) []callRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []callRecord
	for _, c := range w.calls {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

func (w *world) run(id int) activities.Run {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.status.Runs {
		if r.RunID == id {
			return r
		}
	}
	w.t.Fatalf("no run %d in %+v", id, w.status.Runs)
	return activities.Run{}
}

func (w *world) runCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.status.Runs)
}

func (w *world) query() signals.TaskState {
	w.t.Helper()
	v, err := w.env.QueryWorkflow(signals.QueryState)
	if err != nil {
		w.t.Fatalf("query %s: %v", signals.QueryState, err)
	}
	var st signals.TaskState
	if err := v.Get(&st); err != nil {
		w.t.Fatalf("decode state: %v", err)
	}
	return st
}

// queryAt records the state query's answer at workflow time t0+d.
func (w *world) queryAt(d time.Duration) *signals.TaskState {
	st := &signals.TaskState{}
	w.at(d, func() { *st = w.query() })
	return st
}

// requireDone asserts the workflow completed without error.
func (w *world) requireDone() {
	w.t.Helper()
	if !w.env.IsWorkflowCompleted() {
		w.t.Fatalf("workflow did not complete; calls: %v", w.callNames())
	}
	if err := w.env.GetWorkflowError(); err != nil {
		w.t.Fatalf("workflow failed: %v; calls: %v", err, w.callNames())
	}
}

func (w *world) setTC(fn func(st *activities.TaskStatus)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fn(&w.status)
	w.status.State = w.status.Runs[len(w.status.Runs)-1].State
}

func (w *world) setRow(fn func(row *activities.BuildRequestState)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fn(&w.row)
}

// buildStarts and buildEnds change the BuildRequest row as a Buildbot master
// does when it claims the request and when the build finishes.
func (w *world) buildStarts() {
	w.setRow(func(r *activities.BuildRequestState) {
		r.ClaimedAt = w.now().Unix()
		r.Builds++
		r.RunningBuilds = 1
	})
}

func (w *world) buildEnds(results int) {
	w.setRow(func(r *activities.BuildRequestState) {
		r.RunningBuilds = 0
		if results == signals.ResultRetry {
			r.ClaimedAt = 0 // Buildbot puts the request back in the queue
			return
		}
		r.Complete, r.Results, r.CompleteAt = true, &results, w.now().Unix()
	})
}

// --- the fake activities ---

func (w *world) now() time.Time { return w.env.Now().UTC() }

func (w *world) tcNow() time.Time { return w.now().Add(w.tcAhead) }

func (w *world) queueClock() activities.QueueClock {
	return activities.QueueClock{Ahead: w.tcAhead, Read: true}
}

func (w *world) record(name string, arg any) (func(any) (any, error), bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, callRecord{Name: name, Arg: arg, At: w.now().Sub(t0)})
	fn, ok := w.override[name]
	return fn, ok
}

func conflict(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, activities.ErrTCConflict, nil)
}

func tcError(kind, msg string) error { return temporal.NewNonRetryableApplicationError(msg, kind, nil) }

// latestLocked is the last run; the caller holds w.mu.
func (w *world) latestLocked() *activities.Run { return &w.status.Runs[len(w.status.Runs)-1] }

func (w *world) resolveLocked(r *activities.Run, state, reason string) {
	r.State, r.ReasonResolved, r.TakenUntil = state, reason, time.Time{}
	w.status.State = w.latestLocked().State
}

func (w *world) TaskStatus(_ context.Context, id string) (activities.TaskStatus, error) {
	if fn, ok := w.record("TaskStatus", id); ok {
		v, err := fn(id)
		return v.(activities.TaskStatus), err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.statusCopyLocked(), nil
}

func (w *world) statusCopyLocked() activities.TaskStatus {
	st := w.status
	st.Runs = append([]activities.Run(nil), w.status.Runs...)
	st.QueueClock = w.queueClock()
	return st
}

func (w *world) PrepareTask(_ context.Context, in activities.PrepareInput) (activities.Prepared, error) {
	if fn, ok := w.record("PrepareTask", in); ok {
		v, err := fn(in)
		return v.(activities.Prepared), err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.prepared
	if p.Injection != nil {
		inj := *p.Injection
		p.Injection = &inj
	}
	return p, nil
}

func (w *world) InjectBuildRequest(_ context.Context, in activities.InjectInput) (activities.InjectResult, error) {
	if fn, ok := w.record("InjectBuildRequest", in); ok {
		v, err := fn(in)
		return v.(activities.InjectResult), err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	brid := w.nextBRID
	w.nextBRID++
	w.row = activities.BuildRequestState{BuildRequestID: brid}
	return activities.InjectResult{BuildRequestID: brid, Created: true}, nil
}

func (w *world) ClaimRun(_ context.Context, in activities.RunRef) (activities.ClaimResult, error) {
	if fn, ok := w.record("ClaimRun", in); ok {
		v, err := fn(in)
		return v.(activities.ClaimResult), err
	}
	return w.claim(in)
}

// claim is claimTask's state machine: 409 unless the run is the latest and
// pending (or already ours), before the deadline.
func (w *world) claim(in activities.RunRef) (activities.ClaimResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now, tcNow := w.now(), w.tcNow()
	if w.quarantined {
		return activities.ClaimResult{RepliedAt: now, QueueClock: w.queueClock()}, nil // the queue's {} to a quarantined worker
	}
	r := w.latestLocked()
	if !tcNow.Before(w.status.Deadline) || r.RunID != in.RunID {
		return activities.ClaimResult{}, conflict("run is not the latest or the task is past its deadline")
	}
	switch r.State {
	case runPending:
		r.State, r.TakenUntil, r.WorkerGroup, r.WorkerID = runRunning, tcNow.Add(w.claimPeriod), "buildbot-bridge", "buildbot-bridge"
		w.status.State = runRunning
	case runRunning: // the same worker claiming again: idempotent
	default:
		return activities.ClaimResult{}, conflict("run is " + r.State)
	}
	return activities.ClaimResult{TakenUntil: r.TakenUntil, RepliedAt: now, QueueClock: w.queueClock()}, nil
}

func (w *world) ReclaimRun(ctx context.Context, in activities.RunRef) (activities.ClaimResult, error) {
	if w.hangReclaim(ctx, in) {
		return activities.ClaimResult{}, ctx.Err()
	}
	if fn, ok := w.record("ReclaimRun", in); ok {
		v, err := fn(in)
		return v.(activities.ClaimResult), err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now, tcNow := w.now(), w.tcNow()
	r := w.latestLocked()
	if !tcNow.Before(w.status.Deadline) || r.RunID != in.RunID || r.State != runRunning {
		return activities.ClaimResult{}, conflict("run is not running")
	}
	if !tcNow.Before(r.TakenUntil) {
		return activities.ClaimResult{}, conflict("the claim expired")
	}
	r.TakenUntil = tcNow.Add(w.claimPeriod)
	return activities.ClaimResult{TakenUntil: r.TakenUntil, RepliedAt: now, QueueClock: w.queueClock()}, nil
}

// hangReclaim holds a reclaim attempt until its context ends, while
// hungReclaims lasts. An attempt given more than 5 s is not held (the test
// would wait for it in real time): its budget is recorded and it fails.
func (w *world) hangReclaim(ctx context.Context, in activities.RunRef) bool {
	w.mu.Lock()
	if w.hungReclaims == 0 {
		w.mu.Unlock()
		return false
	}
	w.hungReclaims--
	deadline, _ := ctx.Deadline()
	budget := time.Until(deadline)
	w.reclaimBudgets = append(w.reclaimBudgets, budget)
	w.calls = append(w.calls, callRecord{Name: "ReclaimRun", Arg: in, At: w.now().Sub(t0)})
	w.mu.Unlock()
	if budget <= 5*time.Second {
		<-ctx.Done()
	}
	return true
}

func (w *world) CreateArtifacts(_ context.Context, in activities.ArtifactsInput) error {
	if fn, ok := w.record("CreateArtifacts", in); ok {
		_, err := fn(in)
		return err
	}
	return nil
}

func (w *world) report(in activities.RunRef, state string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.latestLocked()
	switch {
	case r.RunID != in.RunID:
		return conflict("run is not the latest")
	case r.State == state:
		return nil // idempotent
	case r.State != runRunning:
		return conflict("run is " + r.State)
	}
	w.resolveLocked(r, state, state)
	return nil
}

func (w *world) ReportCompleted(_ context.Context, in activities.RunRef) error {
	if fn, ok := w.record("ReportCompleted", in); ok {
		_, err := fn(in)
		return err
	}
	return w.report(in, runCompleted)
}

func (w *world) ReportFailed(_ context.Context, in activities.RunRef) error {
	if fn, ok := w.record("ReportFailed", in); ok {
		_, err := fn(in)
		return err
	}
	return w.report(in, runFailed)
}

func (w *world) ReportException(_ context.Context, in activities.ExceptionInput) error {
	if fn, ok := w.record("ReportException", in); ok {
		_, err := fn(in)
		return err
	}
	return w.reportException(in)
}

// reportException is reportException's state machine: worker-shutdown and
// intermittent-task make the next run.
func (w *world) reportException(in activities.ExceptionInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.latestLocked()
	if r.RunID != in.RunID || r.State != runRunning {
		return conflict("run is not running")
	}
	w.resolveLocked(r, runException, in.Reason)
	if in.Reason == "worker-shutdown" || in.Reason == "intermittent-task" {
		w.status.Runs = append(w.status.Runs, pendingRun(in.RunID+1, "retry", w.now()))
		w.status.State = runPending
	}
	return nil
}

func (w *world) RerunTask(_ context.Context, id string) (activities.TaskStatus, error) {
	if fn, ok := w.record("RerunTask", id); ok {
		v, err := fn(id)
		return v.(activities.TaskStatus), err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.latestLocked(); r.State != runPending && r.State != runRunning {
		w.status.Runs = append(w.status.Runs, pendingRun(r.RunID+1, "rerun", w.now()))
		w.status.State = runPending
	}
	return w.statusCopyLocked(), nil
}

func (w *world) CancelTask(_ context.Context, id string) (activities.TaskStatus, error) {
	if fn, ok := w.record("CancelTask", id); ok {
		v, err := fn(id)
		return v.(activities.TaskStatus), err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.latestLocked(); r.State == runPending || r.State == runRunning {
		w.resolveLocked(r, runException, reasonCanceled)
	}
	return w.statusCopyLocked(), nil
}

func (w *world) ReadBuildRequest(_ context.Context, brid int64) (activities.BuildRequestState, error) {
	if fn, ok := w.record("ReadBuildRequest", brid); ok {
		v, err := fn(brid)
		return v.(activities.BuildRequestState), err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.row, nil
}

func (w *world) CancelBuildRequest(_ context.Context, brid int64) (activities.CancelResult, error) {
	if fn, ok := w.record("CancelBuildRequest", brid); ok {
		v, err := fn(brid)
		return v.(activities.CancelResult), err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	cancelled := signals.ResultCancelled
	w.row.Complete, w.row.Results, w.row.ClaimedAt, w.row.CompleteAt = true, &cancelled, 0, w.now().Unix()
	return activities.CancelResult{Requested: 1}, nil
}

func (w *world) CancelBuilds(_ context.Context, brid int64) (activities.CancelResult, error) {
	if fn, ok := w.record("CancelBuilds", brid); ok {
		v, err := fn(brid)
		return v.(activities.CancelResult), err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return activities.CancelResult{Requested: w.row.RunningBuilds}, nil
}

// --- assertions ---

func equalStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func (w *world) requireCallAt(name string, i int, at time.Duration) callRecord {
	w.t.Helper()
	calls := w.callsOf(name)
	if len(calls) <= i {
		w.t.Fatalf("%s call #%d missing; calls %v", name, i, w.callNames())
	}
	if calls[i].At != at {
		w.t.Fatalf("%s call #%d at %s, want %s", name, i, calls[i].At, at)
	}
	return calls[i]
}

var errTransient = fmt.Errorf("POST /task/%s/runs/0/claim: 502 Bad Gateway", taskID)
