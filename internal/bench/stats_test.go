package bench

import (
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 95: 95 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond} {
		if got := percentile(ds, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if got := percentile([]time.Duration{7 * time.Second}, 99); got != 7*time.Second {
		t.Errorf("p99 of one sample = %v", got)
	}
}

func TestSustainedRateSkipsTheWarmUp(t *testing.T) {
	start := time.Now()
	var ts []time.Time
	// A slow start (10 events over 100 s), then one event per second.
	for i := range 10 {
		ts = append(ts, start.Add(time.Duration(i)*10*time.Second))
	}
	for i := range 91 {
		ts = append(ts, start.Add(100*time.Second+time.Duration(i)*time.Second))
	}
	if got := sustainedRate(ts); got < 0.999 || got > 1.001 {
		t.Errorf("sustained rate = %v/s, want 1/s", got)
	}
}
