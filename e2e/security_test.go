package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/bbbridge/buildbot-bridge/internal/bbsim"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// secRandom is a distinctive random secret: nothing else in a deployment
// can contain it by chance.
func secRandom(t *testing.T, label string) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return label + hex.EncodeToString(b)
}

// secLogs keeps every log line of the deployment, as JSON.
type secLogs = testenv.SyncBuffer

// secMariaDBUser creates a user with password on the database of the
// harness's root URL and returns the URL the bridge connects with.
func secMariaDBUser(t *testing.T, rootURL, password string) string {
	t.Helper()
	u, err := url.Parse(rootURL)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	user := "bbbsec" + hex.EncodeToString([]byte(dbName))[:8] + secRandom(t, "")[:6]
	// interpolateParams: MariaDB cannot prepare CREATE USER, so the driver
	// escapes the bound password itself.
	admin, err := sql.Open("mysql", "root@tcp("+u.Host+")/?timeout=10s&interpolateParams=true")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Account names cannot be bound as parameters; user and dbName are ours
	// (hex and testenv's hex names), the password is a bound value.
	for _, host := range []string{"localhost", "127.0.0.1", "%"} {
		if _, err := admin.ExecContext(ctx, "CREATE USER '"+user+"'@'"+host+"' IDENTIFIED BY ?", password); err != nil {
			t.Fatalf("create MariaDB user: %v", err)
		}
		if _, err := admin.ExecContext(ctx, "GRANT ALL ON `"+dbName+"`.* TO '"+user+"'@'"+host+"'"); err != nil {
			t.Fatalf("grant MariaDB user: %v", err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, host := range []string{"localhost", "127.0.0.1", "%"} {
			_, _ = admin.ExecContext(ctx, "DROP USER IF EXISTS '"+user+"'@'"+host+"'")
		}
		admin.Close()
	})
	return fmt.Sprintf("mysql://%s:%s@%s/%s", user, password, u.Host, dbName)
}

// secRabbitUser creates a RabbitMQ user with password and full rights on
// the vhost of the harness's guest URL, through the management API, and
// returns the URL the bridge connects with.
func secRabbitUser(t *testing.T, guestURL, password string) string {
	t.Helper()
	u, err := url.Parse(guestURL)
	if err != nil {
		t.Fatal(err)
	}
	vhost, _ := url.PathUnescape(strings.TrimPrefix(u.Path, "/"))
	user := "bbbsec-" + secRandom(t, "")[:12]
	api := "http://127.0.0.1:15672/api"
	call := func(method, path string, body any) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var rd io.Reader
		if body != nil {
			js, _ := json.Marshal(body)
			rd = bytes.NewReader(js)
		}
		req, err := http.NewRequestWithContext(ctx, method, api+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("guest", "guest")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("RabbitMQ management %s %s: %v", method, path, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 && method != http.MethodDelete {
			t.Fatalf("RabbitMQ management %s %s: %s", method, path, resp.Status)
		}
	}
	call(http.MethodPut, "/users/"+url.PathEscape(user), map[string]string{"password": password, "tags": ""})
	t.Cleanup(func() { call(http.MethodDelete, "/users/"+url.PathEscape(user), nil) })
	call(http.MethodPut, "/permissions/"+url.PathEscape(vhost)+"/"+url.PathEscape(user),
		map[string]string{"configure": ".*", "write": ".*", "read": ".*"})
	u.User = url.UserPassword(user, password)
	return u.String()
}

// Issue 6, security: a full scenario (a success, a malformed task, an
// operator's cancel) run with random, distinctive secrets — the TC access
// token, the Pulse password, the DB password — leaves none of them in any
// log line, workflow history (inputs, results, memos, search attributes),
// state query answer or /healthz body.
func TestSecurityNoSecretInLogsHistoriesOrQueries(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{
		"TC access token": secRandom(t, "tcTOKEN"),
		"Pulse password":  secRandom(t, "pulsePW"),
		"DB password":     secRandom(t, "dbPW"),
	}
	logs := &secLogs{}
	const cancelBuilder = "linux64 security cancel"
	e := newEnv(t, envOptions{
		BridgeToken: secrets["TC access token"],
		LogHandler:  slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
		Script: bbsim.ByBuilder(map[string][]bbsim.Attempt{
			cancelBuilder: {{Result: bbsim.SUCCESS, Duration: bbsim.Forever}},
		}, bbsim.Attempt{Result: bbsim.SUCCESS, Duration: 300 * time.Millisecond}),
		Config: func(m map[string]any) {
			m["buildbot_scheduler_db"] = secMariaDBUser(t, m["buildbot_scheduler_db"].(string), secrets["DB password"])
			m["pulse_url"] = secRabbitUser(t, m["pulse_url"].(string), secrets["Pulse password"])
		},
	})

	good := e.createTask(taskSpec{Builder: "linux64 security build", Branch: "https://hg.mozilla.org/mozilla-central"})
	bad := e.createTask(taskSpec{Builder: "linux64 security build", Properties: map[string]any{"version": "1"}})
	canceled := e.createTask(taskSpec{Builder: cancelBuilder, Branch: "mozilla-central"})
	g3ExpectCompleted(e, good, "success")
	g3ExpectMalformed(e, bad, "malformed")
	lcWaitRunning(e, canceled)
	lcSignalCancel(e, canceled, "operator cancel in the security test")
	e.waitRunState(canceled, 0, "exception", "canceled", 30*time.Second)
	e.waitWorkflowClosed(canceled, 60*time.Second)

	// The bridge really used each secret: its signed calls were accepted,
	// and it consumed Pulse and wrote the DB with the users made here.
	if len(e.calls(good, "claimTask")) != 1 {
		t.Fatal("the bridge's claim with the random token was not accepted")
	}

	// The scan covers real content: the starter logged its broker, with
	// the test's own Pulse user and the password redacted.
	if !strings.Contains(logs.String(), "amqp://bbbsec-") || !strings.Contains(logs.String(), ":xxxxx@127.0.0.1") {
		t.Error("the logs never show the bridge's redacted broker URL: was the log capture empty?")
	}
	seen := map[string]string{"logs": logs.String()}
	for _, c := range e.queue.Calls() {
		seen["queue call "+c.Method+" "+c.TaskID] += string(c.Body)
	}

	// Every workflow of the namespace, the sweep included: history,
	// description (memo, search attributes) and, for task workflows, the
	// state query an operator would run.
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	var execs []*workflowservice.ListWorkflowExecutionsResponse
	var token []byte
	for {
		resp, err := e.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{PageSize: 100, NextPageToken: token})
		if err != nil {
			t.Fatalf("list workflows: %v", err)
		}
		execs = append(execs, resp)
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	workflows := 0
	for _, page := range execs {
		for _, info := range page.Executions {
			workflows++
			id, runID := info.Execution.WorkflowId, info.Execution.RunId
			js, _ := protojson.Marshal(info)
			seen["list "+id] = string(js)
			it := e.temporal.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			var h strings.Builder
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					t.Fatalf("history of %s: %v", id, err)
				}
				js, _ := protojson.Marshal(ev)
				h.Write(js)
			}
			seen["history "+id+" "+runID] = h.String()
			d, err := e.temporal.DescribeWorkflowExecution(ctx, id, runID)
			if err != nil {
				t.Fatalf("describe %s: %v", id, err)
			}
			js, _ = protojson.Marshal(d)
			seen["describe "+id] = string(js)
			if strings.HasPrefix(id, "task-") {
				st := lcState(e, strings.TrimPrefix(id, "task-"))
				js, _ := json.Marshal(st)
				seen["state query "+id] = string(js)
			}
		}
	}
	if workflows < 4 {
		t.Errorf("%d workflows in the namespace, want the 3 tasks' and the sweep", workflows)
	}

	// The /healthz endpoints the processes announced in their logs.
	health := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "health endpoint" || rec.Addr == "" {
			continue
		}
		for _, path := range []string{"/healthz", "/metrics"} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+rec.Addr+path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				continue // a process stopped since (the harness restarts none here)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			seen[rec.Addr+path] = string(body)
			if path == "/healthz" {
				health++
			}
		}
	}
	if health == 0 {
		t.Error("no /healthz endpoint found in the logs")
	}

	for where, text := range seen {
		for what, s := range secrets {
			if strings.Contains(text, s) {
				i := strings.Index(text, s)
				t.Errorf("%s found in %s: …%s…", what, where, text[max(0, i-200):min(len(text), i+len(s)+50)])
			}
		}
	}
	t.Logf("checked %d logs/histories/answers (%d workflows, %d bytes of logs) for %d secrets",
		len(seen), workflows, len(seen["logs"]), len(secrets))
}
