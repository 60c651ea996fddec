package schedulerdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"
)

// ReasonPrefix starts the buildsets.reason of every request the bridge
// creates: "Created by BBB for task <taskId>". Other systems (Treeherder)
// match this text, and it is how a previous bridge's requests are
// recognised, so it must never change.
const ReasonPrefix = "Created by BBB for task "

// ExternalIDPrefix starts buildsets.external_idstring: "taskId:<taskId>".
const ExternalIDPrefix = "taskId:"

// Reason returns the buildsets.reason the bridge writes for a task.
func Reason(taskID string) string { return ReasonPrefix + taskID }

// ExternalID returns the buildsets.external_idstring the bridge writes for
// a task.
func ExternalID(taskID string) string { return ExternalIDPrefix + taskID }

// Sourcestamp is what Buildbot builds. The zero value is an empty
// sourcestamp (NULL branch and revision), for a payload without one.
type Sourcestamp struct {
	// Branch is already shortened from a URL to its path
	// (releases/mozilla-beta).
	Branch     string
	Revision   string
	Repository string
	Project    string
}

// Injection is one TC task run to hand to Buildbot.
type Injection struct {
	TaskID      string
	RunID       int
	BuilderName string
	Sourcestamp Sourcestamp
	// Properties are written in order; a "taskId" among them is replaced by
	// the bridge's own.
	Properties []Property
	// Priority is 1 for "priority": "high" tasks, else 0.
	Priority int
	// SubmittedAt is the TC run's scheduled time (not the task's creation:
	// provisioners ignore requests submitted over a day ago). The zero
	// time means now.
	SubmittedAt time.Time
}

// InjectResult tells which BuildRequest now carries the task.
type InjectResult struct {
	BuildRequestID int64
	// Created is false when an existing request was returned and nothing
	// was written.
	Created bool
}

// injectAttempts bounds the retries after losing a race to a concurrent
// injection of the same task (or, on MySQL, a deadlock): each retry either
// finds the winner's row or, rarely, loses again to yet another writer.
const injectAttempts = 5

// InjectBuildRequest writes a sourcestamp, a buildset (external_idstring
// taskId:<id>, reason "Created by BBB for task <id>"), its properties plus
// taskId, a BuildRequest (claimed_at 0, complete 0) and the task's
// bbb_tasks row, in one transaction.
//
// It is idempotent through bbb_tasks: when the task already has a row and
// that row's run is at least in.RunID, or its BuildRequest is still
// incomplete (Buildbot will run it, as after RETRY), that BuildRequest is
// returned with Created false and nothing is written. Only a newer run of
// a task whose BuildRequest is complete (a TC rerun) gets a new one. A task
// with no row whose incomplete request a previous bridge created gets that
// request (recorded in bbb_tasks), not a second one.
// Concurrent calls for the same task end with one BuildRequest.
//
// Values that do not fit Buildbot's columns return an error wrapping
// ErrPropertyTooLong or ErrFieldTooLong, and nothing is written.
func (d *DB) InjectBuildRequest(ctx context.Context, in Injection) (InjectResult, error) {
	props, err := validateInjection(in)
	if err != nil {
		return InjectResult{}, fmt.Errorf("schedulerdb: inject task %s: %w", in.TaskID, err)
	}
	ctx, cancel := d.opContext(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		res, err := d.injectOnce(ctx, in, props)
		if err == nil || !isConflict(err) || attempt == injectAttempts {
			if err != nil {
				return InjectResult{}, fmt.Errorf("schedulerdb: inject task %s: %w", in.TaskID, err)
			}
			return res, nil
		}
		// Jitter keeps writers that collided from colliding again in step.
		wait := time.Duration(attempt)*10*time.Millisecond + rand.N(20*time.Millisecond)
		select {
		case <-ctx.Done():
			return InjectResult{}, fmt.Errorf("schedulerdb: inject task %s: %w", in.TaskID, ctx.Err())
		case <-time.After(wait):
		}
	}
}

func validateInjection(in Injection) ([][2]string, error) {
	if in.TaskID == "" {
		return nil, errors.New("empty task id")
	}
	if len(in.TaskID) > maxTaskID || !isPrintableASCII(in.TaskID) {
		return nil, errors.New("task id must be at most 64 printable ASCII characters")
	}
	if in.RunID < 0 {
		return nil, fmt.Errorf("negative run id %d", in.RunID)
	}
	if in.BuilderName == "" {
		return nil, errors.New("empty builder name")
	}
	for _, f := range []struct{ name, value string }{
		{"builder name", in.BuilderName},
		{"sourcestamp branch", in.Sourcestamp.Branch},
		{"sourcestamp revision", in.Sourcestamp.Revision},
	} {
		if n := utf8.RuneCountInString(f.value); n > maxVarchar {
			return nil, fmt.Errorf("%w: %s is %d characters, Buildbot stores at most %d", ErrFieldTooLong, f.name, n, maxVarchar)
		}
	}
	return encodeProperties(in.Properties, in.TaskID)
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// taskRow is a task's bbb_tasks row.
type taskRow struct {
	brid  int64
	runID int
}

func (d *DB) injectOnce(ctx context.Context, in Injection, props [][2]string) (InjectResult, error) {
	// The first look is outside the transaction and without locks. On MySQL
	// a locking read of an absent key would take a gap lock, which blocks
	// (and deadlocks with) inserts of unrelated tasks whose ids fall in the
	// same gap; an INSERT of a new key only locks that key.
	_, found, err := readTaskRow(ctx, d.db, in.TaskID, "")
	if err != nil {
		return InjectResult{}, err
	}

	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return InjectResult{}, err
	}
	defer tx.Rollback() // after Commit, a no-op

	now := time.Now().Unix()
	if found {
		// This is the transaction's first read, so on MySQL's REPEATABLE
		// READ the snapshot used by the reads below is taken only once this
		// lock is held and sees whatever a concurrent winner committed.
		row, ok, err := readTaskRow(ctx, tx, in.TaskID, d.dialect.forUpdate)
		if err != nil {
			return InjectResult{}, err
		}
		if !ok {
			return InjectResult{}, errors.New("bbb_tasks row vanished") // rows are never deleted
		}
		if row.runID >= in.RunID {
			return InjectResult{BuildRequestID: row.brid}, tx.Commit()
		}
		complete, err := requestComplete(ctx, tx, row.brid)
		if err != nil {
			return InjectResult{}, err
		}
		if !complete {
			return InjectResult{BuildRequestID: row.brid}, tx.Commit()
		}
		brid, err := insertBuildRequest(ctx, tx, in, props)
		if err != nil {
			return InjectResult{}, err
		}
		if _, err := tx.ExecContext(ctx,
			"UPDATE bbb_tasks SET buildrequest_id = ?, run_id = ?, created_at = ? WHERE task_id = ?",
			brid, in.RunID, now, in.TaskID); err != nil {
			return InjectResult{}, err
		}
		return InjectResult{BuildRequestID: brid, Created: true}, tx.Commit()
	}

	// Claim the task first: a concurrent injection of the same task waits
	// here on the key and then fails with a duplicate key, before either
	// has touched Buildbot's tables; the retry then finds this row.
	if _, err := tx.ExecContext(ctx,
		"INSERT INTO bbb_tasks (task_id, buildrequest_id, run_id, created_at) VALUES (?, 0, ?, ?)",
		in.TaskID, in.RunID, now); err != nil {
		return InjectResult{}, err
	}
	// A previous bridge may have injected the task and still have its
	// request waiting or building (DESIGN §3, adoption): Buildbot must not
	// get a second one. Incomplete requests are few and indexed
	// (buildrequests_complete), so this stays cheap on a DB with millions
	// of finished ones, unlike a lookup by external_idstring alone.
	prev, found, err := previousBridgeRequest(ctx, tx, in.TaskID)
	if err != nil {
		return InjectResult{}, err
	}
	brid, created := prev, false
	if !found {
		if brid, err = insertBuildRequest(ctx, tx, in, props); err != nil {
			return InjectResult{}, err
		}
		created = true
	}
	if _, err := tx.ExecContext(ctx,
		"UPDATE bbb_tasks SET buildrequest_id = ? WHERE task_id = ?", brid, in.TaskID); err != nil {
		return InjectResult{}, err
	}
	return InjectResult{BuildRequestID: brid, Created: created}, tx.Commit()
}

// previousBridgeRequest finds an incomplete BuildRequest that a previous
// bridge created for the task (its buildset's reason and external id).
func previousBridgeRequest(ctx context.Context, q querier, taskID string) (int64, bool, error) {
	var brid int64
	err := q.QueryRowContext(ctx, `SELECT br.id FROM buildrequests br
		JOIN buildsets bs ON bs.id = br.buildsetid
		WHERE br.complete = 0 AND bs.external_idstring = ? AND bs.reason = ?
		ORDER BY br.id LIMIT 1`, ExternalID(taskID), Reason(taskID)).Scan(&brid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return brid, true, nil
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func readTaskRow(ctx context.Context, q querier, taskID, lock string) (taskRow, bool, error) {
	var r taskRow
	err := q.QueryRowContext(ctx,
		"SELECT buildrequest_id, run_id FROM bbb_tasks WHERE task_id = ?"+lock, taskID).Scan(&r.brid, &r.runID)
	if errors.Is(err, sql.ErrNoRows) {
		return taskRow{}, false, nil
	}
	if err != nil {
		return taskRow{}, false, err
	}
	return r, true, nil
}

// requestComplete reports whether a BuildRequest is complete. A request
// that no longer exists (a DB clean-up) cannot run again, so it counts as
// complete.
func requestComplete(ctx context.Context, q querier, brid int64) (bool, error) {
	var complete sql.NullInt64
	err := q.QueryRowContext(ctx, "SELECT complete FROM buildrequests WHERE id = ?", brid).Scan(&complete)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return complete.Int64 != 0, nil
}

// insertBuildRequest writes the Buildbot rows of one injection and returns
// the new BuildRequest's id.
func insertBuildRequest(ctx context.Context, tx *sql.Tx, in Injection, props [][2]string) (int64, error) {
	submitted := in.SubmittedAt
	if submitted.IsZero() {
		submitted = time.Now()
	}
	ss := in.Sourcestamp
	res, err := tx.ExecContext(ctx,
		"INSERT INTO sourcestamps (branch, revision, patchid, repository, project) VALUES (?, ?, NULL, ?, ?)",
		nullIfEmpty(ss.Branch), nullIfEmpty(ss.Revision), ss.Repository, ss.Project)
	if err != nil {
		return 0, fmt.Errorf("insert sourcestamp: %w", err)
	}
	ssid, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}

	res, err = tx.ExecContext(ctx,
		"INSERT INTO buildsets (external_idstring, reason, sourcestampid, submitted_at, complete) VALUES (?, ?, ?, ?, 0)",
		ExternalID(in.TaskID), Reason(in.TaskID), ssid, submitted.Unix())
	if err != nil {
		return 0, fmt.Errorf("insert buildset: %w", err)
	}
	bsid, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}

	if err := insertProperties(ctx, tx, bsid, props); err != nil {
		return 0, err
	}

	// claimed_at is 0, not NULL: masters look for unclaimed requests with
	// claimed_at < ?, which NULL never satisfies.
	res, err = tx.ExecContext(ctx,
		`INSERT INTO buildrequests (buildsetid, buildername, priority, claimed_at, claimed_by_name,
			claimed_by_incarnation, complete, results, submitted_at, complete_at)
		 VALUES (?, ?, ?, 0, NULL, NULL, 0, NULL, ?, NULL)`,
		bsid, in.BuilderName, in.Priority, submitted.Unix())
	if err != nil {
		return 0, fmt.Errorf("insert buildrequest: %w", err)
	}
	return res.LastInsertId()
}

// propertiesPerInsert keeps one statement's placeholders well under both
// databases' limits.
const propertiesPerInsert = 200

func insertProperties(ctx context.Context, tx *sql.Tx, bsid int64, props [][2]string) error {
	for len(props) > 0 {
		n := min(len(props), propertiesPerInsert)
		args := make([]any, 0, 3*n)
		for _, p := range props[:n] {
			args = append(args, bsid, p[0], p[1])
		}
		q := "INSERT INTO buildset_properties (buildsetid, property_name, property_value) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", n), ", ")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("insert buildset properties: %w", err)
		}
		props = props[n:]
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
