package schedulerdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Buildbot 0.8 result codes (buildrequests.results); CANCELLED is Mozilla's.
const (
	ResultSuccess   = 0
	ResultWarnings  = 1
	ResultFailure   = 2
	ResultSkipped   = 3
	ResultException = 4
	ResultRetry     = 5
	ResultCancelled = 6
)

// BuildRequest is a buildrequests row.
type BuildRequest struct {
	ID            int64
	BuildsetID    int64
	BuilderName   string
	Priority      int
	ClaimedAt     int64
	ClaimedByName string
	Complete      bool
	// Results is nil unless the request is complete.
	Results     *int
	SubmittedAt int64
	CompleteAt  *int64
}

// BuildRequest reads one BuildRequest by id; ErrNotFound if there is none.
func (d *DB) BuildRequest(ctx context.Context, brid int64) (BuildRequest, error) {
	ctx, cancel := d.opContext(ctx)
	defer cancel()
	var (
		br                  BuildRequest
		claimedAt, complete sql.NullInt64
		results, completeAt sql.NullInt64
		claimedBy           sql.NullString
	)
	err := d.db.QueryRowContext(ctx,
		`SELECT id, buildsetid, buildername, priority, claimed_at, claimed_by_name,
			complete, results, submitted_at, complete_at
		 FROM buildrequests WHERE id = ?`, brid).Scan(
		&br.ID, &br.BuildsetID, &br.BuilderName, &br.Priority, &claimedAt, &claimedBy,
		&complete, &results, &br.SubmittedAt, &completeAt)
	if errors.Is(err, sql.ErrNoRows) {
		return BuildRequest{}, fmt.Errorf("schedulerdb: buildrequest %d: %w", brid, ErrNotFound)
	}
	if err != nil {
		return BuildRequest{}, fmt.Errorf("schedulerdb: read buildrequest %d: %w", brid, err)
	}
	br.ClaimedAt = claimedAt.Int64
	br.ClaimedByName = claimedBy.String
	br.Complete = complete.Int64 != 0
	if br.Complete && results.Valid {
		r := int(results.Int64)
		br.Results = &r
	}
	if completeAt.Valid {
		br.CompleteAt = &completeAt.Int64
	}
	return br, nil
}

// Build is a builds row: one attempt at running a BuildRequest (a RETRY'd
// request gets another). ID is what self-serve cancels, not Number.
type Build struct {
	ID             int64
	Number         int64
	BuildRequestID int64
	StartTime      int64
	FinishTime     *int64
}

// Builds lists the builds of a BuildRequest, oldest first.
func (d *DB) Builds(ctx context.Context, brid int64) ([]Build, error) {
	ctx, cancel := d.opContext(ctx)
	defer cancel()
	rows, err := d.db.QueryContext(ctx,
		"SELECT id, number, brid, start_time, finish_time FROM builds WHERE brid = ? ORDER BY id", brid)
	if err != nil {
		return nil, fmt.Errorf("schedulerdb: builds of buildrequest %d: %w", brid, err)
	}
	defer rows.Close()
	var builds []Build
	for rows.Next() {
		var (
			b      Build
			finish sql.NullInt64
		)
		if err := rows.Scan(&b.ID, &b.Number, &b.BuildRequestID, &b.StartTime, &finish); err != nil {
			return nil, fmt.Errorf("schedulerdb: builds of buildrequest %d: %w", brid, err)
		}
		if finish.Valid {
			b.FinishTime = &finish.Int64
		}
		builds = append(builds, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("schedulerdb: builds of buildrequest %d: %w", brid, err)
	}
	return builds, nil
}

// Branch returns the last path element of the request's sourcestamp branch
// (releases/mozilla-beta → mozilla-beta), which is the branch self-serve
// wants in its URLs; "" when the branch is NULL. ErrNotFound if the request
// does not exist.
func (d *DB) Branch(ctx context.Context, brid int64) (string, error) {
	ctx, cancel := d.opContext(ctx)
	defer cancel()
	var branch sql.NullString
	err := d.db.QueryRowContext(ctx,
		`SELECT ss.branch FROM buildrequests br
		 JOIN buildsets bs ON bs.id = br.buildsetid
		 JOIN sourcestamps ss ON ss.id = bs.sourcestampid
		 WHERE br.id = ?`, brid).Scan(&branch)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("schedulerdb: branch of buildrequest %d: %w", brid, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("schedulerdb: branch of buildrequest %d: %w", brid, err)
	}
	return lastPathElement(branch.String), nil
}

func lastPathElement(branch string) string {
	branch = strings.TrimRight(branch, "/")
	return branch[strings.LastIndexByte(branch, '/')+1:]
}

// TaskID maps a BuildRequest to its TC task through its buildset's
// external_idstring (taskId:<id>). ours is true when the bridge made the
// request: its bbb_tasks row points at it, or the buildset reason is
// exactly "Created by BBB for task <id>" (a previous bridge's). A request
// of someone else's, even with a taskId: external id, is not ours; one with
// no task id returns "". ErrNotFound if the request does not exist.
func (d *DB) TaskID(ctx context.Context, brid int64) (taskID string, ours bool, err error) {
	owners, err := d.requestOwners(ctx, []int64{brid})
	if err != nil {
		return "", false, fmt.Errorf("schedulerdb: task of buildrequest %d: %w", brid, err)
	}
	o, ok := owners[brid]
	if !ok {
		return "", false, fmt.Errorf("schedulerdb: task of buildrequest %d: %w", brid, ErrNotFound)
	}
	return o.taskID, o.ours, nil
}

// TasksForRequests is TaskID for many requests at once (a merged build
// carries up to 100): it returns the task of each request that is ours;
// other and unknown requests are left out.
func (d *DB) TasksForRequests(ctx context.Context, brids []int64) (map[int64]string, error) {
	owners, err := d.requestOwners(ctx, brids)
	if err != nil {
		return nil, fmt.Errorf("schedulerdb: tasks of buildrequests: %w", err)
	}
	tasks := make(map[int64]string, len(owners))
	for brid, o := range owners {
		if o.ours {
			tasks[brid] = o.taskID
		}
	}
	return tasks, nil
}

type owner struct {
	taskID string
	ours   bool
}

// ownersPerQuery bounds the IN list of one query.
const ownersPerQuery = 500

// requestOwners reads, for each existing request, its task and whether it
// is ours. Every join is by primary key or by bbb_tasks' buildrequest_id
// index, so the cost is a few index lookups per request whatever the size
// of the database.
func (d *DB) requestOwners(ctx context.Context, brids []int64) (map[int64]owner, error) {
	ctx, cancel := d.opContext(ctx)
	defer cancel()
	owners := make(map[int64]owner, len(brids))
	for len(brids) > 0 {
		n := min(len(brids), ownersPerQuery)
		args := make([]any, n)
		for i, id := range brids[:n] {
			args[i] = id
		}
		brids = brids[n:]
		rows, err := d.db.QueryContext(ctx,
			`SELECT br.id, bs.external_idstring, bs.reason, t.task_id
			 FROM buildrequests br
			 JOIN buildsets bs ON bs.id = br.buildsetid
			 LEFT JOIN bbb_tasks t ON t.buildrequest_id = br.id
			 WHERE br.id IN (`+placeholders(n)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var (
				id                     int64
				external, reason, mine sql.NullString
			)
			if err := rows.Scan(&id, &external, &reason, &mine); err != nil {
				rows.Close()
				return nil, err
			}
			owners[id] = ownerOf(external.String, reason.String, mine.String)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return owners, nil
}

// ownerOf decides "ours" for a request from its buildset and the bbb_tasks
// row pointing at it (mine, "" if none). The reason is compared here,
// exactly: MySQL's default collations compare case- and
// trailing-space-insensitively.
func ownerOf(externalID, reason, mine string) owner {
	if mine != "" {
		return owner{taskID: mine, ours: true}
	}
	taskID, ok := strings.CutPrefix(externalID, ExternalIDPrefix)
	if !ok || taskID == "" {
		return owner{}
	}
	return owner{taskID: taskID, ours: reason == Reason(taskID)}
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// TaskRow reads the task's bbb_tasks row: the BuildRequest the bridge last
// created (or adopted) for it and the run it was for.
func (d *DB) TaskRow(ctx context.Context, taskID string) (brid int64, runID int, found bool, err error) {
	ctx, cancel := d.opContext(ctx)
	defer cancel()
	r, found, err := readTaskRow(ctx, d.db, taskID, "")
	if err != nil {
		return 0, 0, false, fmt.Errorf("schedulerdb: bbb_tasks row of task %s: %w", taskID, err)
	}
	return r.brid, r.runID, found, nil
}
