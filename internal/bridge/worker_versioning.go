package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/bbbridge/buildbot-bridge/internal/config"
)

// deploymentOptions makes the worker a version of the configured Worker
// Deployment. AutoUpgrade, because a task workflow lives as long as its
// build (hours) and the sweep never ends: pinned workflows would keep every
// old worker running until the last task it started ended. Running
// workflows move to the new current version at their next workflow task;
// what changed in between is behind workflow.GetVersion (workflows/versions.go),
// and the replay test holds each release's code to the histories of the one
// before.
func deploymentOptions(t config.Temporal) (worker.DeploymentOptions, error) {
	if t.Versioning == config.VersioningOff {
		return worker.DeploymentOptions{}, nil
	}
	id := t.BuildID
	if id == "" {
		var err error
		if id, err = binaryBuildID(); err != nil {
			return worker.DeploymentOptions{}, err
		}
	}
	return worker.DeploymentOptions{
		UseVersioning:             true,
		Version:                   worker.WorkerDeploymentVersion{DeploymentName: t.DeploymentName, BuildID: id},
		DefaultVersioningBehavior: workflow.VersioningBehaviorAutoUpgrade,
	}, nil
}

// binaryBuildID names this binary: the commit it was built from (with a
// digest of the executable when the tree had uncommitted changes, so two
// different dirty builds never share a version), or, for builds without
// VCS stamps (go run, go test), the executable's digest alone. Read once:
// a test binary is hundreds of MB and its tests start many workers.
var binaryBuildID = sync.OnceValues(readBinaryBuildID)

func readBinaryBuildID() (string, error) {
	revision, modified := "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if revision != "" && !modified {
		return revision, nil
	}
	digest, err := executableDigest()
	if err != nil {
		return "", fmt.Errorf("temporal.build_id is not set and the binary cannot name itself: %w", err)
	}
	if revision != "" {
		return revision + "-dirty-" + digest, nil
	}
	return "sha256-" + digest, nil
}

func executableDigest() (string, error) {
	path, err := os.Executable()
	if err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// promoteIfFirst makes this worker's version the deployment's current one
// when the deployment has none yet, so that a first deploy (or the demo)
// needs no manual step. A later version waits for an operator: it is
// logged with the command that makes it current. The version exists on the
// server only once a poll of this worker has reached it, so the first
// attempts may find no deployment or no such version; they are retried
// until ctx ends.
func promoteIfFirst(ctx context.Context, c client.Client, v worker.WorkerDeploymentVersion, log *slog.Logger) {
	h := c.WorkerDeploymentClient().GetHandle(v.DeploymentName)
	log = log.With("deployment", v.DeploymentName, "buildId", v.BuildID)
	wait := 200 * time.Millisecond
	for {
		done, err := promoteOnce(ctx, h, v, log)
		if done {
			return
		}
		if wait >= 5*time.Second {
			log.Warn("worker version not registered yet; retrying", "err", err, "retryIn", wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// promoteOnce is one look at the deployment; done means nothing is left
// to do (a current version exists, whichever it is).
func promoteOnce(ctx context.Context, h client.WorkerDeploymentHandle, v worker.WorkerDeploymentVersion, log *slog.Logger) (done bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	desc, err := h.Describe(ctx, client.WorkerDeploymentDescribeOptions{})
	if err != nil {
		return false, err
	}
	routing := desc.Info.RoutingConfig
	if current := routing.CurrentVersion; current != nil {
		if *current == v {
			log.Info("worker version is current")
		} else {
			log.Warn("worker version is not current: it polls but receives no workflow tasks until it is made current",
				"current", current.BuildID, "makeCurrent", makeCurrentCommand(v))
		}
		return true, nil
	}
	if !routing.CurrentVersionChangedTime.IsZero() {
		// An operator routed the deployment back to unversioned workers
		// on purpose; that choice is theirs to undo.
		log.Warn("deployment routes to unversioned workers; this version is not made current",
			"makeCurrent", makeCurrentCommand(v))
		return true, nil
	}
	_, err = h.SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{
		BuildID:       v.BuildID,
		ConflictToken: desc.ConflictToken,
	})
	if err != nil {
		// Among others: not registered yet, or another worker of a first
		// deploy got there between Describe and Set (FailedPrecondition):
		// look again.
		return false, err
	}
	log.Info("first version of the deployment: made current")
	return true, nil
}

// makeCurrentCommand is what an operator runs to make v current.
func makeCurrentCommand(v worker.WorkerDeploymentVersion) string {
	return fmt.Sprintf("temporal worker deployment set-current-version --deployment-name %s --build-id %s", v.DeploymentName, v.BuildID)
}

// DeploymentVersion is the version a worker with this config runs as;
// ok is false when versioning is off.
func DeploymentVersion(t config.Temporal) (v worker.WorkerDeploymentVersion, ok bool, err error) {
	o, err := deploymentOptions(t)
	return o.Version, o.UseVersioning, err
}

// MakeCurrent makes v its deployment's current version, as `temporal
// worker deployment set-current-version` does, for a deployment whose
// owner restarts it on new code (the demo). v exists once a poll of its
// worker reached the server, so until then the call is retried; it gives
// up when ctx ends.
func MakeCurrent(ctx context.Context, c client.Client, v worker.WorkerDeploymentVersion) error {
	h := c.WorkerDeploymentClient().GetHandle(v.DeploymentName)
	wait := 100 * time.Millisecond
	for {
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := h.SetCurrentVersion(attempt, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: v.BuildID})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("make %s %s current: %w", v.DeploymentName, v.BuildID, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
