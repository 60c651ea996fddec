package bbsim

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/url"
	"strings"
	"time"
)

// job is a self-serve job as GET /jobs/{id} shows it.
type job struct {
	ID           int64          `json:"request_id"`
	Action       string         `json:"action"`
	What         map[string]any `json:"what"`
	Who          string         `json:"who"`
	When         int64          `json:"when"`
	CompletedAt  *int64         `json:"completed_at"`
	CompleteData map[string]any `json:"complete_data"`
}

func (s *Sim) newJob(action, who string, what map[string]any) *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobSeq++
	j := &job{ID: s.jobSeq, Action: action, What: what, Who: who, When: time.Now().Unix()}
	s.jobs[j.ID] = j
	return j
}

// runAgent carries a job out after AgentDelay, as selfserve-agent picked
// jobs off its queue: the HTTP answer never waits for the work. A job
// pending when the Sim closes is never done, like one whose agent died.
func (s *Sim) runAgent(j *job, work func(context.Context) (string, error)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(s.opts.AgentDelay)
		defer t.Stop()
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		var msg string
		err := retryDB(s.ctx, 5, func(ctx context.Context) error {
			var e error
			msg, e = work(ctx)
			return e
		})
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			msg = "failed: " + err.Error()
			s.log.Error("bbsim: self-serve job failed", "job", j.ID, "action", j.Action, "err", err)
		} else {
			s.log.Info("bbsim: self-serve job done", "job", j.ID, "action", j.Action, "outcome", msg)
		}
		now := time.Now().Unix()
		s.mu.Lock()
		j.CompletedAt = &now
		j.CompleteData = map[string]any{"msg": msg}
		s.mu.Unlock()
	}()
}

// storeLog keeps a build's log for the Sim's log server, when logURL is one of
// its own.
func (s *Sim) storeLog(logURL, text string) {
	s.mu.Lock()
	prefix := s.httpBase + logsPrefix + "/"
	s.mu.Unlock()
	path, ok := strings.CutPrefix(logURL, prefix)
	if !ok {
		return
	}
	// The server hands handlers the decoded path.
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(text))
	_ = zw.Close()
	s.mu.Lock()
	s.logs[path] = buf.Bytes()
	s.mu.Unlock()
}
