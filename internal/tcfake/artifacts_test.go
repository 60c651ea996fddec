package tcfake_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
)

func s3Request(t *testing.T, contentType string, expires time.Time) *tcqueue.PostArtifactRequest {
	t.Helper()
	r := tcqueue.PostArtifactRequest(mustJSON(t, tcqueue.S3ArtifactRequest{StorageType: "s3", ContentType: contentType, Expires: tcclient.Time(expires)}))
	return &r
}

func referenceRequest(t *testing.T, url string, expires time.Time) *tcqueue.PostArtifactRequest {
	t.Helper()
	r := tcqueue.PostArtifactRequest(mustJSON(t, tcqueue.RedirectArtifactRequest{StorageType: "reference", ContentType: "application/gzip", URL: url, Expires: tcclient.Time(expires)}))
	return &r
}

func TestArtifactRules(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.createTask(t, 0)
	exp := e.clock.Now().Add(24 * time.Hour)

	// Not claimed yet, unknown task, unknown run: 400 as upstream.
	_, err := e.queue.CreateArtifact(id, "0", "public/a.txt", s3Request(t, "text/plain", exp))
	wantAPIError(t, err, 400, "InputError")
	_, err = e.queue.CreateArtifact(newTaskID(t), "0", "public/a.txt", s3Request(t, "text/plain", exp))
	wantAPIError(t, err, 400, "InputError")
	_, err = e.queue.CreateArtifact(id, "3", "public/a.txt", s3Request(t, "text/plain", exp))
	wantAPIError(t, err, 400, "InputError")

	e.claim(t, id, "0")
	_, err = e.queue.CreateArtifact(id, "0", "public/a.txt", s3Request(t, "text/plain", e.clock.Now().Add(72*time.Hour)))
	body := wantAPIError(t, err, 400, "InputError")
	if !bytes.Contains([]byte(body.Message), []byte("after the task expiration")) {
		t.Errorf("message = %q", body.Message)
	}

	if _, err := e.queue.CreateArtifact(id, "0", "public/a.txt", s3Request(t, "text/plain", exp)); err != nil {
		t.Fatalf("CreateArtifact: %v", err)
	}
	// Identical again (e.g. to refresh the URL), and with a later expiry: fine.
	if _, err := e.queue.CreateArtifact(id, "0", "public/a.txt", s3Request(t, "text/plain", exp)); err != nil {
		t.Fatalf("identical repeat: %v", err)
	}
	if _, err := e.queue.CreateArtifact(id, "0", "public/a.txt", s3Request(t, "text/plain", exp.Add(time.Hour))); err != nil {
		t.Fatalf("extending expires: %v", err)
	}
	_, err = e.queue.CreateArtifact(id, "0", "public/a.txt", s3Request(t, "application/json", exp.Add(time.Hour)))
	wantAPIError(t, err, 409, "RequestConflict")
	_, err = e.queue.CreateArtifact(id, "0", "public/a.txt", s3Request(t, "text/plain", exp))
	wantAPIError(t, err, 409, "RequestConflict")

	// A reference may be repointed.
	if _, err := e.queue.CreateArtifact(id, "0", "public/log.gz", referenceRequest(t, "https://example.com/1.gz", exp)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.queue.CreateArtifact(id, "0", "public/log.gz", referenceRequest(t, "https://example.com/2.gz", exp)); err != nil {
		t.Fatalf("repointing a reference: %v", err)
	}
	got, err := e.queue.GetArtifact(id, "0", "public/log.gz")
	if err != nil || got.URL != "https://example.com/2.gz" {
		t.Fatalf("GetArtifact = %+v, %v", got, err)
	}

	// A link is followed to what it names.
	link := tcqueue.PostArtifactRequest(mustJSON(t, tcqueue.LinkArtifactRequest{
		StorageType: "link", Artifact: "public/log.gz", Expires: tcclient.Time(exp)}))
	if _, err := e.queue.CreateArtifact(id, "0", "public/latest.log.gz", &link); err != nil {
		t.Fatalf("link artifact: %v", err)
	}
	if got, err := e.queue.GetArtifact(id, "0", "public/latest.log.gz"); err != nil || got.URL != "https://example.com/2.gz" {
		t.Errorf("GetArtifact through a link = %+v, %v", got, err)
	}

	// An error artifact answers 424 with its reason.
	errReq := tcqueue.PostArtifactRequest(mustJSON(t, tcqueue.ErrorArtifactRequest{
		StorageType: "error", Reason: "file-missing-on-worker", Message: "no log", Expires: tcclient.Time(exp)}))
	if _, err := e.queue.CreateArtifact(id, "0", "public/missing.log", &errReq); err != nil {
		t.Fatalf("error artifact: %v", err)
	}
	e.checkReply(t, "post-artifact-response")
	_, err = e.queue.GetArtifact(id, "0", "public/missing.log")
	var apiErr *tcclient.APICallException
	if !errors.As(err, &apiErr) || apiErr.CallSummary.HTTPResponse.StatusCode != http.StatusFailedDependency {
		t.Errorf("GetArtifact of an error artifact: %v", err)
	}

	// The upload must carry the content type given to createArtifact.
	raw, err := e.queue.CreateArtifact(id, "0", "public/b.txt", s3Request(t, "text/plain", exp))
	if err != nil {
		t.Fatal(err)
	}
	var s3resp tcqueue.S3ArtifactResponse
	unmarshal(t, *raw, &s3resp)
	if code := putStatus(t, s3resp.PutURL, "application/octet-stream", []byte("x")); code != http.StatusForbidden {
		t.Errorf("upload with another content type: %d, want 403", code)
	}

	if _, err := e.queue.ReportCompleted(id, "0"); err != nil {
		t.Fatal(err)
	}
	_, err = e.queue.CreateArtifact(id, "0", "public/late.txt", s3Request(t, "text/plain", exp))
	wantAPIError(t, err, 409, "RequestConflict")
	// Uploading to a URL obtained before resolution still works, as with S3.
	if code := putStatus(t, s3resp.PutURL, "text/plain", []byte("late data")); code != http.StatusOK {
		t.Errorf("upload after resolution: %d", code)
	}
}

func TestArtifactsAfterException(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.createTask(t, 0)
	e.claim(t, id, "0")
	if _, err := e.queue.ReportException(id, "0", &tcqueue.TaskExceptionRequest{Reason: "malformed-payload"}); err != nil {
		t.Fatal(err)
	}
	exp := e.clock.Now().Add(24 * time.Hour)
	e.clock.Advance(24 * time.Minute)
	if _, err := e.queue.CreateArtifact(id, "0", "public/logs/live_backing.log.gz", referenceRequest(t, "https://example.com/l.gz", exp)); err != nil {
		t.Fatalf("artifact 24 min after exception: %v", err)
	}
	e.clock.Advance(2 * time.Minute)
	_, err := e.queue.CreateArtifact(id, "0", "public/properties.json", s3Request(t, "application/json", exp))
	wantAPIError(t, err, 409, "RequestConflict")
}

func putStatus(t *testing.T, url, contentType string, data []byte) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
