package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// File names under the data folder.
const (
	stateFile      = "demo.json"    // this file: addresses, credentials, demo tasks
	queueStateFile = "tcqueue.json" // the stand-in queue's tasks, saved at Ctrl-C
	configFile     = "config.json"  // the bridge's generated config.json
	schedulerFile  = "scheduler.db" // the Buildbot scheduler DB (SQLite)
	logFile        = "demo.log"     // the bridge's and the stand-ins' log
	temporalLog    = "temporal.log" // the Temporal server's warnings and errors
	buildbotDir    = "buildbot"     // real mode: master/ and worker/ of Buildbot
)

// credentials are a Taskcluster client's permanent credentials.
type credentials struct {
	ClientID    string `json:"clientId"`
	AccessToken string `json:"accessToken"`
}

// demoState is <data>/demo.json: what a second run and `-create-task` need
// to find the running demo. It holds the stand-in queue's credentials, so
// it is written readable by its owner only.
type demoState struct {
	// QueueRootURL is the stand-in queue's Taskcluster root URL.
	QueueRootURL    string `json:"queueRootUrl"`
	UIURL           string `json:"uiUrl"`
	TemporalAddress string `json:"temporalAddress"`
	Namespace       string `json:"namespace"`

	// Scheduler creates tasks (scope "*"); Bridge is the bridge's own client,
	// limited to the scopes it needs.
	Scheduler credentials `json:"scheduler"`
	Bridge    credentials `json:"bridge"`

	// TasksCreated says the demo tasks exist; a restart does not create
	// them again.
	TasksCreated bool       `json:"tasksCreated"`
	Tasks        []demoTask `json:"tasks,omitempty"`
	// CancelSent says the demo already sent the cancel signal to the task
	// of kind "cancel".
	CancelSent bool `json:"cancelSent,omitempty"`

	// Buildbot is the -buildbot the folder was made with ("" in files
	// older than the flag: sim). A folder serves one mode only: its
	// workflows and queue tasks belong to that mode's Buildbot.
	Buildbot string `json:"buildbot,omitempty"`
	// EventsPassword authenticates the real master's pushes to the
	// starter (real mode).
	EventsPassword string `json:"buildbotEventsPassword,omitempty"`
	// BuildProperties steer the real master's builds, per builder (real
	// mode): -create-task adds them to its task's payload, as the demo
	// does to its own tasks.
	BuildProperties map[string]map[string]any `json:"buildProperties,omitempty"`

	// fresh: there was no demo.json, this is a first run.
	fresh bool
}

// demoTask is one task the demo created.
type demoTask struct {
	Kind    string `json:"kind"`
	Builder string `json:"builder"`
	TaskID  string `json:"taskId"`
}

// loadState reads <dir>/demo.json; a missing file gives a fresh state with
// new credentials.
func loadState(dir string) (*demoState, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return &demoState{
			Scheduler: credentials{ClientID: identity.SchedulerClientID, AccessToken: newToken()},
			Bridge:    credentials{ClientID: identity.BridgeClientID, AccessToken: newToken()},
			fresh:     true,
		}, nil
	}
	if err != nil {
		return nil, err
	}
	var s demoState
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w (delete the data folder to start over)", filepath.Join(dir, stateFile), err)
	}
	if s.Scheduler.AccessToken == "" || s.Bridge.AccessToken == "" {
		return nil, fmt.Errorf("%s has no credentials (delete the data folder to start over)", filepath.Join(dir, stateFile))
	}
	return &s, nil
}

// save writes the state atomically, so a reader never sees half a file.
func (s *demoState) save(dir string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), append(data, '\n'), 0o600)
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it into place.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, perm); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// checkMode makes a fresh state o's mode and refuses a folder made in the
// other: its tasks' workflows talk to that mode's Buildbot.
func (s *demoState) checkMode(o options) error {
	if s.fresh {
		s.Buildbot = o.Buildbot
		return nil
	}
	if s.mode() != o.Buildbot {
		return fmt.Errorf("%s holds a demo run with -buildbot %s, not %s: run it with -buildbot %s, or use another -data folder (-buildbot %s alone uses %s)",
			o.DataDir, s.mode(), o.Buildbot, s.mode(), o.Buildbot, defaultDataFlag(o.Buildbot))
	}
	return nil
}

// identity is the demo's, with the clients the folder was made with.
func (s *demoState) identity() localdeploy.Identity {
	id := identity
	id.BridgeClientID, id.SchedulerClientID = s.Bridge.ClientID, s.Scheduler.ClientID
	return id
}

// mode is the -buildbot the folder was made with.
func (s *demoState) mode() string {
	if s.Buildbot == "" {
		return buildbotSim
	}
	return s.Buildbot
}

func newToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
