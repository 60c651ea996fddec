package signals

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"time"
)

// Duration is a time.Duration as it is written in a workflow's input: a Go
// duration string ("5m0s"), because the Web UI shows inputs as JSON and a
// time.Duration there reads as nanoseconds (300000000000).
//
// It still reads the number of nanoseconds: workflows started or continued
// by an earlier bridge carry that form in their history, and a replay must
// decode it to the same value.
type Duration time.Duration

// MarshalJSON writes d as Go writes a duration.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string or a whole number of nanoseconds.
// Its error is a *json.UnmarshalTypeError, to which encoding/json adds the
// path of the field (timing.reclaimLead), so a bad input names its field.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return durationError(b)
		}
		*d = Duration(v)
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return durationError(b)
	}
	*d = Duration(v)
	return nil
}

func durationError(b []byte) error {
	return &json.UnmarshalTypeError{
		Value: string(b) + ` (want a duration such as "5m0s", or a whole number of nanoseconds)`,
		Type:  reflect.TypeFor[Duration](),
	}
}

// String is the duration as Go writes it.
func (d Duration) String() string { return time.Duration(d).String() }
