package bbsim

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// master is one simulated Buildbot 0.8 master: a DB poller that claims
// requests and runs their builds.
type master struct {
	sim *Sim
	id  masterID

	msgSeq   atomic.Int64 // PulseStatus's per-master event serial
	slaveSeq atomic.Int64

	mu       sync.Mutex
	running  map[*build]struct{}
	numbered map[string]bool // builders whose number floor was read from the DB
}

func newMaster(s *Sim, name, host string) *master {
	return &master{
		sim:      s,
		id:       masterID{name: name, host: host},
		running:  map[*build]struct{}{},
		numbered: map[string]bool{},
	}
}

// run polls every PollInterval until ctx ends; the first poll is at once, as
// a master checks for work when it starts.
func (m *master) run(ctx context.Context) {
	registerMaster(m)
	defer unregisterMaster(m)
	t := time.NewTicker(m.sim.opts.PollInterval)
	defer t.Stop()
	for {
		m.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *master) runningCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.running)
}

// poll runs one db_poll_interval round: read the unclaimed requests in
// Buildbot's order and start a build for each one this master wins.
func (m *master) poll(ctx context.Context) {
	qctx, cancel := context.WithTimeout(ctx, dbTimeout)
	pending, err := selectUnclaimed(qctx, m.sim.opts.DB, time.Now().Unix(), m.sim.claimTimeout(), m.id)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			m.sim.log.Warn("bbsim: poll failed", "master", m.id.name, "err", err)
		}
		return
	}
	taken := map[int64]bool{}
	for i := range pending {
		if ctx.Err() != nil {
			return
		}
		lead := pending[i].info
		if taken[lead.ID] || !m.sim.serves(lead.BuilderName) || m.building(lead.ID) {
			continue
		}
		if limit := m.sim.opts.MaxBuildsPerMaster; limit > 0 && m.runningCount() >= limit {
			return
		}
		reqs, props, att, ok := m.claimBuild(ctx, pending, i, taken)
		if !ok {
			continue
		}
		b := m.newBuild(reqs, props, att)
		m.sim.wg.Add(1)
		go func() {
			defer m.sim.wg.Done()
			b.run(ctx)
		}()
	}
}

// claimBuild prepares and claims the request pending[i] and, when its
// attempt asks for it, the compatible requests after it. It returns the
// claimed requests (lead first), their buildset properties and the
// attempt to run.
func (m *master) claimBuild(ctx context.Context, pending []pendingRequest, i int, taken map[int64]bool) ([]BuildRequestInfo, [][]property, Attempt, bool) {
	lead, leadProps, ok := m.prepare(ctx, pending[i].info)
	if !ok {
		return nil, nil, Attempt{}, false
	}
	att := pickAttempt(m.sim.script(), lead)
	if !m.claim(ctx, lead.ID) {
		return nil, nil, Attempt{}, false
	}
	taken[lead.ID] = true
	reqs, props := []BuildRequestInfo{lead}, [][]property{leadProps}
	if !att.Merge {
		return reqs, props, att, true
	}
	for _, p := range pending[i+1:] {
		if taken[p.info.ID] || p.info.BuilderName != lead.BuilderName || p.info.Branch != lead.Branch || m.building(p.info.ID) {
			continue
		}
		info, pp, ok := m.prepare(ctx, p.info)
		if !ok || !m.claim(ctx, info.ID) {
			continue
		}
		taken[info.ID] = true
		reqs = append(reqs, info)
		props = append(props, pp)
	}
	return reqs, props, att, true
}

// prepare loads what a master loads before it builds a request: its
// properties (a request whose properties do not decode cannot be built and
// stays pending, reported through Sim.Errors) and its build count.
func (m *master) prepare(ctx context.Context, info BuildRequestInfo) (BuildRequestInfo, []property, bool) {
	qctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	props, err := loadBuildsetProperties(qctx, m.sim.opts.DB, info.BuildsetID)
	if err != nil {
		if ctx.Err() == nil {
			m.sim.recordError(fmt.Sprintf("props:%d", info.ID),
				fmt.Errorf("bbsim: master %s cannot build buildrequest %d: %w", m.id.name, info.ID, err))
		}
		return info, nil, false
	}
	info.Properties = make(map[string]any, len(props))
	for _, p := range props {
		info.Properties[p.Name] = p.Value
	}
	info.TaskID, _ = info.Properties["taskId"].(string)
	n, err := countBuilds(qctx, m.sim.opts.DB, info.ID)
	if err != nil {
		m.sim.log.Warn("bbsim: poll failed", "master", m.id.name, "err", err)
		return info, nil, false
	}
	info.Attempt = n
	return info, props, true
}

// claim claims a request and tells whether this master now owns it. After
// an error the claim may have landed all the same (the reply was lost with
// the connection): the master reads the request back, until the DB answers,
// rather than leave a request claimed by itself and never built.
func (m *master) claim(ctx context.Context, brid int64) bool {
	qctx, cancel := context.WithTimeout(ctx, dbTimeout)
	ok, err := claimRequest(qctx, m.sim.opts.DB, brid, time.Now().Unix(), m.sim.claimTimeout(), m.id)
	cancel()
	if err == nil {
		return ok
	}
	if ctx.Err() != nil {
		return false
	}
	m.sim.log.Warn("bbsim: claim failed; reading the request back", "master", m.id.name, "brid", brid, "err", err)
	err = retryDB(ctx, 0, func(c context.Context) error {
		var e error
		ok, e = ownsRequest(c, m.sim.opts.DB, m.sim.opts.Driver, brid, m.id)
		return e
	})
	if err != nil {
		return false // only when ctx ended
	}
	if ok {
		m.sim.log.Info("bbsim: the failed claim had landed", "master", m.id.name, "brid", brid)
	}
	return ok
}

// building tells whether one of this master's running builds serves brid.
// Its claim may have gone stale (refreshes failed for longer than the
// claim timeout) and come back in the poll, but a master does not start a
// second build of a request it is building.
func (m *master) building(brid int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for b := range m.running {
		for _, r := range b.reqs {
			if r.ID == brid {
				return true
			}
		}
	}
	return false
}

func (m *master) newBuild(reqs []BuildRequestInfo, props [][]property, att Attempt) *build {
	slave := att.Slave
	if slave == "" {
		slave = fmt.Sprintf("%s-slave%02d", m.id.host, m.slaveSeq.Add(1)%100)
	}
	b := &build{
		m:          m,
		builder:    reqs[0].BuilderName,
		builderDir: escapeBuilderDir(m.sim.builderDir(reqs[0].BuilderName)),
		reqs:       reqs,
		reqProps:   props,
		attempt:    att,
		slave:      slave,
		stop:       make(chan int, 1),
	}
	m.mu.Lock()
	m.running[b] = struct{}{}
	m.mu.Unlock()
	return b
}

func (m *master) buildDone(b *build) {
	m.mu.Lock()
	delete(m.running, b)
	m.mu.Unlock()
}

// buildNumber allocates the next number for builder on this master.
func (m *master) buildNumber(ctx context.Context, builder string) (int, error) {
	m.mu.Lock()
	known := m.numbered[builder]
	m.mu.Unlock()
	floor := 0
	if !known {
		qctx, cancel := context.WithTimeout(ctx, dbTimeout)
		last, err := maxBuildNumber(qctx, m.sim.opts.DB, m.id.name, builder)
		cancel()
		if err != nil {
			return 0, err
		}
		floor = last + 1
		m.mu.Lock()
		m.numbered[builder] = true
		m.mu.Unlock()
	}
	return nextBuildNumber(m.id.name, builder, floor), nil
}

// stopBuild ends the running build that has buildID among its builds rows
// with result; false if this master runs no such build (any more).
func (m *master) stopBuild(buildID int64, result int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for b := range m.running {
		if slices.Contains(b.buildIDsSnapshot(), buildID) {
			if b.finishing {
				return false
			}
			select {
			case b.stop <- result:
				return true
			default:
				return false // already being stopped
			}
		}
	}
	return false
}
