package schedulerdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Cancelled is a BuildRequest of ours that Buildbot completed without any
// master ever claiming it: BuildAPI cancelled it before it started.
type Cancelled struct {
	BuildRequestID int64
	TaskID         string
	CompleteAt     int64
}

// Watermark is how far CancelledBeforeStart has reported; the sweep
// carries it from call to call (through ContinueAsNew), so it is plain
// JSON-friendly data. The zero value starts from the oldest request still
// considered (see CancelledBeforeStart); WatermarkAt starts from a time.
//
// A position of (complete_at, id) would not do: a request can be completed
// after one already reported yet carry a smaller id or an earlier
// complete_at second, because complete_at comes from the clock of whichever
// host cancelled it and becomes visible only when its transaction commits.
// So rows are re-read for a settling window behind the newest and the ids
// already reported in that window are remembered.
type Watermark struct {
	// Horizon: every qualifying request with complete_at < Horizon has been
	// reported.
	Horizon int64 `json:"horizon"`
	// Seen lists the requests with complete_at >= Horizon already looked at.
	Seen []SeenRequest `json:"seen,omitempty"`
}

// SeenRequest is a request already looked at by CancelledBeforeStart.
type SeenRequest struct {
	ID         int64 `json:"id"`
	CompleteAt int64 `json:"completeAt"`
}

// WatermarkAt returns a watermark that reports requests completed at or
// after t (less the settling window), e.g. the sweep's first start.
func WatermarkAt(t time.Time) Watermark { return Watermark{Horizon: t.Unix()} }

const (
	// settleWindow is how long after its complete_at a cancellation is
	// assumed to be committed and visible: it covers slow commits and clock
	// differences between the hosts that write complete_at.
	settleWindow = 10 * time.Minute
	// requestMaxAge bounds the requests considered at all. A TC task's
	// deadline is at most 5 days after its creation, so a request submitted
	// earlier than this belongs to a task TC has already resolved.
	requestMaxAge = 7 * 24 * time.Hour
	// floorSample is how many of the oldest recent rows the id floor is
	// taken from, so that one row with an odd submitted_at cannot raise it.
	floorSample = 1000
)

// CancelledBeforeStart returns up to limit BuildRequests of ours that are
// complete but were never claimed (claimed_at = 0: cancelled in Buildbot
// before a build started) and that the watermark has not reported, ordered
// by complete_at, and the watermark to pass next time. Across calls each
// such request is returned once. Requests submitted more than 7 days ago are
// not considered.
//
// Query plan: Buildbot indexes neither complete_at nor the buildset's
// reason or external id, so the scan is bounded by an id floor instead:
// the smallest buildrequests.id submitted in the last 7 days, found through
// the buildsets_submitted_at and buildrequests_buildsetid indexes (a few
// thousand index entries). The main query then reads the range
// (claimed_at = 0, id >= floor) of the buildrequests_claimed_at index
// (InnoDB and SQLite both append the primary key to a secondary index), i.e.
// only recent never-claimed requests — pending ones and cancellations — and
// joins buildsets by primary key and bbb_tasks through its buildrequest_id
// index. Ours are those with a bbb_tasks row, or a previous bridge's (no
// row, reason "Created by BBB for task <id>").
func (d *DB) CancelledBeforeStart(ctx context.Context, after Watermark, limit int) ([]Cancelled, Watermark, error) {
	if limit <= 0 {
		return nil, after, errors.New("schedulerdb: CancelledBeforeStart needs a positive limit")
	}
	ctx, cancel := d.opContext(ctx)
	defer cancel()
	now := time.Now()

	floor, ok, err := d.recentRequestFloor(ctx, now.Add(-requestMaxAge).Unix())
	if err != nil {
		return nil, after, fmt.Errorf("schedulerdb: cancelled requests: %w", err)
	}
	if !ok {
		return nil, advance(after, nil, now, false, 0), nil
	}

	seen := make(map[int64]bool, len(after.Seen))
	for _, s := range after.Seen {
		seen[s.ID] = true
	}
	// Seen rows come back too (they are at or past the horizon); the limit
	// leaves room for them.
	sqlLimit := limit + len(after.Seen)
	rows, err := d.db.QueryContext(ctx,
		`SELECT br.id, br.complete_at, bs.external_idstring, bs.reason, t.task_id
		 FROM buildrequests br
		 JOIN buildsets bs ON bs.id = br.buildsetid
		 LEFT JOIN bbb_tasks t ON t.buildrequest_id = br.id
		 WHERE br.claimed_at = 0 AND br.id >= ? AND br.complete = 1 AND br.complete_at >= ?
		   AND (t.task_id IS NOT NULL OR bs.reason LIKE ?)
		 ORDER BY br.complete_at, br.id
		 LIMIT ?`,
		floor, after.Horizon, ReasonPrefix+"%", sqlLimit)
	if err != nil {
		return nil, after, fmt.Errorf("schedulerdb: cancelled requests: %w", err)
	}
	defer rows.Close()

	var (
		out      []Cancelled
		examined []SeenRequest
		read     int
		last     int64
		full     bool
	)
	for rows.Next() {
		if len(out) == limit {
			full = true
			break
		}
		var (
			id, completeAt         int64
			external, reason, mine sql.NullString
		)
		if err := rows.Scan(&id, &completeAt, &external, &reason, &mine); err != nil {
			return nil, after, fmt.Errorf("schedulerdb: cancelled requests: %w", err)
		}
		read++
		last = completeAt
		if seen[id] {
			continue
		}
		// Rows that only looked like ours to LIKE are remembered as well,
		// so that they cannot fill every later page.
		examined = append(examined, SeenRequest{ID: id, CompleteAt: completeAt})
		if o := ownerOf(external.String, reason.String, mine.String); o.ours {
			out = append(out, Cancelled{BuildRequestID: id, TaskID: o.taskID, CompleteAt: completeAt})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, after, fmt.Errorf("schedulerdb: cancelled requests: %w", err)
	}
	full = full || read == sqlLimit
	return out, advance(after, examined, now, full, last), nil
}

// advance moves the watermark past what was examined. The horizon never
// passes the settling window, nor, when the page was cut short, the last
// row read (rows after it may share its complete_at).
func advance(w Watermark, examined []SeenRequest, now time.Time, cut bool, last int64) Watermark {
	horizon := now.Add(-settleWindow).Unix()
	if cut {
		horizon = min(horizon, last)
	}
	horizon = max(horizon, w.Horizon)
	next := Watermark{Horizon: horizon}
	for _, s := range slices.Concat(w.Seen, examined) {
		if s.CompleteAt >= horizon {
			next.Seen = append(next.Seen, s)
		}
	}
	return next
}

// recentRequestFloor returns an id below which no buildrequest was
// submitted since the given time; ok is false when nothing was. Ids grow
// with insertion time, and submitted_at is the insertion time (for the
// bridge's own requests, the TC run's scheduled time, which is earlier).
func (d *DB) recentRequestFloor(ctx context.Context, since int64) (int64, bool, error) {
	var bsid, brid sql.NullInt64
	err := d.db.QueryRowContext(ctx,
		`SELECT MIN(id) FROM (
			SELECT id FROM buildsets WHERE submitted_at >= ? ORDER BY submitted_at LIMIT ?
		 ) oldest_recent`, since, floorSample).Scan(&bsid)
	if err != nil || !bsid.Valid {
		return 0, false, err
	}
	err = d.db.QueryRowContext(ctx,
		`SELECT MIN(id) FROM (
			SELECT id FROM buildrequests WHERE buildsetid >= ? ORDER BY buildsetid LIMIT ?
		 ) oldest_recent`, bsid.Int64, floorSample).Scan(&brid)
	if err != nil || !brid.Valid {
		return 0, false, err
	}
	return brid.Int64, true, nil
}
