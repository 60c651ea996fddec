package bbsim

import "sync"

// The process-wide registry of live masters lets a self-serve agent reach
// the master running a build, as BuildAPI's agent reached masters over the
// network, even when the build runs in another Sim of this process. Keys are
// master name + incarnation, which are unique within the process.
var (
	registryMu sync.Mutex
	registry   = map[string]*master{}
)

func registryKey(name, incarnation string) string {
	return name + "\x00" + incarnation
}

func registerMaster(m *master) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[registryKey(m.id.name, m.id.incarnation)] = m
}

func unregisterMaster(m *master) {
	registryMu.Lock()
	defer registryMu.Unlock()
	delete(registry, registryKey(m.id.name, m.id.incarnation))
}

func lookupMaster(name, incarnation string) *master {
	registryMu.Lock()
	defer registryMu.Unlock()
	return registry[registryKey(name, incarnation)]
}

// Build numbers are kept per master name and builder, as Buildbot kept them
// in the builder's status directory: a restarted master (same name) carries
// on counting instead of reusing numbers.
var (
	numbersMu sync.Mutex
	numbers   = map[string]int{}
)

// nextBuildNumber returns the next number for master+builder, never below
// floor (the highest number the DB shows for them, plus one).
func nextBuildNumber(masterName, builder string, floor int) int {
	numbersMu.Lock()
	defer numbersMu.Unlock()
	k := masterName + "\x00" + builder
	n := max(numbers[k], floor)
	numbers[k] = n + 1
	return n
}
