package signals

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// The form every workflow started before durations were written as strings
// carries in its history (taken from workflows/testdata/histories/2026-11-23/success.json).
const numericStart = `{"taskId":"eSWDpGOOTB-u9d8jDQq51g","timing":{"reclaimLead":300000000000,"finishedGrace":5000000000,"checkInterval":1000000000}}`

func TestTaskStartWithNumericDurationsDecodesAsBefore(t *testing.T) {
	var got TaskStart
	if err := json.Unmarshal([]byte(numericStart), &got); err != nil {
		t.Fatal(err)
	}
	want := Timing{ReclaimLead: 5 * time.Minute, FinishedGrace: 5 * time.Second, CheckInterval: time.Second}
	if got.TaskID != "eSWDpGOOTB-u9d8jDQq51g" || got.Timing != want {
		t.Errorf("decoded %+v, want timing %+v", got, want)
	}
}

func TestTaskStartShowsDurationsAsStrings(t *testing.T) {
	b, err := json.Marshal(TaskStart{TaskID: "x", Timing: DefaultTiming})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"taskId":"x","timing":{"reclaimLead":"5m0s","finishedGrace":"10m0s","checkInterval":"1m0s"}}`
	if string(b) != want {
		t.Errorf("encoded\n%s\nwant\n%s", b, want)
	}
}

func TestTimingRoundTrips(t *testing.T) {
	for _, tm := range []Timing{
		{},
		DefaultTiming,
		{ReclaimLead: 1500 * time.Microsecond, FinishedGrace: -3 * time.Second, CheckInterval: 1},
		{ReclaimLead: math.MaxInt64, FinishedGrace: math.MinInt64, CheckInterval: 26*time.Hour + 7*time.Nanosecond},
	} {
		b, err := json.Marshal(TaskStart{TaskID: "x", Timing: tm})
		if err != nil {
			t.Fatal(err)
		}
		var back TaskStart
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("decoding %s: %v", b, err)
		}
		if back.Timing != tm {
			t.Errorf("%s decoded to %+v, want %+v", b, back.Timing, tm)
		}
	}
}

// A field the input leaves out keeps its zero value, which the workflow
// replaces with the default, as it did before.
func TestTimingMissingFieldsStayZero(t *testing.T) {
	var got TaskStart
	if err := json.Unmarshal([]byte(`{"taskId":"x","timing":{"checkInterval":"7s"}}`), &got); err != nil {
		t.Fatal(err)
	}
	if want := (Timing{CheckInterval: 7 * time.Second}); got.Timing != want {
		t.Errorf("decoded %+v, want %+v", got.Timing, want)
	}
}

func TestBadDurationNamesItsField(t *testing.T) {
	for _, c := range []struct{ input, field, value string }{
		{`{"taskId":"x","timing":{"reclaimLead":"5 minutes"}}`, "timing.reclaimLead", `"5 minutes"`},
		{`{"taskId":"x","timing":{"finishedGrace":1.5e9}}`, "timing.finishedGrace", `1.5e9`},
		{`{"taskId":"x","timing":{"checkInterval":true}}`, "timing.checkInterval", `true`},
	} {
		var got TaskStart
		err := json.Unmarshal([]byte(c.input), &got)
		if err == nil {
			t.Errorf("%s decoded to %+v, want an error", c.input, got)
			continue
		}
		for _, want := range []string{c.field, c.value, `"5m0s"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q for %s does not say %s", err, c.input, want)
			}
		}
	}
}

func TestDurationAloneReadsBothForms(t *testing.T) {
	for in, want := range map[string]Duration{
		`60000000000`: Duration(time.Minute),
		`"1m0s"`:      Duration(time.Minute),
		`"90s"`:       Duration(90 * time.Second),
	} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d != want {
			t.Errorf("%s decoded to %s, %v; want %s", in, d, err, want)
		}
	}
	if b, _ := json.Marshal(Duration(time.Minute)); string(b) != `"1m0s"` {
		t.Errorf("a minute encodes as %s", b)
	}
}
