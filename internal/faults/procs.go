package faults

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// crash says what went wrong with a worker or starter incarnation, "" if
// nothing did. A process killed on purpose (by the fault, or by its own
// fault hook) is not a crash; any other exit before the run stops it, or a
// panic in its log, is.
func crash(p *localdeploy.Child) string {
	err, intended := p.Exit()
	panicLine, selfKilled := scanLog(p.LogPath)
	switch {
	case panicLine != "":
		return fmt.Sprintf("%s: %s (log %s)", p.Name, panicLine, p.LogPath)
	case !p.Running() && !intended && !selfKilled:
		return fmt.Sprintf("%s exited unexpectedly: %v (log %s)", p.Name, err, p.LogPath)
	}
	return ""
}

// scanLog finds the first panic or fatal runtime error in a log, and
// whether the process announced its own kill.
func scanLog(path string) (panicLine string, selfKilled bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
			if panicLine == "" {
				panicLine = line
			}
		}
		if strings.Contains(line, SelfKillMarker) {
			selfKilled = true
		}
	}
	return panicLine, selfKilled
}
