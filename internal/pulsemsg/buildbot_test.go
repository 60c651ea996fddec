package pulsemsg_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/pulsemsg"
	"github.com/bbbridge/buildbot-bridge/signals"
)

// Bodies shaped as Mozilla's PulseStatus published them through
// mozillapulse (REFERENCE §C): the event under "payload", the envelope's
// metadata under "_meta".
const (
	startedMerged = `{
  "payload": {
    "build": {
      "builderName": "WINNT 5.2 mozilla-beta build",
      "number": 42,
      "sourceStamp": {"branch": "releases/mozilla-beta", "revision": "3b4cb8a5a6a4", "hasPatch": false,
                      "changes": [], "project": "", "repository": "https://hg.mozilla.org/releases/mozilla-beta"},
      "reason": "Created by BBB for task fN1SbArXTPSVFNUvaOlinQ",
      "blame": [],
      "properties": [
        ["branch", "releases/mozilla-beta", "Build"],
        ["buildername", "WINNT 5.2 mozilla-beta build", "Builder"],
        ["buildnumber", 42, "Build"],
        ["master", "http://buildbot-master01.bb.releng.use1.mozilla.com:8001/", "Build"],
        ["product", "firefox", "bbb"],
        ["slavename", "b-2008-ix-0042", "BuildSlave"],
        ["taskId", "fN1SbArXTPSVFNUvaOlinQ", "bbb"]
      ],
      "times": ["2017-10-03T16:11:16+0000", null],
      "text": [],
      "results": null,
      "slave": "b-2008-ix-0042",
      "logs": [],
      "eta": null,
      "steps": [],
      "currentStep": null
    },
    "request_ids": [4711, 4712]
  },
  "_meta": {
    "master_name": "buildbot-master01.bb.releng.use1.mozilla.com:/builds/buildbot/build1/master",
    "master_incarnation": "pid12345-boot1507046400",
    "message_id": 17,
    "exchange": "exchange/build",
    "routing_key": "build.WINNT_5_2_mozilla-beta_build.42.started",
    "serializer": "json",
    "sent": "2017-10-03T16:11:16+00:00"
  }
}`
	startedNoTaskID = `{
  "payload": {
    "build": {"builderName": "Linux x86-64 mozilla-central build", "number": 7, "properties": [
        ["buildername", "Linux x86-64 mozilla-central build", "Builder"],
        ["product", "firefox", "Scheduler"]],
      "results": null},
    "request_ids": [99]
  },
  "_meta": {"master_name": "bm02:/builds/buildbot/build1/master", "master_incarnation": "x", "message_id": 3,
            "exchange": "exchange/build", "routing_key": "build.Linux_x86-64_mozilla-central_build.7.started",
            "serializer": "json", "sent": "2017-10-03T16:11:16+00:00"}
}`
	logUploaded = `{
  "payload": {
    "build": {
      "builderName": "WINNT 5.2 mozilla-beta build",
      "number": 42,
      "sourceStamp": {"branch": "releases/mozilla-beta", "revision": "3b4cb8a5a6a4", "hasPatch": false,
                      "changes": [], "project": "", "repository": "https://hg.mozilla.org/releases/mozilla-beta"},
      "reason": "Created by BBB for task fN1SbArXTPSVFNUvaOlinQ",
      "blame": [],
      "properties": [
        ["buildername", "WINNT 5.2 mozilla-beta build", "Builder"],
        ["log_url", "http://ftp.mozilla.org/pub/firefox/tinderbox-builds/mozilla-beta-win32/1507046476/mozilla-beta-win32-bm01-build1-build42.txt.gz", "postrun.py"],
        ["product", "firefox", "bbb"],
        ["request_ids", [4711, 4712], "postrun.py"],
        ["request_times", {"4711": 1500000000, "4712": 1500000003}, "postrun.py"],
        ["statusdb_id", 90071992547409931, "postrun.py"],
        ["taskId", "fN1SbArXTPSVFNUvaOlinQ", "bbb"]
      ],
      "times": ["2017-10-03T16:11:16+0000", "2017-10-03T17:02:40+0000"],
      "text": ["failed", "compile"],
      "results": 2,
      "slave": "b-2008-ix-0042",
      "logs": [],
      "eta": null,
      "steps": [],
      "currentStep": null
    }
  },
  "_meta": {
    "master_name": "buildbot-master01.bb.releng.use1.mozilla.com:/builds/buildbot/build1/master",
    "master_incarnation": "pid12345-boot1507046400",
    "message_id": 18,
    "exchange": "exchange/build",
    "routing_key": "build.WINNT_5_2_mozilla-beta_build.42.log_uploaded",
    "serializer": "json",
    "sent": "2017-10-03T17:03:00+00:00"
  }
}`
)

const master1 = "buildbot-master01.bb.releng.use1.mozilla.com:/builds/buildbot/build1/master"

func TestDecodeBuildStarted(t *testing.T) {
	tests := []struct {
		name string
		body string
		want pulsemsg.StartedEvent
	}{
		{"merged build with taskId", startedMerged, pulsemsg.StartedEvent{
			BuilderName: "WINNT 5.2 mozilla-beta build", BuildNumber: 42, Master: master1,
			RequestIDs: []int64{4711, 4712}, TaskID: "fN1SbArXTPSVFNUvaOlinQ"}},
		{"build not from the bridge", startedNoTaskID, pulsemsg.StartedEvent{
			BuilderName: "Linux x86-64 mozilla-central build", BuildNumber: 7,
			Master: "bm02:/builds/buildbot/build1/master", RequestIDs: []int64{99}}},
		{"taskId null is no taskId", `{"payload":{"build":{"builderName":"b","number":1,"properties":[["taskId",null,"bbb"]]},"request_ids":[1]},"_meta":{"master_name":"m"}}`,
			pulsemsg.StartedEvent{BuilderName: "b", BuildNumber: 1, Master: "m", RequestIDs: []int64{1}}},
		{"no properties at all", `{"payload":{"build":{"builderName":"b","number":0},"request_ids":[]},"_meta":{"master_name":"m"}}`,
			pulsemsg.StartedEvent{BuilderName: "b", BuildNumber: 0, Master: "m", RequestIDs: []int64{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pulsemsg.DecodeBuildStarted([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeBuildStarted: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestStartedSignalCarriesContentEventID(t *testing.T) {
	e, err := pulsemsg.DecodeBuildStarted([]byte(startedMerged))
	if err != nil {
		t.Fatal(err)
	}
	got := e.Signal("fN1SbArXTPSVFNUvaOlinQ", 4712)
	want := signals.BuildStarted{
		EventID:        "started:4712:" + master1 + ":42",
		TaskID:         "fN1SbArXTPSVFNUvaOlinQ",
		BuildRequestID: 4712,
		BuilderName:    "WINNT 5.2 mozilla-beta build",
		Master:         master1,
		BuildNumber:    42,
	}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestDecodeBuildStartedRejects(t *testing.T) {
	const meta = `"_meta":{"master_name":"m"}`
	tests := []struct {
		name, body, wantInErr string
	}{
		{"not JSON", `build started`, "not a valid message"},
		{"no _meta", `{"payload":{"build":{"builderName":"b","number":1},"request_ids":[1]}}`, "_meta.master_name missing"},
		{"empty master", `{"payload":{"build":{"builderName":"b","number":1},"request_ids":[1]},"_meta":{"master_name":""}}`, "_meta.master_name missing"},
		{"no payload", `{` + meta + `}`, "payload.build missing"},
		{"no build", `{"payload":{"request_ids":[1]},` + meta + `}`, "payload.build missing"},
		{"no builderName", `{"payload":{"build":{"number":1},"request_ids":[1]},` + meta + `}`, "builderName missing"},
		{"no number", `{"payload":{"build":{"builderName":"b"},"request_ids":[1]},` + meta + `}`, "number missing"},
		{"number a string", `{"payload":{"build":{"builderName":"b","number":"1"},"request_ids":[1]},` + meta + `}`, "not a valid message"},
		{"negative number", `{"payload":{"build":{"builderName":"b","number":-1},"request_ids":[1]},` + meta + `}`, "negative"},
		{"no request_ids", `{"payload":{"build":{"builderName":"b","number":1}},` + meta + `}`, "payload.request_ids missing"},
		{"request_ids of strings", `{"payload":{"build":{"builderName":"b","number":1},"request_ids":["1"]},` + meta + `}`, "not a valid message"},
		{"request id zero", `{"payload":{"build":{"builderName":"b","number":1},"request_ids":[0]},` + meta + `}`, "not a BuildRequest id"},
		{"property not a triple", `{"payload":{"build":{"builderName":"b","number":1,"properties":[["taskId","x"]]},"request_ids":[1]},` + meta + `}`, "properties[0] is not a [name, value, source] triple"},
		{"property name not a string", `{"payload":{"build":{"builderName":"b","number":1,"properties":[[1,"x","bbb"]]},"request_ids":[1]},` + meta + `}`, "name is not a string"},
		{"properties not a list", `{"payload":{"build":{"builderName":"b","number":1,"properties":{"taskId":"x"}},"request_ids":[1]},` + meta + `}`, "not a valid message"},
		{"taskId a number", `{"payload":{"build":{"builderName":"b","number":1,"properties":[["taskId",5,"bbb"]]},"request_ids":[1]},` + meta + `}`, "taskId property is not a string"},
		{"taskId with spaces", `{"payload":{"build":{"builderName":"b","number":1,"properties":[["taskId","a b","bbb"]]},"request_ids":[1]},` + meta + `}`, "is not a taskId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pulsemsg.DecodeBuildStarted([]byte(tt.body))
			if err == nil {
				t.Fatalf("accepted %s as %+v", tt.body, got)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not say %q", err, tt.wantInErr)
			}
		})
	}
}

func TestDecodeLogUploaded(t *testing.T) {
	got, err := pulsemsg.DecodeLogUploaded([]byte(logUploaded))
	if err != nil {
		t.Fatalf("DecodeLogUploaded: %v", err)
	}
	if got.BuilderName != "WINNT 5.2 mozilla-beta build" || got.BuildNumber != 42 || got.Master != master1 {
		t.Errorf("build named %q #%d on %q", got.BuilderName, got.BuildNumber, got.Master)
	}
	if got.Results != signals.ResultFailure {
		t.Errorf("results %d, want FAILURE (2)", got.Results)
	}
	if !reflect.DeepEqual(got.RequestIDs, []int64{4711, 4712}) {
		t.Errorf("request ids %v, want [4711 4712] from the request_ids property", got.RequestIDs)
	}
	const wantLog = "http://ftp.mozilla.org/pub/firefox/tinderbox-builds/mozilla-beta-win32/1507046476/mozilla-beta-win32-bm01-build1-build42.txt.gz"
	if got.LogURL != wantLog {
		t.Errorf("log url %q", got.LogURL)
	}

	// public/properties.json is {name: [value, source]}: compare its JSON
	// with what the build's properties say, digit for digit.
	js, err := json.Marshal(got.Properties)
	if err != nil {
		t.Fatal(err)
	}
	const wantProps = `{"buildername":["WINNT 5.2 mozilla-beta build","Builder"],` +
		`"log_url":["` + wantLog + `","postrun.py"],` +
		`"product":["firefox","bbb"],` +
		`"request_ids":[[4711,4712],"postrun.py"],` +
		`"request_times":[{"4711":1500000000,"4712":1500000003},"postrun.py"],` +
		`"statusdb_id":[90071992547409931,"postrun.py"],` +
		`"taskId":["fN1SbArXTPSVFNUvaOlinQ","bbb"]}`
	if string(js) != wantProps {
		t.Errorf("properties as JSON\n got %s\nwant %s", js, wantProps)
	}

	sig := got.Signal("fN1SbArXTPSVFNUvaOlinQ", 4711)
	if sig.EventID != "finished:4711:"+master1+":42" || sig.Results != 2 || sig.LogURL != wantLog ||
		sig.BuildRequestID != 4711 || sig.TaskID != "fN1SbArXTPSVFNUvaOlinQ" || len(sig.Properties) != 7 {
		t.Errorf("signal %+v", sig)
	}
	// payload.build.times, for public/build-result.json.
	start, end := time.Date(2017, 10, 3, 16, 11, 16, 0, time.UTC), time.Date(2017, 10, 3, 17, 2, 40, 0, time.UTC)
	if !sig.StartedAt.Equal(start) || !sig.FinishedAt.Equal(end) {
		t.Errorf("signal's build times %s – %s, want %s – %s", sig.StartedAt, sig.FinishedAt, start, end)
	}
}

// The build's times only inform an artifact: missing or unreadable ones
// are unknown, never a reason to refuse the message.
func TestDecodeLogUploadedBuildTimes(t *testing.T) {
	for _, tc := range []struct {
		times      string
		start, end time.Time
	}{
		{`["2017-10-03T18:11:16+0200", "2017-10-03T17:02:40+0000"]`,
			time.Date(2017, 10, 3, 16, 11, 16, 0, time.UTC), time.Date(2017, 10, 3, 17, 2, 40, 0, time.UTC)},
		{`[1507047076.5, 1507050160]`,
			time.Date(2017, 10, 3, 16, 11, 16, 500e6, time.UTC), time.Date(2017, 10, 3, 17, 2, 40, 0, time.UTC)},
		{`["2017-10-03T16:11:16+0000", null]`, time.Date(2017, 10, 3, 16, 11, 16, 0, time.UTC), time.Time{}},
		{`null`, time.Time{}, time.Time{}},
		{`"yesterday"`, time.Time{}, time.Time{}},
		{`["soon", {}]`, time.Time{}, time.Time{}},
	} {
		body := `{"payload":{"build":{"builderName":"b","number":3,"results":0,"times":` + tc.times + `,"properties":[
			["request_ids",[5],"postrun.py"]]}},"_meta":{"master_name":"m"}}`
		got, err := pulsemsg.DecodeLogUploaded([]byte(body))
		if err != nil {
			t.Errorf("times %s: %v", tc.times, err)
			continue
		}
		if !got.StartedAt.Equal(tc.start) || !got.FinishedAt.Equal(tc.end) {
			t.Errorf("times %s read as %s – %s, want %s – %s", tc.times, got.StartedAt, got.FinishedAt, tc.start, tc.end)
		}
	}
}

func TestDecodeLogUploadedWithoutLogURL(t *testing.T) {
	body := `{"payload":{"build":{"builderName":"b","number":3,"results":0,"properties":[
		["request_ids",[5],"postrun.py"]]}},"_meta":{"master_name":"m"}}`
	got, err := pulsemsg.DecodeLogUploaded([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got.LogURL != "" || got.Results != signals.ResultSuccess || !reflect.DeepEqual(got.RequestIDs, []int64{5}) {
		t.Errorf("got %+v", got)
	}
}

func TestDecodeLogUploadedRejects(t *testing.T) {
	const meta = `"_meta":{"master_name":"m"}`
	build := func(results, props string) string {
		return `{"payload":{"build":{"builderName":"b","number":3,"results":` + results + `,"properties":` + props + `}},` + meta + `}`
	}
	tests := []struct {
		name, body, wantInErr string
	}{
		{"not JSON", "\x00\x01", "not a valid message"},
		{"no results", `{"payload":{"build":{"builderName":"b","number":3,"properties":[["request_ids",[5],"postrun.py"]]}},` + meta + `}`, "results missing"},
		{"results null", build("null", `[["request_ids",[5],"postrun.py"]]`), "results missing"},
		{"results a string", build(`"SUCCESS"`, `[["request_ids",[5],"postrun.py"]]`), "not a valid message"},
		{"no request_ids property", build("0", `[["buildername","b","Builder"]]`), "request_ids property missing"},
		{"request_ids not from postrun.py", build("0", `[["request_ids",[5],"Build"]]`), `not "postrun.py"`},
		{"request_ids not a list", build("0", `[["request_ids",5,"postrun.py"]]`), "not a list"},
		{"request_ids of strings", build("0", `[["request_ids",["5"],"postrun.py"]]`), "item 0 is not a number"},
		{"request_ids fractional", build("0", `[["request_ids",[5.5],"postrun.py"]]`), "not an integer"},
		{"request id negative", build("0", `[["request_ids",[-5],"postrun.py"]]`), "not a BuildRequest id"},
		{"log_url not a string", build("0", `[["log_url",["x"],"postrun.py"],["request_ids",[5],"postrun.py"]]`), "log_url property is not a string"},
		{"source not a string", build("0", `[["request_ids",[5],7]]`), "source is not a string"},
		{"bad property value", build("0", `[["request_ids",[5],"postrun.py"],["x",{"a":},"y"]]`), "not a valid message"},
		{"no master", `{"payload":{"build":{"builderName":"b","number":3,"results":0,"properties":[["request_ids",[5],"postrun.py"]]}}}`, "_meta.master_name missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pulsemsg.DecodeLogUploaded([]byte(tt.body))
			if err == nil {
				t.Fatalf("accepted %s as %+v", tt.body, got)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not say %q", err, tt.wantInErr)
			}
		})
	}
}
