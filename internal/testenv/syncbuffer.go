package testenv

import (
	"bytes"
	"sync"
)

// SyncBuffer is a buffer that several goroutines may write while a test
// reads it: a process's stdout and stderr copied into one log, a logger
// used by a server's goroutines.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
