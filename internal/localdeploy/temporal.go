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
}

// QuietLogger is for the stand-ins, consumers and clients of a deployment
// whose own output is a table: only their warnings, on stderr.
func QuietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
