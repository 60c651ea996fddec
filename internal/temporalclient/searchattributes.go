package temporalclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"github.com/bbbridge/buildbot-bridge/signals"
)

// searchAttributeKey is what the typed keys of package signals have in
// common; their names and types are the ones registered.
type searchAttributeKey interface {
	GetName() string
	GetValueType() enumspb.IndexedValueType
}

// Required lists the search attributes the task workflow upserts, by name
// and type (TaskId, BuilderName, TaskState: Keyword; BuildRequestId: Int).
func Required() map[string]enumspb.IndexedValueType {
	keys := []searchAttributeKey{
		signals.AttrTaskID, signals.AttrBuilderName, signals.AttrBuildRequestID, signals.AttrTaskState,
	}
	m := make(map[string]enumspb.IndexedValueType, len(keys))
	for _, k := range keys {
		m[k.GetName()] = k.GetValueType()
	}
	return m
}

// pollInterval is how often EnsureSearchAttributes looks again while it
// waits for added attributes to show.
const pollInterval = 500 * time.Millisecond

// DefaultEnsureTimeout bounds EnsureSearchAttributes when ctx has no
// deadline.
const DefaultEnsureTimeout = time.Minute

// EnsureSearchAttributes registers the bridge's search attributes (see
// Required) in namespace where they are missing, and waits until the
// namespace lists them all. Upserting an unregistered attribute fails every
// workflow task, so a worker must not poll before this succeeded.
//
// An attribute that exists with another type is an error an operator has to
// resolve: it is never removed or changed here.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	return ensure(ctx, c.OperatorService(), namespace, Required())
}

// operatorAPI is the part of the operator service used here.
type operatorAPI interface {
	ListSearchAttributes(ctx context.Context, in *operatorservice.ListSearchAttributesRequest, opts ...grpc.CallOption) (*operatorservice.ListSearchAttributesResponse, error)
	AddSearchAttributes(ctx context.Context, in *operatorservice.AddSearchAttributesRequest, opts ...grpc.CallOption) (*operatorservice.AddSearchAttributesResponse, error)
}

func ensure(ctx context.Context, op operatorAPI, namespace string, want map[string]enumspb.IndexedValueType) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultEnsureTimeout)
		defer cancel()
	}
	missing, err := missingAttributes(ctx, op, namespace, want)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	// Another worker starting at the same moment may have added them.
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("temporal: add search attributes %s to namespace %s: %w", names(missing), namespace, err)
	}
	for {
		missing, err = missingAttributes(ctx, op, namespace, want)
		if err != nil {
			return err
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal: search attributes %s not visible in namespace %s: %w", names(missing), namespace, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// missingAttributes lists the wanted attributes the namespace does not have
// yet, and fails on one registered with another type.
func missingAttributes(ctx context.Context, op operatorAPI, namespace string, want map[string]enumspb.IndexedValueType) (map[string]enumspb.IndexedValueType, error) {
	resp, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("temporal: list search attributes of namespace %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range want {
		got, ok := resp.GetCustomAttributes()[name]
		if !ok {
			got, ok = resp.GetSystemAttributes()[name]
		}
		switch {
		case !ok:
			missing[name] = typ
		case got != typ:
			return nil, fmt.Errorf("temporal: search attribute %s in namespace %s has type %s, the bridge needs %s", name, namespace, got, typ)
		}
	}
	return missing, nil
}

func names(m map[string]enumspb.IndexedValueType) string {
	var s []string
	for n := range m {
		s = append(s, n)
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}
