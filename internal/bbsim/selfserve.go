package bbsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// selfServePrefix is where self-serve lives on the Sim's HTTP server, as
// BuildAPI lived under /buildapi/self-serve; logsPrefix serves build logs,
// as the FTP server did for postrun.py's uploads.
const (
	selfServePrefix = "/buildapi/self-serve"
	logsPrefix      = "/logs"
)

// selfServeDBTimeout bounds the DB look-ups of one self-serve request.
const selfServeDBTimeout = 10 * time.Second

func (s *Sim) handler() http.Handler {
	ss := http.NewServeMux()
	ss.HandleFunc("DELETE "+selfServePrefix+"/{branch}/request/{id}", s.cancelRequest)
	ss.HandleFunc("DELETE "+selfServePrefix+"/{branch}/build/{id}", s.cancelBuild)
	ss.HandleFunc("GET "+selfServePrefix+"/jobs/{id}", s.getJob)

	root := http.NewServeMux()
	root.Handle(selfServePrefix+"/", s.gate(ss))
	root.HandleFunc("GET "+logsPrefix+"/{path...}", s.serveLog)
	root.HandleFunc("GET "+buildersPath, s.serveBuilders)
	return root
}

// statusRecorder remembers the status a handler wrote, for SelfServeCalls.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// gate does what sits in front of BuildAPI's controllers: the outage switch
// and the authentication (Apache set X-Remote-User), and records the call.
func (s *Sim) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		user := r.Header.Get("X-Remote-User")
		defer func() {
			s.mu.Lock()
			s.calls = append(s.calls, SelfServeCall{
				Method: r.Method, Path: r.URL.Path, RemoteUser: user, Status: rec.status, Time: time.Now(),
			})
			s.mu.Unlock()
		}()
		switch {
		case s.down.Load():
			writeFailed(rec, http.StatusServiceUnavailable, "self-serve is unavailable")
		case user == "":
			writeFailed(rec, http.StatusForbidden, "authentication required: no X-Remote-User")
		default:
			next.ServeHTTP(rec, r)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeFailed is BuildAPI's error body.
func writeFailed(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"msg": msg, "status": "FAILED"})
}

func wantsJSON(r *http.Request) bool {
	return r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json")
}

func parseID(w http.ResponseWriter, r *http.Request, what string) (int64, bool) {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		writeFailed(w, http.StatusBadRequest, fmt.Sprintf("bad %s id %q", what, raw))
		return 0, false
	}
	return id, true
}

// accepted answers a queued job: 202 with the job id to JSON clients,
// otherwise a redirect to the job's page.
func (s *Sim) accepted(w http.ResponseWriter, r *http.Request, j *job) {
	if wantsJSON(r) {
		writeJSON(w, http.StatusAccepted, map[string]any{"status": "OK", "request_id": j.ID})
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s/jobs/%d", selfServePrefix, j.ID), http.StatusSeeOther)
}

func (s *Sim) cancelRequest(w http.ResponseWriter, r *http.Request) {
	brid, ok := parseID(w, r, "request")
	if !ok {
		return
	}
	branch := r.PathValue("branch")
	ctx, cancel := context.WithTimeout(r.Context(), selfServeDBTimeout)
	defer cancel()
	ssBranch, found, err := requestBranch(ctx, s.opts.DB, brid)
	if err != nil {
		s.log.Error("bbsim: self-serve DB error", "err", err)
		writeFailed(w, http.StatusServiceUnavailable, "database error")
		return
	}
	if !found || branchTail(ssBranch) != branch {
		writeFailed(w, http.StatusNotFound, fmt.Sprintf("Build request %d not found on branch %s", brid, branch))
		return
	}
	j := s.newJob("cancel_request", r.Header.Get("X-Remote-User"), map[string]any{"branch": branch, "request_id": brid})
	s.runAgent(j, func(ctx context.Context) (string, error) {
		done, err := cancelPendingRequest(ctx, s.opts.DB, brid, time.Now().Unix())
		if err != nil {
			return "", err
		}
		if !done {
			return fmt.Sprintf("request %d is already running or complete: not cancelled", brid), nil
		}
		return fmt.Sprintf("request %d cancelled", brid), nil
	})
	s.accepted(w, r, j)
}

func (s *Sim) cancelBuild(w http.ResponseWriter, r *http.Request) {
	buildID, ok := parseID(w, r, "build")
	if !ok {
		return
	}
	branch := r.PathValue("branch")
	ctx, cancel := context.WithTimeout(r.Context(), selfServeDBTimeout)
	defer cancel()
	row, found, err := lookupBuild(ctx, s.opts.DB, buildID)
	if err != nil {
		s.log.Error("bbsim: self-serve DB error", "err", err)
		writeFailed(w, http.StatusServiceUnavailable, "database error")
		return
	}
	if !found || branchTail(row.branch) != branch {
		writeFailed(w, http.StatusNotFound, fmt.Sprintf("Build %d not found on branch %s", buildID, branch))
		return
	}
	j := s.newJob("cancel_build", r.Header.Get("X-Remote-User"), map[string]any{"branch": branch, "build_id": buildID})
	s.runAgent(j, func(ctx context.Context) (string, error) {
		row, found, err := lookupBuild(ctx, s.opts.DB, buildID)
		if err != nil {
			return "", err
		}
		if !found || row.finished {
			return fmt.Sprintf("build %d already finished", buildID), nil
		}
		m := lookupMaster(row.claimedBy, row.incarnation)
		if m == nil {
			return fmt.Sprintf("master %s of build %d is not reachable", row.claimedBy, buildID), nil
		}
		if !m.stopBuild(buildID, CANCELLED) {
			return fmt.Sprintf("build %d is not running on %s", buildID, row.claimedBy), nil
		}
		return fmt.Sprintf("build %d stopped", buildID), nil
	})
	s.accepted(w, r, j)
}

func (s *Sim) getJob(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(w, r, "job")
	if !ok {
		return
	}
	s.mu.Lock()
	j, found := s.jobs[id]
	var snapshot job
	if found {
		snapshot = *j
	}
	s.mu.Unlock()
	if !found {
		writeFailed(w, http.StatusNotFound, fmt.Sprintf("job %d not found", id))
		return
	}
	writeJSON(w, http.StatusOK, snapshot)
}

func (s *Sim) serveLog(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body, ok := s.logs[r.PathValue("path")]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/x-gzip")
	_, _ = w.Write(body)
}
