package pulsemsg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bbbridge/buildbot-bridge/signals"
)

// StartedEvent is a build.<builderdir>.<number>.started message.
type StartedEvent struct {
	// BuilderName is payload.build.builderName (the routing key only has
	// the builder's directory name).
	BuilderName string
	BuildNumber int
	// Master is _meta.master_name; with BuildNumber it names the build.
	Master string
	// RequestIDs are the BuildRequests the build serves (payload.request_ids);
	// more than one when Buildbot merged requests.
	RequestIDs []int64
	// TaskID is the build's taskId property, empty when it has none (a
	// build the bridge did not ask for).
	TaskID string
}

// Signal is the build-started signal for one BuildRequest of the build.
func (e StartedEvent) Signal(taskID string, brid int64) signals.BuildStarted {
	return signals.BuildStarted{
		EventID:        signals.StartedEventID(brid, e.Master, e.BuildNumber),
		TaskID:         taskID,
		BuildRequestID: brid,
		BuilderName:    e.BuilderName,
		Master:         e.Master,
		BuildNumber:    e.BuildNumber,
	}
}

// FinishedEvent is a build.<builderdir>.<number>.log_uploaded message, sent
// by postrun.py once the build finished and its log was uploaded.
type FinishedEvent struct {
	BuilderName string
	BuildNumber int
	Master      string
	// Results is Buildbot's result code (signals.ResultSuccess, ...).
	Results int
	// RequestIDs come from the request_ids property postrun.py adds: every
	// BuildRequest the build satisfied.
	RequestIDs []int64
	// LogURL is the log_url property, empty when there is none.
	LogURL string
	// Properties are all build properties as {name: [value, source]}.
	// Numbers are json.Number, so large ids keep every digit. Values are
	// shortened to a note when all of them would exceed
	// MaxPropertiesBytes (see OmittedProperties).
	Properties map[string][2]any
	// OmittedProperties names the properties whose values were replaced.
	OmittedProperties []string
	// StartedAt and FinishedAt are payload.build.times, zero when absent
	// or unreadable: they only inform public/build-result.json, so a
	// message is never refused for them.
	StartedAt, FinishedAt time.Time
}

// Signal is the build-finished signal for one BuildRequest of the build.
func (e FinishedEvent) Signal(taskID string, brid int64) signals.BuildFinished {
	return signals.BuildFinished{
		EventID:        signals.FinishedEventID(brid, e.Master, e.BuildNumber),
		TaskID:         taskID,
		BuildRequestID: brid,
		BuilderName:    e.BuilderName,
		Master:         e.Master,
		BuildNumber:    e.BuildNumber,
		Results:        e.Results,
		Properties:     e.Properties,
		LogURL:         e.LogURL,
		StartedAt:      e.StartedAt,
		FinishedAt:     e.FinishedAt,
	}
}

// bbMessage is mozillapulse's envelope around a PulseStatus event.
type bbMessage struct {
	Payload *struct {
		Build *struct {
			BuilderName *string           `json:"builderName"`
			Number      *int              `json:"number"`
			Results     *int              `json:"results"`
			Properties  []json.RawMessage `json:"properties"`
			Times       json.RawMessage   `json:"times"`
		} `json:"build"`
		RequestIDs *[]int64 `json:"request_ids"`
	} `json:"payload"`
	Meta *struct {
		MasterName *string `json:"master_name"`
	} `json:"_meta"`
}

// property is one [name, value, source] triple of payload.build.properties.
type property struct {
	Name   string
	Value  any
	Source string
}

type buildCommon struct {
	builderName string
	number      int
	master      string
	results     *int
	props       []property
	times       json.RawMessage
}

func decodeBuild(kind string, body []byte) (bbMessage, buildCommon, error) {
	var m bbMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return m, buildCommon{}, fmt.Errorf("pulsemsg: %s: not a valid message: %w", kind, err)
	}
	if m.Meta == nil || m.Meta.MasterName == nil || *m.Meta.MasterName == "" {
		return m, buildCommon{}, fmt.Errorf("pulsemsg: %s: _meta.master_name missing", kind)
	}
	if m.Payload == nil || m.Payload.Build == nil {
		return m, buildCommon{}, fmt.Errorf("pulsemsg: %s: payload.build missing", kind)
	}
	b := m.Payload.Build
	if b.BuilderName == nil || *b.BuilderName == "" {
		return m, buildCommon{}, fmt.Errorf("pulsemsg: %s: payload.build.builderName missing", kind)
	}
	if b.Number == nil {
		return m, buildCommon{}, fmt.Errorf("pulsemsg: %s: payload.build.number missing", kind)
	}
	if *b.Number < 0 {
		return m, buildCommon{}, fmt.Errorf("pulsemsg: %s: payload.build.number %d is negative", kind, *b.Number)
	}
	props, err := decodeProperties(b.Properties)
	if err != nil {
		return m, buildCommon{}, fmt.Errorf("pulsemsg: %s: %w", kind, err)
	}
	return m, buildCommon{
		builderName: *b.BuilderName,
		number:      *b.Number,
		master:      *m.Meta.MasterName,
		results:     b.Results,
		props:       props,
		times:       b.Times,
	}, nil
}

func decodeProperties(raw []json.RawMessage) ([]property, error) {
	out := make([]property, 0, len(raw))
	for i, r := range raw {
		var triple []json.RawMessage
		if err := json.Unmarshal(r, &triple); err != nil || len(triple) != 3 {
			return nil, fmt.Errorf("payload.build.properties[%d] is not a [name, value, source] triple", i)
		}
		var p property
		if err := json.Unmarshal(triple[0], &p.Name); err != nil || p.Name == "" {
			return nil, fmt.Errorf("payload.build.properties[%d]: name is not a string", i)
		}
		if err := json.Unmarshal(triple[2], &p.Source); err != nil {
			return nil, fmt.Errorf("payload.build.properties[%d] (%s): source is not a string", i, truncate(p.Name))
		}
		d := json.NewDecoder(bytes.NewReader(triple[1]))
		d.UseNumber()
		if err := d.Decode(&p.Value); err != nil {
			return nil, fmt.Errorf("payload.build.properties[%d] (%s): %w", i, truncate(p.Name), err)
		}
		out = append(out, p)
	}
	return out, nil
}

func findProperty(props []property, name string) (property, bool) {
	for _, p := range props {
		if p.Name == name {
			return p, true
		}
	}
	return property{}, false
}

func checkRequestIDs(kind, field string, ids []int64) error {
	for _, id := range ids {
		if id <= 0 {
			return fmt.Errorf("pulsemsg: %s: %s holds %d, not a BuildRequest id", kind, field, id)
		}
	}
	return nil
}

// DecodeBuildStarted decodes a build.*.*.started message.
func DecodeBuildStarted(body []byte) (StartedEvent, error) {
	const kind = "started"
	m, c, err := decodeBuild(kind, body)
	if err != nil {
		return StartedEvent{}, err
	}
	if m.Payload.RequestIDs == nil {
		return StartedEvent{}, fmt.Errorf("pulsemsg: %s: payload.request_ids missing", kind)
	}
	ids := *m.Payload.RequestIDs
	if err := checkRequestIDs(kind, "payload.request_ids", ids); err != nil {
		return StartedEvent{}, err
	}
	e := StartedEvent{
		BuilderName: c.builderName,
		BuildNumber: c.number,
		Master:      c.master,
		RequestIDs:  ids,
	}
	if p, ok := findProperty(c.props, "taskId"); ok && p.Value != nil {
		s, isString := p.Value.(string)
		if !isString {
			return StartedEvent{}, fmt.Errorf("pulsemsg: %s: taskId property is not a string", kind)
		}
		if s != "" && !taskIDPattern.MatchString(s) {
			return StartedEvent{}, fmt.Errorf("pulsemsg: %s: taskId property %q is not a taskId", kind, truncate(s))
		}
		e.TaskID = s
	}
	return e, nil
}

// postrunSource is the source postrun.py gives the properties it adds; like
// the original bridge, a request_ids property from anywhere else is refused.
const postrunSource = "postrun.py"

// DecodeLogUploaded decodes a build.*.*.log_uploaded message. The
// BuildRequests come from the request_ids property (the payload has no
// request_ids of its own on this event).
func DecodeLogUploaded(body []byte) (FinishedEvent, error) {
	const kind = "log_uploaded"
	_, c, err := decodeBuild(kind, body)
	if err != nil {
		return FinishedEvent{}, err
	}
	if c.results == nil {
		return FinishedEvent{}, fmt.Errorf("pulsemsg: %s: payload.build.results missing", kind)
	}
	e := FinishedEvent{
		BuilderName: c.builderName,
		BuildNumber: c.number,
		Master:      c.master,
		Results:     *c.results,
		Properties:  make(map[string][2]any, len(c.props)),
	}
	for _, p := range c.props {
		e.Properties[p.Name] = [2]any{p.Value, p.Source}
	}
	e.OmittedProperties = limitProperties(e.Properties, MaxPropertiesBytes)
	e.StartedAt, e.FinishedAt = buildTimes(c.times)
	rp, ok := findProperty(c.props, "request_ids")
	if !ok {
		return FinishedEvent{}, fmt.Errorf("pulsemsg: %s: request_ids property missing", kind)
	}
	if rp.Source != postrunSource {
		return FinishedEvent{}, fmt.Errorf("pulsemsg: %s: request_ids property has source %q, not %q", kind, truncate(rp.Source), postrunSource)
	}
	ids, err := int64s(rp.Value)
	if err != nil {
		return FinishedEvent{}, fmt.Errorf("pulsemsg: %s: request_ids property: %w", kind, err)
	}
	if err := checkRequestIDs(kind, "request_ids property", ids); err != nil {
		return FinishedEvent{}, err
	}
	e.RequestIDs = ids
	if lp, ok := findProperty(c.props, "log_url"); ok && lp.Value != nil {
		s, isString := lp.Value.(string)
		if !isString {
			return FinishedEvent{}, fmt.Errorf("pulsemsg: %s: log_url property is not a string", kind)
		}
		e.LogURL = s
	}
	return e, nil
}

// pulseTime is how PulseStatus's transform_times writes a build's times.
const pulseTime = "2006-01-02T15:04:05-0700"

// buildTimes reads payload.build.times, [start, end]: strings as
// PulseStatus writes them, or epoch seconds as BuildStatus.asDict has them
// before that transform. Anything else is taken as unknown.
func buildTimes(raw json.RawMessage) (start, end time.Time) {
	var times []any
	if json.Unmarshal(raw, &times) != nil || len(times) != 2 {
		return time.Time{}, time.Time{}
	}
	at := func(v any) time.Time {
		switch v := v.(type) {
		case string:
			for _, layout := range []string{pulseTime, time.RFC3339} {
				if t, err := time.Parse(layout, v); err == nil {
					return t.UTC()
				}
			}
		case float64:
			if v > 0 {
				return time.UnixMilli(int64(v * 1000)).UTC()
			}
		}
		return time.Time{}
	}
	return at(times[0]), at(times[1])
}

// int64s reads a property value decoded with UseNumber as a list of integers.
func int64s(v any) ([]int64, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("not a list")
	}
	out := make([]int64, 0, len(list))
	for i, x := range list {
		n, ok := x.(json.Number)
		if !ok {
			return nil, fmt.Errorf("item %d is not a number", i)
		}
		id, err := n.Int64()
		if err != nil {
			return nil, fmt.Errorf("item %d (%s) is not an integer", i, truncate(n.String()))
		}
		out = append(out, id)
	}
	return out, nil
}
