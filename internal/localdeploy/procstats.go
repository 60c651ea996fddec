package localdeploy

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcStats are what the kernel accounted to one process.
type ProcStats struct {
	PeakRSSBytes int64         // VmHWM
	CPU          time.Duration // utime + stime
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times; 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// ReadProcStats reads a running process's peak RSS and CPU time from /proc.
func ReadProcStats(pid int) (ProcStats, error) {
	var st ProcStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return st, err
				}
				st.PeakRSSBytes = kb * 1024
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// The command name (field 2) may hold spaces; fields count from
	// after its closing parenthesis, where field 3 (state) starts.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return st, errors.New("localdeploy: unreadable /proc stat")
	}
	f := strings.Fields(string(stat)[i+1:])
	if len(f) < 13 {
		return st, errors.New("localdeploy: short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return st, err
	}
	st.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	return st, nil
}
