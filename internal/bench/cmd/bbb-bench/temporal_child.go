package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
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
	fmt.Printf("%s %s %d\n", ts.HostPort, ts.Namespace, ts.PersistencePid)
	_, _ = io.Copy(io.Discard, os.Stdin)
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
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return localdeploy.Temporal{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return localdeploy.Temporal{}, err
	}
	if err := cmd.Start(); err != nil {
		return localdeploy.Temporal{}, fmt.Errorf("start the Temporal server process: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var addr []string
	select {
	case l := <-line:
		addr = strings.Fields(l)
	case <-time.After(5 * time.Minute):
	}
	var persistencePid int
	if len(addr) == 3 {
		persistencePid, err = strconv.Atoi(addr[2])
	}
	if len(addr) != 3 || err != nil {
		stop()
		return localdeploy.Temporal{}, errors.New("the Temporal server process did not say where it listens")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  addr[0],
		Namespace: addr[1],
		Logger:    sdklog.NewStructuredLogger(localdeploy.QuietLogger()),
	})
	if err != nil {
		stop()
		return localdeploy.Temporal{}, fmt.Errorf("connect to the Temporal server process: %w", err)
	}
	return localdeploy.Temporal{
		HostPort:       addr[0],
		Namespace:      addr[1],
		Client:         c,
		Stop:           func() { c.Close(); stop() },
		Pid:            cmd.Process.Pid,
		PersistencePid: persistencePid,
		Describe:       cfg.Describe(),
	}, nil
}
