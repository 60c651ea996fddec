package bbsim

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The SQL below is what a Buildbot 0.8 master (db/connector.py,
// process/builder.py) and BuildAPI's selfserve-agent run against the
// scheduler DB. It uses only "?" placeholders and portable SQL, so it runs
// unchanged on MySQL and SQLite.

// Writes whose reply is lost (the server or the connection fails after the
// commit) have an unknown outcome. Each write below is either idempotent
// when retried or read back before the master acts on it: a master that
// takes a landed write for a failed one leaves a request claimed by a live
// master that never builds it, or builds it twice.

// forUpdate is the locking-read suffix for the driver. On MySQL a locking
// read waits for a write of an earlier try that may still be in flight on
// the server (the client gave up on it, the server did not) and then reads
// its outcome; SQLite runs in this process and has no such write.
func forUpdate(driver string) string {
	if driver == "mysql" {
		return " FOR UPDATE"
	}
	return ""
}

// pendingRequest is one row of the unclaimed-requests query.
type pendingRequest struct {
	info BuildRequestInfo
	// bsSubmittedAt is the buildset's submitted_at, the poll's sort key.
	bsSubmittedAt int64
}

// selectUnclaimed is the 0.8 master's poll: requests not complete, and
// either unclaimed (claimed_at is 0 for new requests), claimed longer ago
// than the claim timeout, or claimed by an earlier incarnation of this very
// master.
const selectUnclaimedSQL = `
SELECT br.id, br.buildsetid, br.buildername, br.priority, br.submitted_at,
       bs.submitted_at, bs.reason, bs.external_idstring,
       ss.branch, ss.revision, ss.repository, ss.project
FROM buildrequests br
JOIN buildsets bs ON bs.id = br.buildsetid
JOIN sourcestamps ss ON ss.id = bs.sourcestampid
WHERE br.complete = 0
  AND (br.claimed_at < ?
       OR (br.claimed_by_name = ? AND br.claimed_by_incarnation != ?))
ORDER BY br.priority DESC, bs.submitted_at ASC, br.id ASC`

func selectUnclaimed(ctx context.Context, db *sql.DB, now, timeout int64, id masterID) ([]pendingRequest, error) {
	rows, err := db.QueryContext(ctx, selectUnclaimedSQL, now-timeout, id.name, id.incarnation)
	if err != nil {
		return nil, fmt.Errorf("poll unclaimed buildrequests: %w", err)
	}
	defer rows.Close()
	var out []pendingRequest
	for rows.Next() {
		var (
			p                          pendingRequest
			reason, extID, branch, rev sql.NullString
			repository, project        sql.NullString
		)
		if err := rows.Scan(&p.info.ID, &p.info.BuildsetID, &p.info.BuilderName, &p.info.Priority,
			&p.info.SubmittedAt, &p.bsSubmittedAt, &reason, &extID,
			&branch, &rev, &repository, &project); err != nil {
			return nil, fmt.Errorf("read unclaimed buildrequest: %w", err)
		}
		p.info.Reason, p.info.ExternalID = reason.String, extID.String
		p.info.Branch, p.info.Revision = branch.String, rev.String
		p.info.Repository, p.info.Project = repository.String, project.String
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("poll unclaimed buildrequests: %w", err)
	}
	return out, nil
}

// property is one build property: Buildbot's (name, value, source).
type property struct {
	Name   string
	Value  any
	Source string
}

// loadBuildsetProperties decodes buildset_properties the way the master
// does (value, source = json.loads(property_value)); a value that is not a
// two-element list with a string source is an error, as it broke the master.
func loadBuildsetProperties(ctx context.Context, db *sql.DB, buildsetID int64) ([]property, error) {
	rows, err := db.QueryContext(ctx,
		`SELECT property_name, property_value FROM buildset_properties WHERE buildsetid = ?`, buildsetID)
	if err != nil {
		return nil, fmt.Errorf("read buildset_properties of buildset %d: %w", buildsetID, err)
	}
	defer rows.Close()
	var props []property
	for rows.Next() {
		var name, raw string
		if err := rows.Scan(&name, &raw); err != nil {
			return nil, fmt.Errorf("read buildset_properties of buildset %d: %w", buildsetID, err)
		}
		var pair []json.RawMessage
		if err := json.Unmarshal([]byte(raw), &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("buildset %d property %q: value is not a JSON [value, source] pair", buildsetID, name)
		}
		var p property
		p.Name = name
		if err := json.Unmarshal(pair[0], &p.Value); err != nil {
			return nil, fmt.Errorf("buildset %d property %q: bad value: %w", buildsetID, name, err)
		}
		if err := json.Unmarshal(pair[1], &p.Source); err != nil {
			return nil, fmt.Errorf("buildset %d property %q: source is not a string", buildsetID, name)
		}
		props = append(props, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read buildset_properties of buildset %d: %w", buildsetID, err)
	}
	return props, nil
}

func countBuilds(ctx context.Context, db *sql.DB, brid int64) (int, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM builds WHERE brid = ?`, brid).Scan(&n); err != nil {
		return 0, fmt.Errorf("count builds of buildrequest %d: %w", brid, err)
	}
	return n, nil
}

// claimRequestSQL claims one request if it is still claimable by this
// master: the WHERE repeats the poll's condition, so of several masters
// racing for a request exactly one sees a row affected.
const claimRequestSQL = `
UPDATE buildrequests
SET claimed_at = ?, claimed_by_name = ?, claimed_by_incarnation = ?
WHERE id = ? AND complete = 0
  AND (claimed_at < ? OR (claimed_by_name = ? AND claimed_by_incarnation != ?))`

// claimRequest runs claimRequestSQL. An error leaves the outcome unknown:
// see ownsRequest.
func claimRequest(ctx context.Context, db *sql.DB, brid, now, timeout int64, id masterID) (bool, error) {
	res, err := db.ExecContext(ctx, claimRequestSQL,
		now, id.name, id.incarnation, brid, now-timeout, id.name, id.incarnation)
	if err != nil {
		return false, fmt.Errorf("claim buildrequest %d: %w", brid, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim buildrequest %d: %w", brid, err)
	}
	return n == 1, nil
}

// ownsRequest reads a request back after a claim of unknown outcome: the
// master owns it when the claim is its own (name and incarnation) and the
// request is incomplete. A master only claims what it does not own yet and
// is not building, so owning it here means the lost claim landed.
func ownsRequest(ctx context.Context, db *sql.DB, driver string, brid int64, id masterID) (bool, error) {
	var owned bool
	err := inTx(ctx, db, func(tx *sql.Tx) error {
		var (
			complete  int
			name, inc sql.NullString
		)
		err := tx.QueryRowContext(ctx, `SELECT complete, claimed_by_name, claimed_by_incarnation
FROM buildrequests WHERE id = ?`+forUpdate(driver), brid).Scan(&complete, &name, &inc)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		owned = complete == 0 && name.String == id.name && inc.String == id.incarnation
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("read back the claim of buildrequest %d: %w", brid, err)
	}
	return owned, nil
}

// unclaimRequests gives claimed requests back (a build that could not
// start), leaving them to the next poll of any master. Only this master's
// own claims are touched, so a retry after a lost reply is harmless even
// when another master has claimed the requests since.
func unclaimRequests(ctx context.Context, db *sql.DB, brids []int64, id masterID) error {
	q := `UPDATE buildrequests SET claimed_at = 0, claimed_by_name = NULL, claimed_by_incarnation = NULL
WHERE complete = 0 AND claimed_by_name = ? AND claimed_by_incarnation = ? AND id IN (` + placeholders(len(brids)) + `)`
	args := append([]any{id.name, id.incarnation}, int64Args(brids)...)
	if _, err := db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("unclaim buildrequests %v: %w", brids, err)
	}
	return nil
}

// maxBuildNumber is the highest build number the DB shows for builder on
// requests last claimed by master, or -1. Buildbot keeps the numbers on
// disk; this is how a restarted Sim avoids reusing them.
func maxBuildNumber(ctx context.Context, db *sql.DB, masterName, builder string) (int, error) {
	var n sql.NullInt64
	err := db.QueryRowContext(ctx, `
SELECT MAX(b.number) FROM builds b JOIN buildrequests br ON br.id = b.brid
WHERE br.buildername = ? AND br.claimed_by_name = ?`, builder, masterName).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read last build number of %q: %w", builder, err)
	}
	if !n.Valid {
		return -1, nil
	}
	return int(n.Int64), nil
}

// insertBuilds writes one builds row per request of a build, all with the
// same number, and returns their ids in brids' order. A retry after a try
// whose commit landed finds that try's rows (same brid, number and
// start_time) and returns them instead of adding a second build.
func insertBuilds(ctx context.Context, db *sql.DB, driver string, number int, brids []int64, start int64) ([]int64, error) {
	var ids []int64
	err := inTx(ctx, db, func(tx *sql.Tx) error {
		ids = ids[:0]
		if err := lockRequests(ctx, tx, driver, brids); err != nil {
			return err
		}
		for _, brid := range brids {
			var id int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM builds
WHERE brid = ? AND number = ? AND start_time = ? ORDER BY id LIMIT 1`, brid, number, start).Scan(&id)
			if err == nil {
				ids = append(ids, id)
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			res, err := tx.ExecContext(ctx,
				`INSERT INTO builds (number, brid, start_time) VALUES (?, ?, ?)`, number, brid, start)
			if err != nil {
				return err
			}
			if id, err = res.LastInsertId(); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("insert builds rows for buildrequests %v: %w", brids, err)
	}
	return ids, nil
}

// lockRequests takes the buildrequests rows first in a transaction that
// must see what an earlier, possibly still running, try of itself wrote
// (MySQL: record locks by primary key, so builds of other requests never
// wait). On MySQL's REPEATABLE READ the transaction's snapshot is taken by
// its first plain read, after the locks are held.
func lockRequests(ctx context.Context, tx *sql.Tx, driver string, brids []int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM buildrequests WHERE id IN (`+placeholders(len(brids))+`)`+
		forUpdate(driver), int64Args(brids)...)
	if err != nil {
		return err
	}
	return rows.Close()
}

// refreshClaims is the running master's periodic re-claim, which keeps other
// masters from taking the requests over after the claim timeout. A lost
// reply needs nothing: the next refresh writes the same again.
func refreshClaims(ctx context.Context, db *sql.DB, brids []int64, now int64, id masterID) error {
	q := `UPDATE buildrequests SET claimed_at = ?
WHERE complete = 0 AND claimed_by_name = ? AND claimed_by_incarnation = ? AND id IN (` + placeholders(len(brids)) + `)`
	args := append([]any{now, id.name, id.incarnation}, int64Args(brids)...)
	if _, err := db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("refresh claims of buildrequests %v: %w", brids, err)
	}
	return nil
}

// finishBuildRows records the end of a build: builds.finish_time, then
// either the requests' completion (and their buildsets', once all of a
// buildset's requests are complete) or, for RETRY, their resubmission.
//
// A try whose commit landed has set finish_time, and a retry then does
// nothing: redoing a RETRY's un-claim (by id, as 0.8 does it) would wipe
// the claim of a master that has picked the request up since.
func finishBuildRows(ctx context.Context, db *sql.DB, driver string, buildIDs, brids []int64, result int, now int64) error {
	err := inTx(ctx, db, func(tx *sql.Tx) error {
		if err := lockRequests(ctx, tx, driver, brids); err != nil {
			return err
		}
		var open int
		q := `SELECT COUNT(*) FROM builds WHERE finish_time IS NULL AND id IN (` + placeholders(len(buildIDs)) + `)`
		if err := tx.QueryRowContext(ctx, q, int64Args(buildIDs)...).Scan(&open); err != nil {
			return err
		}
		if open == 0 {
			return nil
		}
		q = `UPDATE builds SET finish_time = ? WHERE id IN (` + placeholders(len(buildIDs)) + `)`
		if _, err := tx.ExecContext(ctx, q, append([]any{now}, int64Args(buildIDs)...)...); err != nil {
			return err
		}
		if result == RETRY {
			q := `UPDATE buildrequests SET claimed_at = 0, claimed_by_name = NULL, claimed_by_incarnation = NULL
WHERE id IN (` + placeholders(len(brids)) + `)`
			_, err := tx.ExecContext(ctx, q, int64Args(brids)...)
			return err
		}
		q = `UPDATE buildrequests SET complete = 1, results = ?, complete_at = ? WHERE id IN (` + placeholders(len(brids)) + `)`
		if _, err := tx.ExecContext(ctx, q, append([]any{result, now}, int64Args(brids)...)...); err != nil {
			return err
		}
		return completeBuildsets(ctx, tx, brids, now)
	})
	if err != nil {
		return fmt.Errorf("record finish of buildrequests %v: %w", brids, err)
	}
	return nil
}

// completeBuildsets marks the buildsets of brids complete when all their
// requests are, with Buildbot's combined result: SUCCESS, WARNINGS if any
// request warned, FAILURE if any did worse.
func completeBuildsets(ctx context.Context, tx *sql.Tx, brids []int64, now int64) error {
	q := `SELECT DISTINCT buildsetid FROM buildrequests WHERE id IN (` + placeholders(len(brids)) + `)`
	rows, err := tx.QueryContext(ctx, q, int64Args(brids)...)
	if err != nil {
		return err
	}
	var bsids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		bsids = append(bsids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, bsid := range bsids {
		rows, err := tx.QueryContext(ctx, `SELECT complete, results FROM buildrequests WHERE buildsetid = ?`, bsid)
		if err != nil {
			return err
		}
		all, combined := true, SUCCESS
		for rows.Next() {
			var complete int
			var res sql.NullInt64
			if err := rows.Scan(&complete, &res); err != nil {
				rows.Close()
				return err
			}
			if complete == 0 {
				all = false
				continue
			}
			switch r := int(res.Int64); {
			case r == SUCCESS:
			case r == WARNINGS:
				if combined == SUCCESS {
					combined = WARNINGS
				}
			default:
				combined = FAILURE
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if !all {
			continue
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE buildsets SET complete = 1, complete_at = ?, results = ? WHERE id = ? AND complete = 0`,
			now, combined, bsid); err != nil {
			return err
		}
	}
	return nil
}

// cancelPendingRequest is selfserve-agent's cancel of a request: only a
// request nobody has claimed is cancelled, marked complete with FAILURE and
// claimed_at left 0, which is how a cancelled-before-start request looks.
//
// The agent retries a failed try, and a try whose commit landed leaves
// nothing for the retry's UPDATE to match; so when nothing matches, the
// request is read back, and one that looks cancelled counts as cancelled.
func cancelPendingRequest(ctx context.Context, db *sql.DB, brid, now int64) (bool, error) {
	var done bool
	err := inTx(ctx, db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
UPDATE buildrequests SET complete = 1, results = ?, complete_at = ?
WHERE id = ? AND complete = 0 AND claimed_at = 0`, FAILURE, now, brid)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			done = true
			return completeBuildsets(ctx, tx, []int64{brid}, now)
		}
		var (
			complete  int
			results   sql.NullInt64
			claimedAt int64
		)
		err = tx.QueryRowContext(ctx, `SELECT complete, results, claimed_at FROM buildrequests WHERE id = ?`,
			brid).Scan(&complete, &results, &claimedAt)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		// A request completes with claimed_at 0 only through a cancel: a
		// master's build leaves its claim in place.
		done = complete == 1 && claimedAt == 0 && results.Valid && results.Int64 == FAILURE
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("cancel buildrequest %d: %w", brid, err)
	}
	return done, nil
}

// requestBranch returns the sourcestamp branch of a request, and whether the
// request exists.
func requestBranch(ctx context.Context, db *sql.DB, brid int64) (string, bool, error) {
	var branch sql.NullString
	err := db.QueryRowContext(ctx, `
SELECT ss.branch FROM buildrequests br
JOIN buildsets bs ON bs.id = br.buildsetid
JOIN sourcestamps ss ON ss.id = bs.sourcestampid
WHERE br.id = ?`, brid).Scan(&branch)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look up buildrequest %d: %w", brid, err)
	}
	return branch.String, true, nil
}

// buildRow is what the self-serve service needs to know about a builds row.
type buildRow struct {
	brid        int64
	finished    bool
	branch      string
	claimedBy   string
	incarnation string
}

func lookupBuild(ctx context.Context, db *sql.DB, buildID int64) (buildRow, bool, error) {
	var (
		r                       buildRow
		finish                  sql.NullInt64
		branch, by, incarnation sql.NullString
	)
	err := db.QueryRowContext(ctx, `
SELECT b.brid, b.finish_time, ss.branch, br.claimed_by_name, br.claimed_by_incarnation
FROM builds b
JOIN buildrequests br ON br.id = b.brid
JOIN buildsets bs ON bs.id = br.buildsetid
JOIN sourcestamps ss ON ss.id = bs.sourcestampid
WHERE b.id = ?`, buildID).Scan(&r.brid, &finish, &branch, &by, &incarnation)
	if errors.Is(err, sql.ErrNoRows) {
		return buildRow{}, false, nil
	}
	if err != nil {
		return buildRow{}, false, fmt.Errorf("look up build %d: %w", buildID, err)
	}
	r.finished = finish.Valid
	r.branch, r.claimedBy, r.incarnation = branch.String, by.String, incarnation.String
	return r, true, nil
}

func inTx(ctx context.Context, db *sql.DB, f func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func int64Args(v []int64) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}
