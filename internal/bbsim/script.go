package bbsim

import "time"

// Attempt is what one build of a BuildRequest does.
type Attempt struct {
	// Result is the build's result (SUCCESS ... CANCELLED). RETRY sends
	// the request back to the pending pool, to be built again.
	Result int
	// Duration is how long the build runs; 0 finishes at once, Forever
	// runs until FinishBuild or a self-serve cancel.
	Duration time.Duration
	// Merge folds every other pending request of the same builder and
	// sourcestamp branch into this build, as Buildbot's request merging
	// did: one build, several request_ids.
	Merge bool
	// Slave overrides the slave name the build reports.
	Slave string

	// Faults in the build's Pulse events.

	// DropStarted suppresses the started event.
	DropStarted bool
	// DropFinished suppresses the finished event.
	DropFinished bool
	// DropLogUploaded suppresses the log_uploaded event.
	DropLogUploaded bool
	// DuplicateEvents publishes every event twice.
	DuplicateEvents bool
	// LogUploadedBeforeStarted holds the started event back until after
	// log_uploaded.
	LogUploadedBeforeStarted bool
	// NoLogURL leaves log_url out of the log_uploaded properties, as when
	// postrun.py's upload failed.
	NoLogURL bool
}

// BuildRequestInfo describes a BuildRequest about to be built, as a Script
// sees it.
type BuildRequestInfo struct {
	// ID is buildrequests.id (the brid).
	ID          int64
	BuildsetID  int64
	BuilderName string
	Priority    int
	// SubmittedAt is buildrequests.submitted_at (Unix seconds).
	SubmittedAt int64
	// Reason and ExternalID are the buildset's reason and
	// external_idstring.
	Reason     string
	ExternalID string
	// Sourcestamp fields ("" for NULL).
	Branch, Revision, Repository, Project string
	// Properties are the buildset properties, decoded from their
	// [value, source] JSON (values only).
	Properties map[string]any
	// TaskID is the taskId property, "" if absent or not a string.
	TaskID string
	// Attempt counts the builds this request had before this one (0 for
	// the first; 1 after a RETRY).
	Attempt int
}

// Script returns the attempts of a request: attempt i of the request is
// element i of the list, and attempts beyond the list repeat its last
// element. An empty list means the default (SUCCESS after
// DefaultBuildDuration). Scripts run on the masters' goroutines and must be
// safe for concurrent use. A master consults the Script before it claims a
// request, so when masters race for a request the Script may see the same
// attempt more than once. On a merged build only the first request's
// attempt counts.
type Script func(BuildRequestInfo) []Attempt

// Fixed is a Script giving every request the same attempts.
func Fixed(attempts ...Attempt) Script {
	return func(BuildRequestInfo) []Attempt { return attempts }
}

// ByBuilder is a Script choosing the attempts by builder name, with
// fallback for builders not in the map.
func ByBuilder(byName map[string][]Attempt, fallback ...Attempt) Script {
	return func(r BuildRequestInfo) []Attempt {
		if a, ok := byName[r.BuilderName]; ok {
			return a
		}
		return fallback
	}
}

// ByTaskID is a Script choosing the attempts by the request's taskId
// property, with fallback for other requests.
func ByTaskID(byTask map[string][]Attempt, fallback ...Attempt) Script {
	return func(r BuildRequestInfo) []Attempt {
		if a, ok := byTask[r.TaskID]; ok {
			return a
		}
		return fallback
	}
}

func pickAttempt(s Script, info BuildRequestInfo) Attempt {
	list := s(info)
	if len(list) == 0 {
		return Attempt{Result: SUCCESS, Duration: DefaultBuildDuration}
	}
	if info.Attempt < len(list) {
		return list[info.Attempt]
	}
	return list[len(list)-1]
}
