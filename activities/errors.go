package activities

import "go.temporal.io/sdk/temporal"

// ErrSelfServeRejected is the type of the non-retryable error returned when
// self-serve refuses a cancel with a 4xx other than a request's 404: asking
// again would be refused again.
const ErrSelfServeRejected = "SelfServeRejected"

func badPayload(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, ErrBadPayload, nil)
}

// ErrBuildRequestNotFound is the type of the non-retryable error returned
// for a BuildRequest id that is not in the scheduler DB.
const ErrBuildRequestNotFound = "BuildRequestNotFound"
