package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bbbridge/buildbot-bridge/internal/tcfake"
)

// loadQueueState restores the stand-in queue from <dir>/tcqueue.json. It
// returns how many tasks it restored, or -1 when there was no file.
func loadQueueState(dir string, q *tcfake.Queue) (int, error) {
	path := filepath.Join(dir, queueStateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	var snap tcfake.Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return 0, fmt.Errorf("%s: %w (delete the data folder to start over)", path, err)
	}
	if err := q.Restore(snap); err != nil {
		return 0, fmt.Errorf("%s: %w (delete the data folder to start over)", path, err)
	}
	return len(snap.Tasks), nil
}

// saveQueueState writes the queue's state to <dir>/tcqueue.json.
func saveQueueState(dir string, q *tcfake.Queue) error {
	data, err := json.MarshalIndent(q.Snapshot(), "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, queueStateFile), append(data, '\n'), 0o600)
}
