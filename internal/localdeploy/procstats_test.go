package localdeploy

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// procStatsChild marks the copy of the test binary that measures itself.
const procStatsChild = "BBB_PROCSTATS_CHILD"

// /proc's figures must match what the kernel reports through getrusage
// for the same process.
func TestReadProcStatsMatchesGetrusage(t *testing.T) {
	if os.Getenv(procStatsChild) == "" {
		// getrusage's maxrss keeps the peak of what the process was
		// before its exec: the go command's, larger than this test's
		// when it tests many packages. A copy of this test binary started
		// from here inherits only this small process's peak.
		cmd := exec.Command(os.Args[0], "-test.run=^TestReadProcStatsMatchesGetrusage$", "-test.count=1")
		cmd.Env = append(os.Environ(), procStatsChild+"=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	deadline := time.Now().Add(200 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		buf[x%len(buf)]++
	}
	st, err := ReadProcStats(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	maxRSS := ru.Maxrss * 1024
	if st.PeakRSSBytes < 64<<20 || st.PeakRSSBytes > maxRSS*11/10 || st.PeakRSSBytes < maxRSS*9/10 {
		t.Errorf("VmHWM = %d bytes, getrusage maxrss = %d bytes (and 64 MiB were touched)", st.PeakRSSBytes, maxRSS)
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if diff := st.CPU - cpu; diff > 50*time.Millisecond || diff < -50*time.Millisecond || st.CPU < 150*time.Millisecond {
		t.Errorf("/proc CPU = %v, getrusage CPU = %v", st.CPU, cpu)
	}
}

// burnChild marks a copy of the test binary that only burns CPU.
const burnChild = "BBB_PROCSTATS_BURN"

// A PostgreSQL server's CPU is mostly its backends', processes that come
// and go: ProcessTreeCPU must count a child that already exited as well
// as one still running.
func TestProcessTreeCPUCountsLiveAndExitedChildren(t *testing.T) {
	if os.Getenv(burnChild) != "" {
		deadline := time.Now().Add(300 * time.Millisecond)
		for x := 0; time.Now().Before(deadline); x++ {
		}
		if os.Getenv(burnChild) == "stay" {
			time.Sleep(time.Minute) // killed by the parent
		}
		return
	}
	burn := func(mode string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestProcessTreeCPUCountsLiveAndExitedChildren$", "-test.count=1")
		cmd.Env = append(os.Environ(), burnChild+"="+mode)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	before, err := ProcessTreeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exited := burn("exit")
	if err := exited.Wait(); err != nil {
		t.Fatal(err)
	}
	live := burn("stay")
	defer func() { _ = live.Process.Kill(); _ = live.Wait() }()
	if ppid, err := ParentPid(live.Process.Pid); err != nil || ppid != os.Getpid() {
		t.Fatalf("ParentPid(child) = %d, %v; want %d", ppid, err, os.Getpid())
	}
	liveCPU := func() time.Duration {
		st, err := ReadProcStats(live.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		return st.CPU
	}
	for deadline := time.Now().Add(10 * time.Second); liveCPU() < 250*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatalf("the live child used only %v of CPU", liveCPU())
		}
		time.Sleep(50 * time.Millisecond)
	}
	after, err := ProcessTreeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exitedCPU := exited.ProcessState.UserTime() + exited.ProcessState.SystemTime()
	if want := exitedCPU + 250*time.Millisecond; after-before < want-20*time.Millisecond {
		t.Errorf("tree CPU grew by %v, want at least the exited child's %v + the live child's 250ms", after-before, exitedCPU)
	}
}
