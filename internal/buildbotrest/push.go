package buildbotrest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// PushKind tells what a pushed event reports.
type PushKind int

const (
	// PushOther is an event the bridge has no use for, such as a new
	// request.
	PushOther PushKind = iota
	// PushBuildStarted is a build that has just begun.
	PushBuildStarted
	// PushBuildFinished is a build that has ended, whatever its result
	// (RETRY and CANCELLED included).
	PushBuildFinished
	// PushRequestCancelled is a request cancelled before any build of it
	// started.
	PushRequestCancelled
)

func (k PushKind) String() string {
	switch k {
	case PushBuildStarted:
		return "build started"
	case PushBuildFinished:
		return "build finished"
	case PushRequestCancelled:
		return "request cancelled"
	default:
		return "other"
	}
}

// Push is one event that contrib/buildbot's bridge_reporter sent.
type Push struct {
	Kind PushKind
	// BuildID, BuildNumber, MasterID are 0 in request events.
	BuildID, BuildNumber, BuilderID, BuildRequestID, MasterID int64
	BuilderName                                               string
	// Results is the build's result in PushBuildFinished, CANCELLED in
	// PushRequestCancelled, -1 otherwise.
	Results int
	// TaskID is the taskId property, "" when there is none.
	TaskID     string
	Properties map[string][2]any // {name: [value, source]}
	URL        string            // the build's or request's page
	// StateString is the build's last state ("build successful",
	// "cancelled (Master Shutdown) ..."); see Interruption.
	StateString string
	// StartedAt and CompleteAt are the build's started_at and complete_at
	// (Unix seconds), zero when the body has none.
	StartedAt, CompleteAt int64
}

// maxPush bounds the body DecodePush reads; a build's properties are
// small, and a huge body is not one the reporter sent.
const maxPush = 8 << 20

// wirePush is the body: the reporter's build dictionary. A build event has
// a buildid; a request event has none, only the nested buildrequest.
type wirePush struct {
	BuildID        *int64            `json:"buildid"`
	Number         *int64            `json:"number"`
	BuilderID      *int64            `json:"builderid"`
	BuildRequestID *int64            `json:"buildrequestid"`
	MasterID       *int64            `json:"masterid"`
	Complete       *bool             `json:"complete"`
	Results        *int              `json:"results"`
	Properties     map[string][2]any `json:"properties"`
	URL            string            `json:"url"`
	StateString    string            `json:"state_string"`
	StartedAt      *int64            `json:"started_at"`
	CompleteAt     *int64            `json:"complete_at"`
	Builder        *struct {
		Name string `json:"name"`
	} `json:"builder"`
	BuildRequest *struct {
		ID          *int64 `json:"buildrequestid"`
		BuilderID   *int64 `json:"builderid"`
		BuilderName string `json:"buildername"`
	} `json:"buildrequest"`
}

// DecodePush reads a body the reporter sent. The shape tells the event: a
// build's start or end carries buildid, and its top-level complete and
// results are the build's (the nested buildrequest is a snapshot taken
// before the request was completed, so its complete is still false); a
// request event has no buildid, and a request cancelled while pending
// comes as complete with results CANCELLED.
func DecodePush(body []byte) (Push, error) {
	if len(body) > maxPush {
		return Push{}, fmt.Errorf("buildbotrest: push body of %d bytes is larger than %d", len(body), maxPush)
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return Push{}, errors.New("buildbotrest: push body is not a JSON object")
	}
	var w wirePush
	if err := json.Unmarshal(body, &w); err != nil {
		return Push{}, fmt.Errorf("buildbotrest: unreadable push body: %v", err)
	}
	p := Push{
		BuilderID:   orZero(w.BuilderID),
		Results:     -1,
		Properties:  w.Properties,
		URL:         w.URL,
		StateString: w.StateString,
	}
	if w.Builder != nil {
		p.BuilderName = w.Builder.Name
	}
	p.TaskID = TaskID(w.Properties)
	if w.Complete == nil {
		return Push{}, errors.New("buildbotrest: push body has no complete field")
	}
	switch {
	case w.BuildID != nil:
		p.BuildID, p.BuildNumber, p.MasterID = *w.BuildID, orZero(w.Number), orZero(w.MasterID)
		p.StartedAt, p.CompleteAt = orZero(w.StartedAt), orZero(w.CompleteAt)
		p.BuildRequestID = orZero(w.BuildRequestID)
		if p.BuildID <= 0 || p.BuildRequestID <= 0 {
			return Push{}, fmt.Errorf("buildbotrest: push of build %d names no build request", p.BuildID)
		}
		p.Kind = PushBuildStarted
		if *w.Complete {
			p.Kind = PushBuildFinished
			if w.Results != nil {
				p.Results = *w.Results
			}
		}
	case w.BuildRequest != nil:
		p.BuildRequestID = orZero(w.BuildRequest.ID)
		if p.BuildRequestID <= 0 {
			return Push{}, errors.New("buildbotrest: push of a build request names no request id")
		}
		if p.BuilderID == 0 {
			p.BuilderID = orZero(w.BuildRequest.BuilderID)
		}
		if p.BuilderName == "" {
			p.BuilderName = w.BuildRequest.BuilderName
		}
		p.Kind = PushOther
		if *w.Complete && w.Results != nil && *w.Results == Cancelled {
			p.Kind = PushRequestCancelled
			p.Results = Cancelled
		}
	default:
		return Push{}, errors.New("buildbotrest: push body is neither a build (no buildid) nor a build request (no buildrequest)")
	}
	return p, nil
}

// TaskID is the taskId property of a build or request ({name: [value,
// source]}), "" when it has none or it is not a string: the one way the
// bridge tells its own requests and builds from others.
func TaskID(props map[string][2]any) string {
	id, _ := props["taskId"][0].(string)
	return id
}
