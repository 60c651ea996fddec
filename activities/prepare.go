package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bbbridge/buildbot-bridge/internal/payload"
	"github.com/bbbridge/buildbot-bridge/internal/schedulerdb"
	"github.com/bbbridge/buildbot-bridge/internal/scopes"
)

// maxColumn is the width, in characters, of Buildbot's VARCHAR(256)
// columns that take the builder name, branch, revision and property names.
// MariaDB in strict mode refuses a longer value and otherwise truncates it,
// so such a task is malformed rather than a DB error retried forever.
const maxColumn = 256

// maxPropertiesTotal bounds a payload's properties once encoded. They
// travel in the task workflow's history (the injection) and come back in
// the build-finished signal with Buildbot's own properties; Temporal warns
// at 512 KiB per payload and fails the workflow task, again and again, at
// 2 MiB. Real bridge payloads are a few KiB.
const maxPropertiesTotal = 256 << 10

// PrepareTask reads the task's definition and decides, in the original
// bridge's order, what to do with it: (1) a builder matching
// ignored_builders, taken from the raw payload even when the rest is
// invalid, is ignored; (2) a payload that fails the schema, (3) a
// restricted builder without the scope for it, (4) a builder missing from
// the allowed list, or a value too long for Buildbot's columns, is
// malformed; otherwise it returns the injection, with the payload's
// properties in their order and as written. The injection's SubmittedAt is
// left for the workflow, which knows the run's scheduled time.
func (a *Activities) PrepareTask(ctx context.Context, in PrepareInput) (Prepared, error) {
	q, cancel := a.tc(ctx)
	def, err := q.Task(in.TaskID)
	cancel()
	if err != nil {
		return Prepared{}, tcError("task "+in.TaskID, err)
	}
	prep := Prepared{
		TaskName:    def.Metadata.Name,
		BuilderName: payload.RawBuilderName(def.Payload),
		Expires:     tcTime(def.Expires),
		Deadline:    tcTime(def.Deadline),
	}
	name := prep.BuilderName

	if name != "" {
		ignored, err := a.ignored.Match(name)
		if err != nil {
			return Prepared{}, fmt.Errorf("ignored_builders: %w", err)
		}
		if ignored {
			return decide(prep, DecisionIgnore, fmt.Sprintf("builder %q matches ignored_builders", name)), nil
		}
	}

	p, err := payload.Parse(def.Payload)
	var perr *payload.Error
	if errors.As(err, &perr) {
		return decide(prep, DecisionMalformed, perr.Error()), nil
	}
	if err != nil {
		return Prepared{}, err
	}

	restricted, err := a.restricted.Match(name)
	if err != nil {
		return Prepared{}, fmt.Errorf("restricted_builders: %w", err)
	}
	if restricted && !scopes.BuilderAllowed(def.Scopes, name) {
		return decide(prep, DecisionMalformed, fmt.Sprintf(
			"builder %q is restricted: the task needs scope %s", name, strings.Join(scopes.BuilderScopes(name), " or "))), nil
	}

	if a.allowed != nil {
		ok, err := a.allowed.Allowed(ctx, name)
		if err != nil {
			// Our outage, not the task's fault: retried, never malformed.
			return Prepared{}, err
		}
		if !ok {
			return decide(prep, DecisionMalformed, fmt.Sprintf("builder %q is not in the allowed builders list", name)), nil
		}
	}

	inj, reason, err := injection(in, def.Payload, p, def.Priority)
	if err != nil {
		return Prepared{}, err
	}
	if reason != "" {
		return decide(prep, DecisionMalformed, reason), nil
	}
	prep.Decision = DecisionInject
	prep.Branch = inj.Sourcestamp.Branch
	prep.Revision = inj.Sourcestamp.Revision
	prep.Injection = inj
	a.log.InfoContext(ctx, "task validated", "taskId", in.TaskID, "runId", in.RunID, "builderName", name)
	return prep, nil
}

func decide(p Prepared, decision, reason string) Prepared {
	p.Decision, p.Reason = decision, reason
	return p
}

// injection builds what InjectBuildRequest writes. reason is set when a
// value cannot fit Buildbot's columns, which makes the task malformed.
func injection(in PrepareInput, raw []byte, p *payload.Payload, priority string) (*InjectInput, string, error) {
	props, err := orderedProperties(raw)
	if err != nil {
		// The schema already accepted this JSON.
		return nil, "", fmt.Errorf("read properties: %w", err)
	}
	total := 0
	for _, prop := range props {
		if n := utf8.RuneCountInString(prop.Name); n > maxColumn {
			return nil, fmt.Sprintf("property name %.40q... is %d characters long, Buildbot stores at most %d", prop.Name, n, maxColumn), nil
		}
		enc, err := schedulerdb.EncodeProperty(prop.Value)
		if errors.Is(err, schedulerdb.ErrPropertyTooLong) {
			return nil, fmt.Sprintf("property %q is too long: %v", prop.Name, err), nil
		} else if err != nil {
			return nil, fmt.Sprintf("property %q cannot be stored: %v", prop.Name, err), nil
		}
		total += len(prop.Name) + len(enc)
	}
	if total > maxPropertiesTotal {
		return nil, fmt.Sprintf("the %d properties are %d bytes once encoded, the bridge accepts at most %d in all",
			len(props), total, maxPropertiesTotal), nil
	}
	inj := &InjectInput{
		TaskID:      in.TaskID,
		RunID:       in.RunID,
		BuilderName: p.BuilderName,
		Properties:  props,
	}
	if ss := p.Sourcestamp; ss != nil {
		inj.Sourcestamp = Sourcestamp{
			Branch:     payload.ShortBranch(ss.Branch),
			Revision:   ss.Revision,
			Repository: ss.Repository,
			Project:    ss.Project,
		}
	}
	if priority == "high" {
		inj.Priority = 1
	}
	for _, f := range []struct{ what, value string }{
		{"buildername", inj.BuilderName},
		{"sourcestamp branch", inj.Sourcestamp.Branch},
		{"sourcestamp revision", inj.Sourcestamp.Revision},
	} {
		if n := utf8.RuneCountInString(f.value); n > maxColumn {
			return nil, fmt.Sprintf("%s is %d characters long, Buildbot stores at most %d", f.what, n, maxColumn), nil
		}
	}
	return inj, "", nil
}
