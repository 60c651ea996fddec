package schedulerdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Adoptable is an incomplete BuildRequest made by a previous bridge (its
// buildset reason is "Created by BBB for task <id>") that has no bbb_tasks
// row yet.
type Adoptable struct {
	BuildRequestID int64
	TaskID         string
}

// adoptPage is how many candidate rows one query reads.
const adoptPage = 200

// UnadoptedRequests returns up to limit incomplete requests of a previous
// bridge whose task has no bbb_tasks row, oldest first, one per task.
//
// Query plan: the buildrequests_complete index gives the incomplete
// requests (pending and running: a small set however old the database),
// paged by id; each is joined to its buildset by primary key and to
// bbb_tasks through its buildrequest_id index. The task's own bbb_tasks row
// is then looked up by primary key.
func (d *DB) UnadoptedRequests(ctx context.Context, limit int) ([]Adoptable, error) {
	if limit <= 0 {
		return nil, errors.New("schedulerdb: UnadoptedRequests needs a positive limit")
	}
	ctx, cancel := d.opContext(ctx)
	defer cancel()
	var (
		out    []Adoptable
		after  int64
		listed = map[string]bool{}
	)
	for len(out) < limit {
		page, n, last, err := d.unadoptedPage(ctx, after)
		if err != nil {
			return nil, fmt.Errorf("schedulerdb: unadopted requests: %w", err)
		}
		mapped, err := d.mappedTasks(ctx, page)
		if err != nil {
			return nil, fmt.Errorf("schedulerdb: unadopted requests: %w", err)
		}
		for _, a := range page {
			if len(out) == limit {
				break
			}
			if mapped[a.TaskID] || listed[a.TaskID] {
				continue
			}
			listed[a.TaskID] = true
			out = append(out, a)
		}
		if n < adoptPage {
			break
		}
		after = last
	}
	return out, nil
}

// unadoptedPage reads incomplete requests with id > after whose reason is a
// bridge's and that no bbb_tasks row points at. n counts the rows read and
// last is the id of the last one, for paging.
func (d *DB) unadoptedPage(ctx context.Context, after int64) (page []Adoptable, n int, last int64, err error) {
	rows, err := d.db.QueryContext(ctx,
		`SELECT br.id, bs.external_idstring, bs.reason
		 FROM buildrequests br
		 JOIN buildsets bs ON bs.id = br.buildsetid
		 LEFT JOIN bbb_tasks t ON t.buildrequest_id = br.id
		 WHERE br.complete = 0 AND br.id > ? AND bs.reason LIKE ? AND t.task_id IS NULL
		 ORDER BY br.id
		 LIMIT ?`, after, ReasonPrefix+"%", adoptPage)
	if err != nil {
		return nil, 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id               int64
			external, reason sql.NullString
		)
		if err := rows.Scan(&id, &external, &reason); err != nil {
			return nil, 0, 0, err
		}
		n++
		last = id
		if o := ownerOf(external.String, reason.String, ""); o.ours {
			page = append(page, Adoptable{BuildRequestID: id, TaskID: o.taskID})
		}
	}
	return page, n, last, rows.Err()
}

// mappedTasks returns which of the page's tasks already have a bbb_tasks
// row (pointing at another request of theirs).
func (d *DB) mappedTasks(ctx context.Context, page []Adoptable) (map[string]bool, error) {
	mapped := map[string]bool{}
	if len(page) == 0 {
		return mapped, nil
	}
	args := make([]any, len(page))
	for i, a := range page {
		args[i] = a.TaskID
	}
	rows, err := d.db.QueryContext(ctx,
		"SELECT task_id FROM bbb_tasks WHERE task_id IN ("+placeholders(len(args))+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		mapped[id] = true
	}
	return mapped, rows.Err()
}

// AdoptRequest records that the bridge now carries a previous bridge's
// request for the task, by writing its bbb_tasks row. It is idempotent: an
// existing row for the same request is left as it is. It fails if the
// request is not the task's (by its buildset) or the task's row already
// points at another request.
func (d *DB) AdoptRequest(ctx context.Context, taskID string, brid int64, runID int) error {
	if taskID == "" || len(taskID) > maxTaskID || !isPrintableASCII(taskID) {
		return fmt.Errorf("schedulerdb: adopt: invalid task id %q", taskID)
	}
	ctx, cancel := d.opContext(ctx)
	defer cancel()
	owners, err := d.requestOwners(ctx, []int64{brid})
	if err != nil {
		return fmt.Errorf("schedulerdb: adopt buildrequest %d for task %s: %w", brid, taskID, err)
	}
	o, ok := owners[brid]
	if !ok {
		return fmt.Errorf("schedulerdb: adopt buildrequest %d for task %s: %w", brid, taskID, ErrNotFound)
	}
	if !o.ours || o.taskID != taskID {
		return fmt.Errorf("schedulerdb: adopt buildrequest %d: it is not a bridge's request for task %s", brid, taskID)
	}
	if _, err := d.db.ExecContext(ctx,
		"INSERT INTO bbb_tasks (task_id, buildrequest_id, run_id, created_at) VALUES (?, ?, ?, ?)"+d.dialect.keepExisting,
		taskID, brid, runID, time.Now().Unix()); err != nil {
		return fmt.Errorf("schedulerdb: adopt buildrequest %d for task %s: %w", brid, taskID, err)
	}
	row, found, err := readTaskRow(ctx, d.db, taskID, "")
	if err != nil {
		return fmt.Errorf("schedulerdb: adopt buildrequest %d for task %s: %w", brid, taskID, err)
	}
	if !found || row.brid != brid {
		return fmt.Errorf("schedulerdb: adopt buildrequest %d for task %s: the task is already mapped to buildrequest %d", brid, taskID, row.brid)
	}
	return nil
}
