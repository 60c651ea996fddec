package faults

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// temporalRecovery is how long after Temporal serves again the bridge may
// take to run the timers that fell due while it was down. The timers fire
// as the server starts; what takes time is working them off: the SDK's
// pollers back off up to 10 s while the server is away, then the timers
// and held-back signals of a few hundred workflows reach a file-backed
// server at once (after the 60 s outage: worker busy again 4 s after the
// restart, backlog worked off in another 26 s). A later run is a
// violation.
const temporalRecovery = 45 * time.Second

// fitTemporalOutage sizes temporal-outage to its outage. A claim survives
// the outage only if its reclaim, due at takenUntil − lead, can still run
// before takenUntil once Temporal is back; the lead being a third of the
// claim period here, the period is three times the outage plus the
// recovery. The builds last long enough that the first ones are still
// running when their reclaims fall due, which is when the strike comes.
func fitTemporalOutage(f *Fault, outage time.Duration) {
	f.ClaimTimeout = max(claimTimeout, 3*(outage+temporalRecovery))
	f.MaxBuild = f.ClaimTimeout*2/3 + outage + 30*time.Second
}

// shapeLateTasks leaves 1 task in 10 to be created while Temporal is down:
// their task-pending messages must wait in RabbitMQ.
func shapeLateTasks(i int, t *plannedTask) {
	if i%10 == 9 {
		t.late = true
		t.note = "created while Temporal was down"
	}
}

func strikeTemporalOutage(ctx context.Context, d *deployment, outage time.Duration) error {
	if err := d.waitCreated(ctx); err != nil {
		return err
	}
	d.waitBuilds(ctx, len(d.tasks)/3, 3*time.Minute)
	lead := d.fault.claim() / 3
	d.waitReclaimDue(ctx, lead, 2*time.Second, 4*time.Minute)

	claims := d.runningClaims()
	n := d.runningBuilds()
	t0 := time.Now()
	d.temporal.Kill()
	// A delivery whose signal Temporal accepted just before the kill may
	// be acknowledged just after; from here on nothing can be signalled.
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return err
	}
	atKill, err := d.starterCounts(ctx)
	if err != nil {
		return err
	}
	late, err := d.createLate(ctx)
	if err != nil {
		return err
	}
	health := d.healthz(ctx)
	// The broker's counts are sampled each second: the most it held is
	// read over the whole outage.
	var held, deadLetters int
	for left := time.Until(t0.Add(outage)); left > 0; left = time.Until(t0.Add(outage)) {
		h, dl, err := d.bridgeQueues(ctx)
		if err != nil {
			return err
		}
		held, deadLetters = max(held, h), max(deadLetters, dl)
		if err := sleepCtx(ctx, min(time.Second, left)); err != nil {
			return err
		}
	}
	atRestart, err := d.starterCounts(ctx)
	if err != nil {
		return err
	}
	t1 := time.Now()
	if err := d.temporal.Start(ctx); err != nil {
		return err
	}
	up := time.Now()

	if acked := atRestart["acked"] - atKill["acked"]; acked > 0 {
		d.violation("the starter acknowledged %d messages while Temporal was down", acked)
	}
	if dl := atRestart["dead_lettered"] - atKill["dead_lettered"]; dl > 0 || deadLetters > 0 {
		d.violation("%d messages dead-lettered while Temporal was down (%d in the dead-letter queue)", dl, deadLetters)
	}
	// The broker's counts come from the management API, whose statistics
	// lag by up to 5 s: a short outage can end before they show anything,
	// so they are a note, not evidence. The tasks created while Temporal
	// was down are: their task-pending messages could only wait (nothing
	// was acknowledged meanwhile, checked above), and the invariants check
	// they were all handled once it was back.
	if late == 0 {
		d.violation("no task was created while Temporal was down: the outage tested nothing")
	}
	d.note("Temporal SIGKILLed with %d builds running, down %s (restart %s), %d tasks created meanwhile",
		n, up.Sub(t0).Round(time.Second), up.Sub(t1).Round(100*time.Millisecond), late)
	d.note("while down: up to %d messages held in RabbitMQ (management statistics), %d deliveries requeued, none acknowledged or dead-lettered; /healthz %s",
		held, atRestart["requeued"]-atKill["requeued"], health)

	var waits []time.Duration
	for id, c := range claims {
		if c.takenUntil.Add(-lead).After(up) {
			continue
		}
		at, ok := d.waitBridgeCall(ctx, id, up, c.takenUntil)
		if !ok {
			d.violation("task %s: the reclaim due at %s while Temporal was down never ran",
				id, c.takenUntil.Add(-lead).Format(time.TimeOnly))
			continue
		}
		waits = append(waits, at.Sub(up))
	}
	slices.Sort(waits)
	var median, wait time.Duration
	if len(waits) > 0 {
		median, wait = waits[len(waits)/2], waits[len(waits)-1]
	}
	d.note("%d reclaims fell due while Temporal was down; they ran %s (median), at most %s after its return (lead %s)",
		len(waits), median.Round(100*time.Millisecond), wait.Round(100*time.Millisecond), lead.Round(time.Second))
	if wait > temporalRecovery {
		d.violation("the timers that fell due while Temporal was down ran up to %s after it returned (allowed %s)",
			wait.Round(time.Second), temporalRecovery)
	}
	return nil
}

// runClaim is a run the bridge holds in the stand-in queue.
type runClaim struct {
	runID      int64
	takenUntil time.Time
}

// runningClaims maps each task with a running run to its claim.
func (d *deployment) runningClaims() map[string]runClaim {
	out := map[string]runClaim{}
	for _, t := range d.tasks {
		st, ok := d.Queue.Status(t.id)
		if !ok || len(st.Runs) == 0 {
			continue
		}
		r := st.Runs[len(st.Runs)-1]
		if r.State == "running" {
			out[t.id] = runClaim{runID: r.RunID, takenUntil: time.Time(r.TakenUntil)}
		}
	}
	return out
}

// waitReclaimDue waits, at most timeout, until the first claim's reclaim
// (takenUntil − lead) is no more than ahead away.
func (d *deployment) waitReclaimDue(ctx context.Context, lead, ahead, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var first time.Time
		for _, c := range d.runningClaims() {
			if due := c.takenUntil.Add(-lead); first.IsZero() || due.Before(first) {
				first = due
			}
		}
		if !first.IsZero() && time.Until(first) <= ahead {
			return
		}
		if sleepCtx(ctx, 250*time.Millisecond) != nil {
			return
		}
	}
}

// waitBridgeCall waits until the bridge calls the queue about the task
// after since (a reclaim, or the resolution of a build that finished
// meanwhile) and returns when; false if none came before until.
func (d *deployment) waitBridgeCall(ctx context.Context, taskID string, since, until time.Time) (time.Time, bool) {
	for {
		for _, c := range d.Queue.Calls() {
			if c.TaskID == taskID && c.At.After(since) && c.Method != "createTask" && c.Method != "cancelTask" {
				return c.At, true
			}
		}
		if time.Now().After(until) || sleepCtx(ctx, 250*time.Millisecond) != nil {
			return time.Time{}, false
		}
	}
}

// starterCounts sums starter-1's bbb_pulse_messages_total by outcome
// (acked, requeued, dead_lettered) from its /metrics.
func (d *deployment) starterCounts(ctx context.Context) (map[string]int, error) {
	p := d.current("starter-1")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Listen+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("faults: %s metrics: %w", p.Name, err)
	}
	defer resp.Body.Close()
	return pulseCounts(resp.Body)
}

// pulseCounts reads bbb_pulse_messages_total from Prometheus's text
// format, summed over the queues.
func pulseCounts(r io.Reader) (map[string]int, error) {
	const metric = "bbb_pulse_messages_total{"
	out := map[string]int{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric) {
			continue
		}
		labels, value, ok := strings.Cut(strings.TrimPrefix(line, metric), "} ")
		if !ok {
			return nil, fmt.Errorf("faults: metrics line %q", line)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("faults: metrics line %q: %w", line, err)
		}
		for _, l := range strings.Split(labels, ",") {
			if k, val, _ := strings.Cut(l, "="); k == "outcome" {
				out[strings.Trim(val, `"`)] += int(v)
			}
		}
	}
	return out, sc.Err()
}

// healthz is what the bridge's processes' /healthz answer now, e.g.
// "worker-1.1 200 ok, starter-1.1 200 ok".
func (d *deployment) healthz(ctx context.Context) string {
	d.mu.Lock()
	var names []string
	for name := range d.procs {
		names = append(names, name)
	}
	d.mu.Unlock()
	sort.Strings(names)
	var out []string
	for _, name := range names {
		p := d.current(name)
		out = append(out, p.Name+" "+getStatus(ctx, "http://"+p.Listen+"/healthz"))
	}
	return strings.Join(out, ", ")
}

func getStatus(ctx context.Context, url string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
}

// bridgeQueues counts what the bridge's four queues hold, ready or
// unacknowledged, and what its dead-letter queue holds.
func (d *deployment) bridgeQueues(ctx context.Context) (held, deadLetters int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	qs, err := d.run.rabbit.Queues(ctx, d.vhost)
	if err != nil {
		return 0, 0, err
	}
	for _, q := range qs {
		if strings.HasSuffix(q.Name, "/dead-letter") {
			deadLetters += q.Ready + q.Unacked
		} else {
			held += q.Ready + q.Unacked
		}
	}
	return held, deadLetters, nil
}
