package payload_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/bbbridge/buildbot-bridge/internal/payload"
)

// FuzzParse: Parse never panics, accepts exactly the payloads the
// original's schema (REFERENCE §F, restated independently below) accepts,
// and hands back the properties and sourcestamp exactly as written.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"buildername": "release-mozilla-beta-firefox_source", "sourcestamp": {"branch": "https://hg.mozilla.org/releases/mozilla-beta", "revision": "3b4cb8a5a6a4"}, "properties": {"product": "firefox", "version": "57.0b5", "build_number": 1, "release_promotion": true, "revision": "3b4cb8a5a6a4"}}`,
		`{"buildername": "WINNT 5.2 mozilla-beta build", "properties": {"product": "firefox"}}`,
		`{"buildername": "b", "sourcestamp": {"branch": "releases/mozilla-release", "repository": "https://hg.mozilla.org/releases/mozilla-release", "project": "mozilla-release"}, "properties": {"product": "thunderbird", "nested": {"a": [1, 2.50, null, {"b": false}]}, "big": 12345678901234567890}}`,
		`{"buildername": "b", "sourcestamp": {"branch": "ab"}, "properties": {"product": "firefox"}}`,
		`{"buildername": "", "properties": {"product": ""}}`,
		`{"buildername": "b", "properties": {"product": "firefox"}, "extra": 1}`,
		`{"buildername": "b", "sourcestamp": null, "properties": {"product": "firefox"}}`,
		`{"buildername": "b", "properties": {"product": "firefox"}} trailing`,
		`{"buildername": "\u00e9", "properties": {"product": "\ud83d\ude00"}}`,
		`[]`, `null`, `"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := payload.Parse(raw)
		want, why := referenceParse(raw)
		if err != nil {
			var perr *payload.Error
			if !errors.As(err, &perr) || len(perr.Problems) == 0 {
				t.Fatalf("Parse(%q) failed without saying why: %v", raw, err)
			}
			if want != nil {
				t.Fatalf("Parse(%q) refused a payload the schema accepts: %v", raw, err)
			}
			return
		}
		if want == nil {
			t.Fatalf("Parse(%q) accepted a payload the schema refuses (%s)", raw, why)
		}
		if p.BuilderName != want.BuilderName {
			t.Fatalf("buildername %q, want %q", p.BuilderName, want.BuilderName)
		}
		if !reflect.DeepEqual(p.Sourcestamp, want.Sourcestamp) {
			t.Fatalf("sourcestamp %+v, want %+v", p.Sourcestamp, want.Sourcestamp)
		}
		// Properties re-encoded and read back are the ones written.
		js, err := json.Marshal(p.Properties)
		if err != nil {
			t.Fatalf("properties do not encode: %v", err)
		}
		var got map[string]any
		if err := decode(js, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want.Properties) {
			t.Fatalf("properties round-trip to %s, want %v", js, want.Properties)
		}
		if name := payload.RawBuilderName(raw); name != p.BuilderName {
			t.Fatalf("RawBuilderName %q, Parse %q", name, p.BuilderName)
		}
	})
}

// decode reads exactly one JSON value, numbers as json.Number.
func decode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// referenceParse is the payload schema in words (bbb/schemas/payload.yml):
// an object with only buildername, sourcestamp and properties; buildername
// a string of at least 1 character; properties an object whose product is
// a string of at least 1 character; sourcestamp, if present, an object
// with only branch (string, at least 3), revision, repository, project
// (strings, at least 1). It returns nil and the reason when refused.
func referenceParse(raw []byte) (*payload.Payload, string) {
	var top map[string]any
	if err := decode(raw, &top); err != nil || top == nil {
		return nil, "not a JSON object"
	}
	for k := range top {
		if k != "buildername" && k != "sourcestamp" && k != "properties" {
			return nil, "extra key " + k
		}
	}
	longEnough := func(v any, n int) (string, bool) {
		s, ok := v.(string)
		return s, ok && utf8.RuneCountInString(s) >= n
	}
	name, ok := longEnough(top["buildername"], 1)
	if !ok {
		return nil, "buildername"
	}
	props, ok := top["properties"].(map[string]any)
	if !ok {
		return nil, "properties"
	}
	if _, ok := longEnough(props["product"], 1); !ok {
		return nil, "product"
	}
	p := &payload.Payload{BuilderName: name, Properties: props}
	if v, present := top["sourcestamp"]; present {
		ss, ok := v.(map[string]any)
		if !ok {
			return nil, "sourcestamp not an object"
		}
		p.Sourcestamp = &payload.Sourcestamp{}
		fields := map[string]*string{"branch": &p.Sourcestamp.Branch, "revision": &p.Sourcestamp.Revision,
			"repository": &p.Sourcestamp.Repository, "project": &p.Sourcestamp.Project}
		for k, v := range ss {
			dst, known := fields[k]
			if !known {
				return nil, "sourcestamp extra key " + k
			}
			min := 1
			if k == "branch" {
				min = 3
			}
			s, ok := longEnough(v, min)
			if !ok {
				return nil, "sourcestamp." + k
			}
			*dst = s
		}
		if _, ok := ss["branch"]; !ok {
			return nil, "sourcestamp.branch missing"
		}
	}
	return p, ""
}
