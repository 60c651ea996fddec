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
	f, err := statFields(pid)
	if err != nil {
		return st, err
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return st, err
	}
	st.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	return st, nil
}

// statFields are the fields of /proc/<pid>/stat after the command name,
// so that f[0] is field 3 (state).
func statFields(pid int) ([]string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// The command name (field 2) may hold spaces and parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return nil, errors.New("localdeploy: unreadable /proc stat")
	}
	f := strings.Fields(string(stat)[i+1:])
	if len(f) < 15 {
		return nil, errors.New("localdeploy: short /proc stat")
	}
	return f, nil
}

// ParentPid is pid's parent process.
func ParentPid(pid int) (int, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(f[1]) // field 4
}

// ProcessTreeCPU is the CPU time of pid and all its descendants, those
// that exited included: a reaped child's time moves into its parent's
// cutime and cstime, so the sum only grows, however often a server such as
// PostgreSQL starts and ends a process per connection. A child that exits
// between the two reads may be missed once.
func ProcessTreeCPU(pid int) (time.Duration, error) {
	children := map[int][]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, err := ParentPid(p)
		if err != nil {
			continue // exited meanwhile
		}
		children[ppid] = append(children[ppid], p)
	}
	var ticks int64
	var walk func(p int, root bool) error
	walk = func(p int, root bool) error {
		f, err := statFields(p)
		if err != nil {
			if root {
				return err
			}
			return nil // exited meanwhile
		}
		for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return err
			}
			ticks += v
		}
		for _, c := range children[p] {
			if err := walk(c, false); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(pid, true); err != nil {
		return 0, err
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
