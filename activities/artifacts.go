package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"
)

// Artifact names and types the original bridge attached on finish
// (tcutils.py); downstream tools look for these names.
const (
	PropertiesArtifact     = "public/properties.json"
	PropertiesContentType  = "application/json"
	LogArtifact            = "public/logs/live_backing.log.gz"
	LogArtifactContentType = "application/gzip"
	// BuildResultArtifact is the bridge's own: Buildbot's result, which
	// the run's TC resolution cannot tell exactly (ArtifactsInput.BuildResult).
	BuildResultArtifact    = "public/build-result.json"
	BuildResultContentType = "application/json"
)

// CreateArtifacts attaches the build's properties as public/properties.json
// and the bridge's public/build-result.json (s3 artifacts uploaded to the
// queue's putUrl) and, when the build has a log_url, the reference artifact
// public/logs/live_backing.log.gz, all expiring with the task. Retrying is safe: the queue answers an identical
// createArtifact again with a fresh putUrl.
func (a *Activities) CreateArtifacts(ctx context.Context, in ArtifactsInput) error {
	ref := RunRef{TaskID: in.TaskID, RunID: in.RunID}
	expires := in.Expires
	if expires.IsZero() {
		st, err := a.TaskStatus(ctx, in.TaskID)
		if err != nil {
			return err
		}
		expires = st.Expires
	}
	if !in.NoProperties {
		body, err := json.Marshal(propertiesDoc(in.Properties))
		if err != nil {
			return badPayload(fmt.Sprintf("properties of %s cannot be encoded: %v", runCall("build", ref), err))
		}
		if err := a.createS3Artifact(ctx, ref, PropertiesArtifact, PropertiesContentType, expires, body); err != nil {
			return err
		}
	}
	if in.BuildResult != nil {
		body, err := json.Marshal(in.BuildResult)
		if err != nil {
			return badPayload(fmt.Sprintf("build result of %s cannot be encoded: %v", runCall("build", ref), err))
		}
		if err := a.createS3Artifact(ctx, ref, BuildResultArtifact, BuildResultContentType, expires, body); err != nil {
			return err
		}
	}
	if in.LogURL != "" {
		if err := a.createReferenceArtifact(ctx, ref, LogArtifact, LogArtifactContentType, expires, in.LogURL); err != nil {
			return err
		}
	}
	refs, err := a.bb.References(ctx, in.BuildRequestID, in.BuildID)
	if err != nil {
		return err
	}
	for _, r := range refs {
		if err := a.createReferenceArtifact(ctx, ref, r.Name, r.ContentType, expires, r.URL); err != nil {
			return err
		}
	}
	a.log.InfoContext(ctx, "artifacts created", "taskId", in.TaskID, "runId", in.RunID, "log", in.LogURL != "",
		"buildResult", in.BuildResult != nil, "references", len(refs))
	return nil
}

// propertiesDoc keeps an empty property set a JSON object, not null.
func propertiesDoc(p map[string][2]any) map[string][2]any {
	if p == nil {
		return map[string][2]any{}
	}
	return p
}

func (a *Activities) createS3Artifact(ctx context.Context, ref RunRef, name, contentType string, expires time.Time, body []byte) error {
	req, err := json.Marshal(tcqueue.S3ArtifactRequest{
		StorageType: "s3",
		ContentType: contentType,
		Expires:     tcclient.Time(expires),
	})
	if err != nil {
		return err
	}
	resp, err := a.createArtifact(ctx, ref, name, req)
	if err != nil {
		return err
	}
	var s3 tcqueue.S3ArtifactResponse
	if err := json.Unmarshal(resp, &s3); err != nil || s3.PutURL == "" {
		return fmt.Errorf("taskcluster createArtifact %s: reply has no putUrl", name)
	}
	return a.upload(ctx, s3.PutURL, contentType, body, name)
}

func (a *Activities) createReferenceArtifact(ctx context.Context, ref RunRef, name, contentType string, expires time.Time, target string) error {
	req, err := json.Marshal(tcqueue.RedirectArtifactRequest{
		StorageType: "reference",
		ContentType: contentType,
		Expires:     tcclient.Time(expires),
		URL:         target,
	})
	if err != nil {
		return err
	}
	_, err = a.createArtifact(ctx, ref, name, req)
	return err
}

func (a *Activities) createArtifact(ctx context.Context, ref RunRef, name string, req []byte) ([]byte, error) {
	q, cancel := a.tc(ctx)
	defer cancel()
	payload := tcqueue.PostArtifactRequest(req)
	resp, err := q.CreateArtifact(ref.TaskID, strconv.Itoa(ref.RunID), name, &payload)
	if err != nil {
		return nil, tcError(runCall("createArtifact", ref)+" "+name, err)
	}
	return *resp, nil
}

// upload PUTs body to the queue's signed putUrl. The URL is a credential
// of sorts (a signed upload), so it stays out of errors and logs.
func (a *Activities) upload(ctx context.Context, putURL, contentType string, body []byte, name string) error {
	ctx, cancel := context.WithTimeout(ctx, uploadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, putURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("upload %s: putUrl is not a valid URL", name)
	}
	req.Header.Set("Content-Type", contentType)
	req.ContentLength = int64(len(body))
	resp, err := a.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("upload %s: %w", name, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Retried by the activity policy: the next createArtifact hands
		// out a fresh putUrl, so even an expired signature recovers.
		return fmt.Errorf("upload %s: %s", name, resp.Status)
	}
	return nil
}
