package temporalclient

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc"
)

// namespaceSAs plays the operator service of a server with SQL visibility:
// added attributes show in the list only after lag more list calls, as
// when the namespace is updated through another frontend.
type namespaceSAs struct {
	mu       sync.Mutex
	custom   map[string]enumspb.IndexedValueType
	pending  map[string]enumspb.IndexedValueType
	lag      int
	addCalls []map[string]enumspb.IndexedValueType
	addErr   error
}

func (n *namespaceSAs) ListSearchAttributes(_ context.Context, in *operatorservice.ListSearchAttributesRequest, _ ...grpc.CallOption) (*operatorservice.ListSearchAttributesResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if in.GetNamespace() != "bridge" {
		return nil, serviceerror.NewNamespaceNotFound(in.GetNamespace())
	}
	if len(n.pending) > 0 {
		if n.lag == 0 {
			for k, v := range n.pending {
				n.custom[k] = v
			}
			n.pending = nil
		} else {
			n.lag--
		}
	}
	out := map[string]enumspb.IndexedValueType{}
	for k, v := range n.custom {
		out[k] = v
	}
	return &operatorservice.ListSearchAttributesResponse{
		CustomAttributes: out,
		SystemAttributes: map[string]enumspb.IndexedValueType{"WorkflowType": enumspb.INDEXED_VALUE_TYPE_KEYWORD},
	}, nil
}

func (n *namespaceSAs) AddSearchAttributes(_ context.Context, in *operatorservice.AddSearchAttributesRequest, _ ...grpc.CallOption) (*operatorservice.AddSearchAttributesResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addCalls = append(n.addCalls, in.GetSearchAttributes())
	if n.addErr != nil {
		return nil, n.addErr
	}
	if n.pending == nil {
		n.pending = map[string]enumspb.IndexedValueType{}
	}
	for k, v := range in.GetSearchAttributes() {
		n.pending[k] = v
	}
	return &operatorservice.AddSearchAttributesResponse{}, nil
}

func TestRequiredAttributesMatchTheDesign(t *testing.T) {
	want := map[string]enumspb.IndexedValueType{
		"TaskId":         enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"BuilderName":    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"TaskState":      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"BuildRequestId": enumspb.INDEXED_VALUE_TYPE_INT,
	}
	got := Required()
	if len(got) != len(want) {
		t.Fatalf("Required() = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Required()[%q] = %v, want %v", k, got[k], v)
		}
	}
}

func TestEnsureAddsOnlyMissingAndWaitsUntilListed(t *testing.T) {
	ns := &namespaceSAs{
		custom: map[string]enumspb.IndexedValueType{"TaskId": enumspb.INDEXED_VALUE_TYPE_KEYWORD},
		lag:    3,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ensure(ctx, ns, "bridge", Required()); err != nil {
		t.Fatalf("ensure: %v", err)
	}
	if len(ns.addCalls) != 1 {
		t.Fatalf("AddSearchAttributes called %d times, want 1", len(ns.addCalls))
	}
	added := ns.addCalls[0]
	if _, ok := added["TaskId"]; ok || len(added) != 3 {
		t.Errorf("added %v, want BuilderName, TaskState, BuildRequestId only", added)
	}
	if added["BuildRequestId"] != enumspb.INDEXED_VALUE_TYPE_INT {
		t.Errorf("BuildRequestId added as %v, want Int", added["BuildRequestId"])
	}
	if len(ns.custom) != 4 || ns.lag != 0 {
		t.Errorf("ensure returned before the namespace listed all four (custom %v, lag left %d)", ns.custom, ns.lag)
	}

	// A second start finds everything and adds nothing.
	if err := ensure(ctx, ns, "bridge", Required()); err != nil {
		t.Fatalf("second ensure: %v", err)
	}
	if len(ns.addCalls) != 1 {
		t.Errorf("second ensure called AddSearchAttributes again")
	}
}

func TestEnsureRefusesAttributeOfAnotherType(t *testing.T) {
	ns := &namespaceSAs{custom: map[string]enumspb.IndexedValueType{"BuildRequestId": enumspb.INDEXED_VALUE_TYPE_KEYWORD}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := ensure(ctx, ns, "bridge", Required())
	if err == nil || !strings.Contains(err.Error(), "BuildRequestId") {
		t.Fatalf("ensure = %v, want an error naming BuildRequestId", err)
	}
	if len(ns.addCalls) != 0 {
		t.Errorf("ensure added attributes despite the conflict: %v", ns.addCalls)
	}
}

func TestEnsureAcceptsConcurrentAdd(t *testing.T) {
	ns := &namespaceSAs{custom: map[string]enumspb.IndexedValueType{}}
	ns.addErr = serviceerror.NewAlreadyExists("Search attribute BuilderName already exists.")
	// The other worker's add lands while ours is refused.
	ns.pending = Required()
	ns.lag = 2
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ensure(ctx, ns, "bridge", Required()); err != nil {
		t.Fatalf("ensure: %v", err)
	}
}

func TestEnsureGivesUpWithTheContext(t *testing.T) {
	ns := &namespaceSAs{custom: map[string]enumspb.IndexedValueType{}, lag: 1 << 30}
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	err := ensure(ctx, ns, "bridge", Required())
	if err == nil || !strings.Contains(err.Error(), "not visible") {
		t.Fatalf("ensure = %v, want a not-visible error", err)
	}
}

func TestEnsureReportsUnknownNamespace(t *testing.T) {
	ns := &namespaceSAs{custom: map[string]enumspb.IndexedValueType{}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := ensure(ctx, ns, "nope", Required())
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("ensure = %v, want an error naming the namespace", err)
	}
}
