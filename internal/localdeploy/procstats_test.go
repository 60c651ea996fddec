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
