package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
	"github.com/bbbridge/buildbot-bridge/internal/localdeploy/embedtemporal"
)

// temporalChildEnv makes this binary serve Temporal instead of
// benchmarking: the scale run starts its own executable again with it, so
// the server is a process of its own whose CPU and memory /proc reports.
const temporalChildEnv = "BBB_BENCH_TEMPORAL_CHILD"

// temporalProfileEnv, set for the child, is where it writes its CPU profile.
const temporalProfileEnv = "BBB_BENCH_TEMPORAL_CPUPROFILE"

// temporalConfigEnv, set for the child, is the server's embedtemporal.Config
// in JSON.
const temporalConfigEnv = "BBB_BENCH_TEMPORAL_CONFIG"

// serveTemporal is the child: it starts the same embedded server as the
// benchmark, writes "<host:port> <namespace> <persistence pid>" on stdout,
// and stops when its stdin closes (the parent stopping it, or dying).
func serveTemporal() int {
	var cfg embedtemporal.Config
	if err := json.Unmarshal([]byte(os.Getenv(temporalConfigEnv)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bbb-bench: Temporal server config:", err)
		return 1
	}
	if path := os.Getenv(temporalProfileEnv); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bbb-bench: Temporal server profile:", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	ts, err := embedtemporal.StartConfig(ctx, cfg, localdeploy.QuietLogger())
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bbb-bench:", err)
		return 1
	}
	localdeploy.AnnounceTemporal(ts.HostPort, ts.Namespace, strconv.Itoa(ts.PersistencePid))
	ts.Stop()
	return 0
}

// startTemporalChild starts serveTemporal in a child process and connects
// a client to it; with profileDir it leaves temporal.pprof there.
func startTemporalChild(cfg embedtemporal.Config, profileDir string) (localdeploy.Temporal, error) {
	exe, err := os.Executable()
	if err != nil {
		return localdeploy.Temporal{}, err
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		return localdeploy.Temporal{}, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), temporalChildEnv+"=1", temporalConfigEnv+"="+string(js))
	if profileDir != "" {
		cmd.Env = append(cmd.Env, temporalProfileEnv+"="+filepath.Join(profileDir, "temporal.pprof"))
	}
	child, err := localdeploy.StartTemporalChild(context.Background(), "the Temporal server process", cmd, os.Stderr, "", nil, 5*time.Minute)
	if err != nil {
		return localdeploy.Temporal{}, err
	}
	stop := func() { _ = child.Stop(time.Minute) }
	var persistencePid int
	if len(child.Fields) == 3 {
		persistencePid, err = strconv.Atoi(child.Fields[2])
	}
	if len(child.Fields) != 3 || err != nil {
		stop()
		return localdeploy.Temporal{}, fmt.Errorf("the Temporal server process announced %q, want <host:port> <namespace> <persistence pid>", child.Fields)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  child.HostPort(),
		Namespace: child.Namespace(),
		Logger:    sdklog.NewStructuredLogger(localdeploy.QuietLogger()),
	})
	if err != nil {
		stop()
		return localdeploy.Temporal{}, fmt.Errorf("connect to the Temporal server process: %w", err)
	}
	return localdeploy.Temporal{
		HostPort:       child.HostPort(),
		Namespace:      child.Namespace(),
		Client:         c,
		Stop:           func() { c.Close(); stop() },
		Pid:            child.Pid(),
		PersistencePid: persistencePid,
		Describe:       cfg.Describe(),
	}, nil
}
