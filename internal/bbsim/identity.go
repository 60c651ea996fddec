package bbsim

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// masterID is how a simulated master names itself in the scheduler DB and in
// its Pulse messages.
type masterID struct {
	// name is claimed_by_name and _meta.master_name: "host:/basedir".
	name string
	// host is the host part of name, used for slave names and URLs.
	host string
	// incarnation is claimed_by_incarnation: "pid<N>-boot<T>".
	incarnation string
}

var defaultMasterSeq atomic.Int64

// parseMasterName turns an Options.Masters entry into a master name.
func parseMasterName(entry string) (name, host string) {
	if i := strings.Index(entry, ":/"); i > 0 {
		return entry, entry[:i]
	}
	return entry + ":/builds/buildbot/" + entry + "/master", entry
}

// defaultMasterName is unique per process and Sim, so that Sims sharing one
// DB never take each other for a restarted master.
func defaultMasterName() string {
	return fmt.Sprintf("bbsim-%d-%d", os.Getpid(), defaultMasterSeq.Add(1))
}

var (
	bootMu   sync.Mutex
	lastBoot int64
)

// newIncarnation returns Buildbot's "pid<N>-boot<T>". T is the start time in
// Unix seconds, bumped when needed so that no two masters of this process
// ever share an incarnation (a shared one would hide a restart).
func newIncarnation() string {
	bootMu.Lock()
	defer bootMu.Unlock()
	t := time.Now().Unix()
	if t <= lastBoot {
		t = lastBoot + 1
	}
	lastBoot = t
	return fmt.Sprintf("pid%d-boot%d", os.Getpid(), t)
}

// escapeBuilderDir is PulseStatus's escaping of the builder directory in
// routing keys, plus the space, which a routing-key word must not contain.
func escapeBuilderDir(dir string) string {
	return strings.NewReplacer(".", "_", " ", "_").Replace(dir)
}

// branchTail is how BuildAPI names a branch in its URLs: the last path
// element of sourcestamps.branch ("projects/alder" → "alder").
func branchTail(branch string) string {
	branch = strings.TrimRight(branch, "/")
	if i := strings.LastIndex(branch, "/"); i >= 0 {
		return branch[i+1:]
	}
	return branch
}
