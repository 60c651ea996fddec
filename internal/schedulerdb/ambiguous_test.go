package schedulerdb_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// The bridge's writes whose reply is lost after they landed (the COMMIT of
// an injection, the INSERT of an adoption): the activity's retry must find
// what landed, not write it a second time.

// viaProxy returns the scheduler DB opened directly and through a
// DropReplyProxy.
func viaProxy(t *testing.T) (direct, proxied *schedulerdb.DB, p *testenv.DropReplyProxy) {
	t.Helper()
	t.Parallel()
	url := testenv.MariaDBURL(t)
	direct = openDB(t, url)
	ctx := testCtx(t)
	if err := direct.CreateBuildbotSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if err := direct.EnsureBridgeTable(ctx); err != nil {
		t.Fatal(err)
	}
	p = testenv.NewDropReplyProxy(t, testenv.MariaDBAddr())
	name := url[strings.LastIndex(url, "/")+1:]
	return direct, openDB(t, "mysql://root@"+p.Addr()+"/"+name), p
}

func wantLost(t *testing.T, lost <-chan struct{}, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("the write whose reply was lost succeeded")
	}
	select {
	case <-lost:
	default:
		t.Fatalf("the write failed before its reply was lost: %v", err)
	}
}

func TestInjectionWhoseCommitReplyIsLostIsNotRepeated(t *testing.T) {
	direct, proxied, p := viaProxy(t)
	in := task("LostCommit1mRbG7pQ0cXf")
	lost := p.Arm("COMMIT")
	_, err := proxied.InjectBuildRequest(testCtx(t), in)
	wantLost(t, lost, err)
	var landed int64
	if err := direct.SQL().QueryRowContext(testCtx(t), "SELECT id FROM buildrequests").Scan(&landed); err != nil {
		t.Fatalf("the lost commit did not land: %v", err)
	}

	// The activity's retry.
	res := inject(t, proxied, in)
	if res.BuildRequestID != landed || res.Created {
		t.Errorf("retry = %+v, want BuildRequest %d, not created", res, landed)
	}
	for _, table := range []string{"sourcestamps", "buildsets", "buildrequests", "bbb_tasks"} {
		if n := count(t, direct, table); n != 1 {
			t.Errorf("%s: %d rows, want 1", table, n)
		}
	}
}

// A TC rerun's injection (a new BuildRequest beside the task's complete
// one, and bbb_tasks moved to the new run) whose commit reply is lost.
func TestRerunInjectionWhoseCommitReplyIsLostIsNotRepeated(t *testing.T) {
	direct, proxied, p := viaProxy(t)
	in := task("LostCommit2mRbG7pQ0cXf")
	first := inject(t, proxied, in)
	finish(t, direct, first.BuildRequestID, 2, time.Now().Unix())

	in.RunID = 1
	lost := p.Arm("COMMIT")
	_, err := proxied.InjectBuildRequest(testCtx(t), in)
	wantLost(t, lost, err)
	res := inject(t, proxied, in)
	if res.BuildRequestID == first.BuildRequestID || res.Created {
		t.Errorf("retry = %+v, want the rerun's BuildRequest (not %d), not created", res, first.BuildRequestID)
	}
	if n := count(t, direct, "buildrequests"); n != 2 {
		t.Errorf("%d buildrequests, want 2 (run 0's and run 1's)", n)
	}
	brid, runID, _, err := direct.TaskRow(testCtx(t), in.TaskID)
	if err != nil || brid != res.BuildRequestID || runID != 1 {
		t.Errorf("bbb_tasks row: brid %d run %d (%v), want %d run 1", brid, runID, err, res.BuildRequestID)
	}
}

// AdoptRequest is an autocommit INSERT, sent as a prepared statement: its
// lost reply must not make the retry fail.
func TestAdoptionWhoseReplyIsLostSucceedsOnRetry(t *testing.T) {
	direct, proxied, p := viaProxy(t)
	const taskID = "LostAdopt1mRbG7pQ0cXfY"
	brid := previousBridgeRequest(t, direct, taskID)
	lost := p.Arm("INSERT INTO bbb_tasks")
	wantLost(t, lost, proxied.AdoptRequest(testCtx(t), taskID, brid, 0))
	if err := proxied.AdoptRequest(testCtx(t), taskID, brid, 0); err != nil {
		t.Fatalf("retried adoption: %v", err)
	}
	if got, _, found, err := direct.TaskRow(testCtx(t), taskID); err != nil || !found || got != brid {
		t.Errorf("bbb_tasks row: brid %d found %v (%v), want %d", got, found, err, brid)
	}
	if n := count(t, direct, "bbb_tasks"); n != 1 {
		t.Errorf("%d bbb_tasks rows, want 1", n)
	}
}
