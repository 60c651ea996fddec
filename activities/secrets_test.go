package activities_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/activities"
	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// mariaDBUserURL returns a URL for a fresh database reached as a user of
// its own with a password, and an admin connection to revoke its rights.
func mariaDBUserURL(t *testing.T, password string) (string, *sql.DB, string) {
	t.Helper()
	base := testenv.MariaDBURL(t) // mysql://root@host:port/name
	rest := strings.TrimPrefix(base, "mysql://root@")
	hostPort, name, _ := strings.Cut(rest, "/")
	user := "bbbsec_" + randomHex(4)
	admin, err := sql.Open("mysql", "root@tcp("+hostPort+")/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, host := range []string{"127.0.0.1", "localhost"} {
		mustExec(t, admin, fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", user, host, password))
		mustExec(t, admin, fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'%s'", name, user, host))
	}
	t.Cleanup(func() {
		for _, host := range []string{"127.0.0.1", "localhost"} {
			_, _ = admin.ExecContext(ctx, fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", user, host))
		}
	})
	return fmt.Sprintf("mysql://%s:%s@%s/%s", user, password, hostPort, name), admin, user
}

func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	dbPassword := "Pw-" + randomHex(12)
	dbURL, admin, user := mariaDBUserURL(t, dbPassword)
	b := newBridge(t, bridgeOptions{dbURL: dbURL})
	secrets := []string{b.accessToken, dbPassword}
	var errs []error
	record := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	taskID := b.createTask(t, taskSpec{})
	// A claim reply carries temporary credentials.
	var claim activities.ClaimResult
	b.must(t, &claim, b.acts.ClaimRun, activities.RunRef{TaskID: taskID, RunID: 0})
	b.must(t, &claim, b.acts.ReclaimRun, activities.RunRef{TaskID: taskID, RunID: 0})
	if h := historyJSON(t, claim); containsAny(h, append(secrets, "accessToken", "certificate")...) != "" {
		t.Errorf("claim result leaks into history: %s", h)
	}
	// Refusals of every kind.
	record(b.run(t, nil, b.acts.ReportCompleted, activities.RunRef{TaskID: taskID, RunID: 5}))
	record(b.run(t, nil, b.acts.ClaimRun, activities.RunRef{TaskID: taskID, RunID: 1}))
	var st activities.TaskStatus
	record(b.run(t, &st, b.acts.TaskStatus, "fN1gQ8ZPRZOaXM0ypZq1Pw"))

	// Wrong token: 401 from the queue.
	wrong := newBridge(t, bridgeOptions{dbURL: testenv.SQLiteURL(t), configure: func(d *activities.Deps) {
		d.Queue = activities.NewQueue(b.queue.RootURL(), bridgeClient, b.accessToken+"-stale")
	}})
	record(wrong.run(t, nil, wrong.acts.ClaimRun, activities.RunRef{TaskID: taskID, RunID: 0}))
	secrets = append(secrets, b.accessToken+"-stale")

	// The database refusing the bridge's user.
	brid := injectDirect(t, b.db, "aT0Z9lDJRdWw0Xmpaq4TPA", "linux64-build", "mozilla-central")
	for _, host := range []string{"127.0.0.1", "localhost"} {
		mustExec(t, admin, fmt.Sprintf("REVOKE ALL PRIVILEGES, GRANT OPTION FROM '%s'@'%s'", user, host))
	}
	b.db.SQL().SetMaxIdleConns(0) // new connections, which now fail
	var row activities.BuildRequestState
	record(b.run(t, &row, b.acts.ReadBuildRequest, brid))
	var res activities.SweepResult
	record(b.run(t, &res, b.acts.Sweep, activities.Watermark{}))

	for _, err := range errs {
		t.Logf("inspected: %v", err)
	}
	if len(errs) != 6 {
		t.Fatalf("expected 6 failures to inspect, got %d: %v", len(errs), errs)
	}
	for _, err := range errs {
		if s := containsAny(err.Error(), secrets...); s != "" {
			t.Errorf("error leaks a secret: %v", err)
		}
		if s := containsAny(fmt.Sprintf("%+v", err), secrets...); s != "" {
			t.Errorf("error detail leaks a secret: %+v", err)
		}
	}
	if !strings.Contains(b.logs.String(), "Activity error") || !strings.Contains(wrong.logs.String(), "AuthenticationFailed") {
		t.Fatalf("the failures were not logged, so the logs prove nothing:\n%s", b.logs)
	}
	for _, logs := range []string{b.logs.String(), wrong.logs.String()} {
		if s := containsAny(logs, append(secrets, `"accessToken"`, `"certificate"`)...); s != "" {
			t.Errorf("logs leak %q:\n%s", s, logs)
		}
	}
}
