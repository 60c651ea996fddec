package pulsemsg_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/pulsemsg"
)

// A build whose properties hold megabytes (a test report stored in one)
// still resolves its task: the largest values give way to a note, the
// small ones and those the bridge reads are kept as they were.
func TestHugePropertiesAreShortenedToFitASignal(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	big := strings.Repeat("y", 200<<10)
	props := [][3]any{
		{"request_ids", []int{7, 8}, "postrun.py"},
		{"log_url", "http://example.com/log.txt.gz", "postrun.py"},
		{"taskId", "fN1SbArXTPSVFNUvaOlinQ", "bbb"},
		{"product", "firefox", "bbb"},
		{"testreport", huge, "Build"},
		{"summary", big, "Build"},
		{"more", big, "Build"},
	}
	raw, _ := json.Marshal(props)
	body := fmt.Sprintf(`{"payload":{"build":{"builderName":"b","number":3,"results":0,"properties":%s}},"_meta":{"master_name":"m"}}`, raw)
	got, err := pulsemsg.DecodeLogUploaded([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	// testreport alone is over the limit, and with it gone the two
	// 200 KiB values still are; one of them must go too.
	if len(got.OmittedProperties) != 2 || got.OmittedProperties[0] != "testreport" {
		t.Fatalf("omitted %v, want testreport and one of summary/more", got.OmittedProperties)
	}
	sig := got.Signal("fN1SbArXTPSVFNUvaOlinQ", 7)
	js, err := json.Marshal(sig.Properties)
	if err != nil {
		t.Fatal(err)
	}
	if len(js) > pulsemsg.MaxPropertiesBytes {
		t.Errorf("properties still %d bytes, limit %d", len(js), pulsemsg.MaxPropertiesBytes)
	}
	note, _ := sig.Properties["testreport"][0].(string)
	if !strings.Contains(note, "omitted by the buildbot bridge") || sig.Properties["testreport"][1] != "Build" {
		t.Errorf("testreport became %v, want a note with its source kept", sig.Properties["testreport"])
	}
	for _, name := range []string{"request_ids", "log_url", "taskId", "product"} {
		if _, ok := sig.Properties[name]; !ok {
			t.Errorf("property %s lost", name)
		}
	}
	if sig.Properties["product"] != [2]any{"firefox", "bbb"} || sig.LogURL != "http://example.com/log.txt.gz" ||
		!reflect.DeepEqual(got.RequestIDs, []int64{7, 8}) {
		t.Errorf("small properties changed: product %v, log %q, request ids %v", sig.Properties["product"], sig.LogURL, got.RequestIDs)
	}
	kept := 0
	for _, name := range []string{"summary", "more"} {
		if sig.Properties[name][0] == big {
			kept++
		}
	}
	if kept != 1 {
		t.Errorf("%d of the two 200 KiB values kept, want 1 (the limit has room for one)", kept)
	}
}

func TestOrdinaryPropertiesAreUntouched(t *testing.T) {
	got, err := pulsemsg.DecodeLogUploaded([]byte(logUploaded))
	if err != nil {
		t.Fatal(err)
	}
	if got.OmittedProperties != nil {
		t.Errorf("omitted %v from an ordinary build", got.OmittedProperties)
	}
}
