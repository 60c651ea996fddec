package bbsim

import (
	"context"
	"encoding/json"
	"strconv"
	"time"
)

// envelope is mozillapulse's message body: the event's data, and _meta.
type envelope struct {
	Payload any  `json:"payload"`
	Meta    meta `json:"_meta"`
}

type meta struct {
	MasterName        string `json:"master_name"`
	MasterIncarnation string `json:"master_incarnation"`
	MessageID         int64  `json:"message_id"`
	Exchange          string `json:"exchange"`
	RoutingKey        string `json:"routing_key"`
	Serializer        string `json:"serializer"`
	Sent              string `json:"sent"`
}

// buildDict is BuildStatus.asDict() after PulseStatus's transform_times.
type buildDict struct {
	BuilderName string          `json:"builderName"`
	Number      int             `json:"number"`
	SourceStamp sourceStampDict `json:"sourceStamp"`
	Reason      string          `json:"reason"`
	Blame       []string        `json:"blame"`
	Properties  [][3]any        `json:"properties"`
	Times       [2]*string      `json:"times"`
	Text        []string        `json:"text"`
	Results     *int            `json:"results"`
	Slave       string          `json:"slave"`
	Logs        [][2]string     `json:"logs"`
	ETA         *float64        `json:"eta"`
	Steps       []any           `json:"steps"`
	CurrentStep any             `json:"currentStep"`
}

// sourceStampDict is SourceStamp.asDict().
type sourceStampDict struct {
	Branch     *string `json:"branch"`
	Revision   *string `json:"revision"`
	HasPatch   bool    `json:"hasPatch"`
	Changes    []any   `json:"changes"`
	Project    string  `json:"project"`
	Repository string  `json:"repository"`
}

// pulseTime is PulseStatus's transform_time format.
const pulseTime = "2006-01-02T15:04:05-0700"

func (b *build) dict(props []property, result *int, start, end time.Time, text []string) buildDict {
	lead := b.reqs[0]
	b.mu.Lock()
	number := b.number
	b.mu.Unlock()
	d := buildDict{
		BuilderName: b.builder,
		Number:      number,
		SourceStamp: sourceStampDict{
			Branch:     strPtr(lead.Branch),
			Revision:   strPtr(lead.Revision),
			Changes:    []any{},
			Project:    lead.Project,
			Repository: lead.Repository,
		},
		Reason:     lead.Reason,
		Blame:      []string{},
		Properties: make([][3]any, len(props)),
		Text:       text,
		Results:    result,
		Slave:      b.slave,
		Logs:       [][2]string{},
		Steps:      []any{},
	}
	for i, p := range props {
		d.Properties[i] = [3]any{p.Name, p.Value, p.Source}
	}
	st := start.UTC().Format(pulseTime)
	d.Times[0] = &st
	if !end.IsZero() {
		et := end.UTC().Format(pulseTime)
		d.Times[1] = &et
	}
	return d
}

func (b *build) startedPayload(props []property) any {
	b.mu.Lock()
	start := b.started
	b.mu.Unlock()
	return map[string]any{
		"build":       b.dict(props, nil, start, time.Time{}, []string{}),
		"request_ids": b.brids(),
	}
}

func (b *build) finishedPayload(props []property, result int, start, end time.Time) any {
	return map[string]any{
		"build":       b.dict(props, &result, start, end, resultText(result)),
		"request_ids": b.brids(),
		"results":     result,
	}
}

func (b *build) logUploadedPayload(props []property, result int, start, end time.Time, logURL string) any {
	return map[string]any{
		"build": b.dict(b.postrunProperties(props, logURL), &result, start, end, resultText(result)),
	}
}

// publishTimeout bounds one publish attempt (the publisher waits for the
// broker's confirm); publishTries is how many attempts an event gets before
// it is dropped, as PulseStatus dropped events it could not send.
const (
	publishTimeout = 30 * time.Second
	publishTries   = 5
)

// publish sends the event build.<builderdir>.<number>.<kind>, twice when
// the attempt duplicates events.
func (b *build) publish(ctx context.Context, kind string, payload any) {
	b.mu.Lock()
	number := b.number
	b.mu.Unlock()
	key := "build." + b.builderDir + "." + strconv.Itoa(number) + "." + kind
	n := 1
	if b.attempt.DuplicateEvents {
		n = 2
	}
	body := b.m.envelope(key, payload)
	for range n {
		b.m.sim.publish(ctx, key, body)
	}
}

func (m *master) envelope(key string, payload any) []byte {
	body, err := json.Marshal(envelope{
		Payload: payload,
		Meta: meta{
			MasterName:        m.id.name,
			MasterIncarnation: m.id.incarnation,
			MessageID:         m.msgSeq.Add(1),
			Exchange:          m.sim.opts.Exchange,
			RoutingKey:        key,
			Serializer:        "json",
			Sent:              time.Now().UTC().Format(time.RFC3339),
		},
	})
	if err != nil {
		// Every value here comes from JSON or is a plain Go value.
		panic("bbsim: cannot encode event: " + err.Error())
	}
	return body
}

func (s *Sim) publish(ctx context.Context, key string, body []byte) {
	wait := 100 * time.Millisecond
	for i := 1; ; i++ {
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		err := s.opts.Publisher.Publish(pctx, s.opts.Exchange, key, body)
		cancel()
		if err == nil {
			s.log.Debug("bbsim: published", "routing_key", key)
			return
		}
		if ctx.Err() != nil {
			return
		}
		if i >= publishTries {
			s.log.Error("bbsim: event dropped", "routing_key", key, "err", err)
			return
		}
		s.log.Warn("bbsim: publish failed, retrying", "routing_key", key, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
