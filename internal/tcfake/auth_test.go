package tcfake_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	"github.com/taskcluster/taskcluster/v44/clients/client-go/tcqueue"

	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

const (
	bridgeClient  = "project/releng/buildbot-bridge"
	bridgeToken   = "bridge-access-token-0123456789abcdef0123456789"
	limitedClient = "project/releng/limited"
	limitedToken  = "limited-access-token-0123456789abcdef012345678"
)

func authClients() map[string]tcfake.Client {
	return map[string]tcfake.Client{
		bridgeClient: {AccessToken: bridgeToken, Scopes: []string{
			"queue:create-task:project:none",
			"queue:scheduler-id:" + schedulerID,
			"queue:create-task:lowest:" + provisionerID + "/" + workerType,
			"queue:claim-task:" + provisionerID + "/" + workerType,
			"queue:worker-id:" + workerGroup + "/*",
			"queue:reclaim-task:*",
			"queue:resolve-task:*",
			"queue:create-artifact:*",
			"queue:cancel-task:" + schedulerID + "/*",
			"queue:rerun-task:" + schedulerID + "/*",
			"queue:get-artifact:private/*",
		}},
		limitedClient: {AccessToken: limitedToken, Scopes: []string{
			"queue:claim-task:" + provisionerID + "/" + workerType,
		}},
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, envOptions{
		clients: authClients(),
		creds:   &tcclient.Credentials{ClientID: bridgeClient, AccessToken: bridgeToken},
	})
	id := e.createTask(t, 0)

	anonymous := e.client(nil)
	if _, err := anonymous.Status(id); err != nil {
		t.Errorf("anonymous Status (anonymous role): %v", err)
	}
	_, err := anonymous.CreateTask(newTaskID(t), taskDefinition(e.clock.Now(), 0))
	body := wantAPIError(t, err, 403, "InsufficientScopes")
	if !strings.Contains(body.Message, "queue:scheduler-id:"+schedulerID) {
		t.Errorf("403 message does not name the required scopes: %s", body.Message)
	}

	wrong := e.client(&tcclient.Credentials{ClientID: bridgeClient, AccessToken: "not-the-token-0123456789abcdef0123456789abcd"})
	_, err = wrong.CancelTask(id)
	body = wantAPIError(t, err, 401, "AuthenticationFailed")
	if strings.Contains(body.Message, bridgeToken) || strings.Contains(body.Message, "not-the-token") {
		t.Errorf("401 message leaks a token: %s", body.Message)
	}
	unknown := e.client(&tcclient.Credentials{ClientID: "nobody", AccessToken: bridgeToken})
	_, err = unknown.Status(id)
	wantAPIError(t, err, 401, "AuthenticationFailed")

	limited := e.client(&tcclient.Credentials{ClientID: limitedClient, AccessToken: limitedToken})
	_, err = limited.ClaimTask(id, "0", &tcqueue.TaskClaimRequest{WorkerGroup: workerGroup, WorkerID: workerID})
	body = wantAPIError(t, err, 403, "InsufficientScopes")
	if !strings.Contains(body.Message, "Client ID "+limitedClient+" does not have sufficient scopes") ||
		!strings.Contains(body.Message, "queue:worker-id:"+workerGroup+"/"+workerID) {
		t.Errorf("403 message = %s", body.Message)
	}
	// The bridge's credentials do not extend to another worker group.
	_, err = e.queue.ClaimTask(id, "0", &tcqueue.TaskClaimRequest{WorkerGroup: "other-group", WorkerID: workerID})
	wantAPIError(t, err, 403, "InsufficientScopes")

	restricted := e.client(&tcclient.Credentials{ClientID: bridgeClient, AccessToken: bridgeToken, AuthorizedScopes: []string{"queue:status:*"}})
	_, err = restricted.ClaimTask(id, "0", &tcqueue.TaskClaimRequest{WorkerGroup: workerGroup, WorkerID: workerID})
	wantAPIError(t, err, 403, "InsufficientScopes")

	claim := e.claim(t, id, "0")
	e.checkReply(t, "task-claim-response")

	// The claim's temporary credentials act on this run, including an
	// artifact whose name the client escapes (%2F) in the signed path.
	temp := e.client(&tcclient.Credentials{
		ClientID:    claim.Credentials.ClientID,
		AccessToken: claim.Credentials.AccessToken,
		Certificate: claim.Credentials.Certificate,
	})
	if !strings.HasPrefix(claim.Credentials.ClientID, "task-client/"+id+"/0/on/"+workerGroup+"/"+workerID+"/until/") {
		t.Errorf("temporary clientId = %q", claim.Credentials.ClientID)
	}
	if _, err := temp.ReclaimTask(id, "0"); err != nil {
		t.Fatalf("reclaim with temporary credentials: %v", err)
	}
	ref := referenceRequest(t, "https://example.com/live.log", e.clock.Now().Add(time.Hour))
	if _, err := temp.CreateArtifact(id, "0", "public/logs/live.log", ref); err != nil {
		t.Fatalf("createArtifact with temporary credentials: %v", err)
	}
	if _, err := temp.CreateArtifact(id, "0", "private/build.log", ref); err != nil {
		t.Fatalf("createArtifact with temporary credentials: %v", err)
	}
	other := e.createTask(t, 0)
	e.claim(t, other, "0")
	_, err = temp.ReportCompleted(other, "0")
	wantAPIError(t, err, 403, "InsufficientScopes")

	// A certificate granting itself more scopes no longer verifies.
	var cert map[string]any
	if err := json.Unmarshal([]byte(claim.Credentials.Certificate), &cert); err != nil {
		t.Fatal(err)
	}
	cert["scopes"] = append(cert["scopes"].([]any), "queue:resolve-task:"+other+"/0")
	forged, _ := json.Marshal(cert)
	forger := e.client(&tcclient.Credentials{ClientID: claim.Credentials.ClientID, AccessToken: claim.Credentials.AccessToken, Certificate: string(forged)})
	_, err = forger.ReportCompleted(other, "0")
	wantAPIError(t, err, 401, "AuthenticationFailed")

	if _, err := temp.ReportCompleted(id, "0"); err != nil {
		t.Fatalf("reportCompleted with temporary credentials: %v", err)
	}

	// A private artifact needs credentials; a signed URL (bewit) carries them.
	_, err = anonymous.GetArtifact(id, "0", "private/build.log")
	wantAPIError(t, err, 403, "InsufficientScopes")
	u, err := e.queue.GetArtifact_SignedURL(id, "0", "private/build.log", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if code := getStatus(t, u.String()); code != http.StatusSeeOther {
		t.Errorf("signed URL: %d, want 303", code)
	}
	if code := getStatus(t, strings.Replace(u.String(), "bewit=", "bewit=x", 1)); code != http.StatusUnauthorized {
		t.Errorf("tampered signed URL: %d, want 401", code)
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
