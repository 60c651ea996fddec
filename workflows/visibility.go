package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/signals"
)

// publish brings the search attributes and the memo up to date. Only what
// changed is written, because every upsert is an event in history.
func (t *task) publish(ctx workflow.Context) {
	current := workflow.GetTypedSearchAttributes(ctx)
	var updates []temporal.SearchAttributeUpdate
	keyword := func(key temporal.SearchAttributeKeyKeyword, v string) {
		if old, ok := current.GetKeyword(key); v == "" || (ok && old == v) {
			return
		}
		updates = append(updates, key.ValueSet(v))
	}
	keyword(signals.AttrTaskID, t.id)
	keyword(signals.AttrBuilderName, t.s.BuilderName)
	keyword(signals.AttrTaskState, t.s.Phase)
	if brid := t.s.BuildRequestID; brid != 0 {
		if old, ok := current.GetInt64(signals.AttrBuildRequestID); !ok || old != brid {
			updates = append(updates, signals.AttrBuildRequestID.ValueSet(brid))
		}
	}
	if len(updates) > 0 {
		if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
			t.logger.Error("search attributes not updated", "Error", err)
		}
	}

	memo := Memo{TaskName: t.s.TaskName, BuilderName: t.s.BuilderName, Branch: t.s.Branch, Revision: t.s.Revision}
	if memo == t.s.MemoShown || memo == (Memo{}) {
		return
	}
	fields := map[string]any{}
	if memo.TaskName != "" {
		fields["taskName"] = memo.TaskName
	}
	if memo.BuilderName != "" {
		fields["builderName"] = memo.BuilderName
	}
	if memo.Branch != "" {
		fields["branch"] = memo.Branch
	}
	if memo.Revision != "" {
		fields["revision"] = memo.Revision
	}
	if err := workflow.UpsertMemo(ctx, fields); err != nil {
		t.logger.Error("memo not updated", "Error", err)
		return
	}
	t.s.MemoShown = memo
}
