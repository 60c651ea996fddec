package pulse

import "errors"

// PoisonError marks a message that no retry can handle: it does not decode,
// or the service answered with a permanent refusal. The consumer copies it
// to the dead-letter queue and acknowledges it, so it cannot block the queue.
type PoisonError struct {
	Err error
}

func (e *PoisonError) Error() string { return "poison message: " + e.Err.Error() }

func (e *PoisonError) Unwrap() error { return e.Err }

// Poison wraps err so that the consumer dead-letters the message instead of
// redelivering it. Poison(nil) is nil.
func Poison(err error) error {
	if err == nil {
		return nil
	}
	return &PoisonError{Err: err}
}

// IsPoison reports whether err, or an error it wraps, was made by Poison.
func IsPoison(err error) bool {
	var p *PoisonError
	return errors.As(err, &p)
}
