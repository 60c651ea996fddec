package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// outMu keeps progress lines from different goroutines whole.
var outMu sync.Mutex

// progress prints one line of the demo's narration, with the time.
func progress(out io.Writer, format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Fprintf(out, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// block prints lines as they are, e.g. commands to copy.
func block(out io.Writer, lines ...string) {
	outMu.Lock()
	defer outMu.Unlock()
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
}

// since renders an elapsed time for progress lines.
func since(t time.Time) string {
	return time.Since(t).Round(10 * time.Millisecond).String()
}
