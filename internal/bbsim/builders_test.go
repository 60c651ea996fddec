package bbsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"
)

// The masters' builders are listed where the bridge's allowed_builders_url
// can read them, and a request for another builder is left alone.
func TestBuildersListAndOtherBuildersLeftAlone(t *testing.T) {
	fx := newFixture(t, "sqlite")
	sim := fx.startSim(t, Options{Builders: []string{"linux64", "win64"}})
	u := sim.BuildersURL()
	if u == "" {
		t.Fatal("BuildersURL() is empty with Options.Builders set")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Builders map[string]json.RawMessage `json:"builders"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", u, resp.StatusCode, err)
	}
	var names []string
	for n := range doc.Builders {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"linux64", "win64"}) {
		t.Errorf("builders listed: %v, want linux64 and win64", names)
	}

	brid := fx.inject(t, "Bq8XvRk2T0eTl4wVd7n1sA", "nosuchbuilder", "projects/alder")
	time.Sleep(5 * 200 * time.Millisecond) // five polls
	if r := fx.request(t, brid); r.complete != 0 || r.claimedAt != 0 {
		t.Errorf("request for a builder no master has: %+v, want left pending", r)
	}
	if b := sim.Builds(); len(b) != 0 {
		t.Errorf("builds: %+v, want none", b)
	}
}

func TestBuildersURLEmptyWhenEveryBuilderIsServed(t *testing.T) {
	sim := newFixture(t, "sqlite").startSim(t, Options{})
	if u := sim.BuildersURL(); u != "" {
		t.Errorf("BuildersURL() = %q with no Options.Builders, want empty", u)
	}
}
