package payload_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bbbridge/buildbot-bridge/internal/payload"
)

// A payload as release automation sent it to the original bridge.
const releasePayload = `{
	"buildername": "release-mozilla-beta-firefox_source",
	"sourcestamp": {
		"branch": "https://hg.mozilla.org/releases/mozilla-beta",
		"revision": "5ab40fcc9a2dd6d5d4ab1d2a6b4b1e2a0f0d8b9c",
		"repository": "https://hg.mozilla.org/releases/mozilla-beta",
		"project": "mozilla-beta"
	},
	"properties": {
		"product": "firefox",
		"version": "52.0b1",
		"build_number": 3,
		"big": 12345678901234567890,
		"ratio": 1.50,
		"signed": true,
		"nothing": null,
		"platforms": ["linux", "win32"],
		"extra": {"nested": [1, {"a": "b"}]}
	}
}`

func TestParseValid(t *testing.T) {
	p, err := payload.Parse(json.RawMessage(releasePayload))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if p.BuilderName != "release-mozilla-beta-firefox_source" {
		t.Errorf("BuilderName = %q", p.BuilderName)
	}
	want := &payload.Sourcestamp{
		Branch:     "https://hg.mozilla.org/releases/mozilla-beta",
		Revision:   "5ab40fcc9a2dd6d5d4ab1d2a6b4b1e2a0f0d8b9c",
		Repository: "https://hg.mozilla.org/releases/mozilla-beta",
		Project:    "mozilla-beta",
	}
	if !reflect.DeepEqual(p.Sourcestamp, want) {
		t.Errorf("Sourcestamp = %+v, want %+v", p.Sourcestamp, want)
	}
	// Property values keep their JSON types; numbers keep their text.
	props := p.Properties
	if props["product"] != "firefox" || props["version"] != "52.0b1" || props["signed"] != true {
		t.Errorf("string/bool properties = %v", props)
	}
	for key, text := range map[string]string{"build_number": "3", "big": "12345678901234567890", "ratio": "1.50"} {
		n, ok := props[key].(json.Number)
		if !ok || n.String() != text {
			t.Errorf("%s = %#v, want json.Number(%s)", key, props[key], text)
		}
	}
	if v, ok := props["nothing"]; !ok || v != nil {
		t.Errorf("nothing = %#v, %v; want a present null", v, ok)
	}
	if got, _ := json.Marshal(props["platforms"]); string(got) != `["linux","win32"]` {
		t.Errorf("platforms = %s", got)
	}
	if got, _ := json.Marshal(props["extra"]); string(got) != `{"nested":[1,{"a":"b"}]}` {
		t.Errorf("extra = %s", got)
	}
}

func TestParseMinimal(t *testing.T) {
	p, err := payload.Parse(json.RawMessage(`{"buildername": "b", "properties": {"product": "firefox"}}`))
	if err != nil {
		t.Fatalf("a payload without sourcestamp is valid: %v", err)
	}
	if p.Sourcestamp != nil {
		t.Errorf("Sourcestamp = %+v, want nil", p.Sourcestamp)
	}
	if len(p.Properties) != 1 {
		t.Errorf("Properties = %v", p.Properties)
	}
	p, err = payload.Parse(json.RawMessage(`{"buildername": "b", "properties": {"product": "x"}, "sourcestamp": {"branch": "try"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if *p.Sourcestamp != (payload.Sourcestamp{Branch: "try"}) {
		t.Errorf("Sourcestamp = %+v", p.Sourcestamp)
	}
}

// One row per rule of the original schema.
func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string // the whole message
	}{
		{"no buildername", `{"properties": {"product": "firefox"}}`,
			`payload: missing property "buildername"`},
		{"empty buildername", `{"buildername": "", "properties": {"product": "firefox"}}`,
			`payload: /buildername: must be at least 1 character long, got 0`},
		{"buildername not a string", `{"buildername": 5, "properties": {"product": "firefox"}}`,
			`payload: /buildername: must be a string, got number`},
		{"no properties", `{"buildername": "b"}`,
			`payload: missing property "properties"`},
		{"properties not an object", `{"buildername": "b", "properties": ["product"]}`,
			`payload: /properties: must be an object, got array`},
		{"no product", `{"buildername": "b", "properties": {"version": "1"}}`,
			`payload: /properties: missing property "product"`},
		{"product empty", `{"buildername": "b", "properties": {"product": ""}}`,
			`payload: /properties/product: must be at least 1 character long, got 0`},
		{"product not a string", `{"buildername": "b", "properties": {"product": 1}}`,
			`payload: /properties/product: must be a string, got number`},
		{"unknown top-level key", `{"buildername": "b", "properties": {"product": "f"}, "priority": "high"}`,
			`payload: property "priority" is not allowed`},
		{"unknown sourcestamp key", `{"buildername": "b", "properties": {"product": "f"}, "sourcestamp": {"branch": "try", "rev": "abc"}}`,
			`payload: /sourcestamp: property "rev" is not allowed`},
		{"branch shorter than 3", `{"buildername": "b", "properties": {"product": "f"}, "sourcestamp": {"branch": "ab"}}`,
			`payload: /sourcestamp/branch: must be at least 3 characters long, got 2`},
		{"branch missing", `{"buildername": "b", "properties": {"product": "f"}, "sourcestamp": {"revision": "abc"}}`,
			`payload: /sourcestamp: missing property "branch"`},
		{"revision not a string", `{"buildername": "b", "properties": {"product": "f"}, "sourcestamp": {"branch": "try", "revision": 123}}`,
			`payload: /sourcestamp/revision: must be a string, got number`},
		{"revision empty", `{"buildername": "b", "properties": {"product": "f"}, "sourcestamp": {"branch": "try", "revision": ""}}`,
			`payload: /sourcestamp/revision: must be at least 1 character long, got 0`},
		{"repository empty", `{"buildername": "b", "properties": {"product": "f"}, "sourcestamp": {"branch": "try", "repository": ""}}`,
			`payload: /sourcestamp/repository: must be at least 1 character long, got 0`},
		{"project not a string", `{"buildername": "b", "properties": {"product": "f"}, "sourcestamp": {"branch": "try", "project": null}}`,
			`payload: /sourcestamp/project: must be a string, got null`},
		{"sourcestamp not an object", `{"buildername": "b", "properties": {"product": "f"}, "sourcestamp": "try"}`,
			`payload: /sourcestamp: must be an object, got string`},
		{"not an object", `["buildername"]`,
			`payload: must be an object, got array`},
		{"several problems at once", `{"buildername": "", "sourcestamp": {"branch": "x"}, "x": 1}`,
			`payload: /buildername: must be at least 1 character long, got 0; /sourcestamp/branch: must be at least 3 characters long, got 1; missing property "properties"; property "x" is not allowed`},
		{"trailing data", `{"buildername": "b", "properties": {"product": "f"}} junk`,
			`payload: not valid JSON: invalid character after top-level value`},
		{"not JSON", `{"buildername": `,
			`payload: not valid JSON: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := payload.Parse(json.RawMessage(tt.raw))
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			msg := err.Error()
			if strings.HasSuffix(tt.want, ": ") {
				if !strings.HasPrefix(msg, tt.want) {
					t.Errorf("error %q does not start with %q", msg, tt.want)
				}
			} else if msg != tt.want {
				t.Errorf("error\n  got  %q\n  want %q", msg, tt.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is not a single paragraph", msg)
			}
			var pe *payload.Error
			if !errors.As(err, &pe) || len(pe.Problems) == 0 {
				t.Errorf("error %T does not carry the problems", err)
			}
		})
	}
}

// Lengths are counted in characters, as JSON Schema does, not bytes.
func TestBranchLengthCountsCharacters(t *testing.T) {
	if _, err := payload.Parse(json.RawMessage(`{"buildername": "b", "properties": {"product": "f"}, "sourcestamp": {"branch": "éé"}}`)); err == nil {
		t.Error("a 2-character (4-byte) branch was accepted")
	}
	if _, err := payload.Parse(json.RawMessage(`{"buildername": "b", "properties": {"product": "f"}, "sourcestamp": {"branch": "ééé"}}`)); err != nil {
		t.Errorf("a 3-character branch was refused: %v", err)
	}
}

func TestRawBuilderName(t *testing.T) {
	tests := []struct {
		raw  string
		want string
	}{
		{`{"buildername": "mozilla-central linux"}`, "mozilla-central linux"},
		{`{"buildername": "alder-foo", "properties": 5, "junk": true}`, "alder-foo"},
		{`{"buildername": ""}`, ""},
		{`{"buildername": 5}`, ""},
		{`{"buildername": null}`, ""},
		{`{"properties": {"product": "x"}}`, ""},
		{`["buildername"]`, ""},
		{`not json`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		if got := payload.RawBuilderName(json.RawMessage(tt.raw)); got != tt.want {
			t.Errorf("RawBuilderName(%s) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestShortBranch(t *testing.T) {
	tests := map[string]string{
		"https://hg.mozilla.org/releases/mozilla-beta":  "releases/mozilla-beta",
		"https://hg.mozilla.org/releases/mozilla-beta/": "releases/mozilla-beta",
		"http://hg.mozilla.org/mozilla-central":         "mozilla-central",
		"ssh://hg.mozilla.org/projects/maple":           "projects/maple",
		"releases/mozilla-beta":                         "releases/mozilla-beta",
		"mozilla-central":                               "mozilla-central",
		"try":                                           "try",
	}
	for in, want := range tests {
		if got := payload.ShortBranch(in); got != want {
			t.Errorf("ShortBranch(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSelfServeBranch(t *testing.T) {
	tests := map[string]string{
		"releases/mozilla-beta":                        "mozilla-beta",
		"projects/maple":                               "maple",
		"mozilla-central":                              "mozilla-central",
		"releases/mozilla-beta/":                       "mozilla-beta",
		"https://hg.mozilla.org/releases/mozilla-beta": "mozilla-beta",
		"": "",
	}
	for in, want := range tests {
		if got := payload.SelfServeBranch(in); got != want {
			t.Errorf("SelfServeBranch(%q) = %q, want %q", in, got, want)
		}
	}
}

// A parsed payload survives a JSON round trip (it travels in workflow
// inputs) with its numbers' text intact.
func TestPayloadJSONRoundTrip(t *testing.T) {
	p, err := payload.Parse(json.RawMessage(releasePayload))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	again, err := payload.Parse(data)
	if err != nil {
		t.Fatalf("re-encoded payload is invalid: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(p, again) {
		t.Errorf("round trip changed the payload:\n%+v\n%+v", p, again)
	}
	if !strings.Contains(string(data), `"big":12345678901234567890`) || !strings.Contains(string(data), `"ratio":1.50`) {
		t.Errorf("numbers lost their text: %s", data)
	}
}
