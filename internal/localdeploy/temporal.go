package localdeploy

import (
	"log/slog"
	"os"

	"go.temporal.io/sdk/client"
)

// Temporal is a running Temporal server the bridge uses.
type Temporal struct {
	HostPort  string
	Namespace string
	// Client reads the workflows (histories, open executions) after a run.
	Client client.Client
	Stop   func()
	// Pid is the server's own process, or 0 when it runs inside this one.
	Pid int
	// PersistencePid, when not 0, is the main process of a database
	// server on this machine that holds Temporal's persistence
	// (PostgreSQL's postmaster): its CPU, and its children's
	// (ProcessTreeCPU), is part of what Temporal costs.
	PersistencePid int
	// Describe names the server for a table's header ("Temporal on
	// PostgreSQL, 4 history shards, ..."); "" for the default.
	Describe string
}

// QuietLogger is for the stand-ins, consumers and clients of a deployment
// whose own output is a table: only their warnings, on stderr.
func QuietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
