// Package devserver runs a Temporal dev server inside the calling process:
// the Temporal server (frontend, history, matching and worker services)
// persisted to a SQLite file, and the Temporal Web UI, both on loopback.
// It is what the demo runs; nothing is downloaded at run time.
//
// History is kept in <DataDir>/temporal.db, so a second Start on the same
// DataDir finds every workflow of the first one. The namespace is created
// with the bridge's search attributes (TaskId, BuilderName, TaskState:
// Keyword; BuildRequestId: Int) already registered, so the Web UI's list
// filter finds a task by any of them.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/temporal"

	"github.com/bbbridge/buildbot-bridge/internal/freeport"
	"github.com/bbbridge/buildbot-bridge/internal/temporalclient"
)

// Defaults for Options, the addresses Temporal's own dev server uses.
const (
	DefaultFrontendAddr = "127.0.0.1:7233"
	DefaultUIAddr       = "127.0.0.1:8233"
	DefaultNamespace    = "default"
)

// DBFileName is the SQLite file under Options.DataDir holding the history.
const DBFileName = "temporal.db"

// startTimeout bounds Start when ctx has no deadline.
const startTimeout = 2 * time.Minute

// Options configure Start.
type Options struct {
	// DataDir holds the SQLite file (DBFileName); it is created if missing.
	// Required.
	DataDir string
	// FrontendAddr is the gRPC frontend's host:port (default
	// DefaultFrontendAddr); port 0 picks a free port.
	FrontendAddr string
	// UIAddr is the Web UI's host:port (default DefaultUIAddr); port 0
	// picks a free port.
	UIAddr string
	// Namespace is created at start if missing (default "default").
	Namespace string
	// Logger receives the server's own log, which is verbose at Info; nil
	// discards it.
	Logger *slog.Logger
}

// Server is a running dev server.
type Server struct {
	temporal  temporal.Server
	ui        *uiServer
	frontend  string
	namespace string
	dbPath    string
	log       *slog.Logger

	stopOnce sync.Once
}

// Start brings up the Temporal server and the Web UI and returns once the
// frontend answers for the namespace, the search attributes are listed and
// the UI serves its root page. ctx bounds the start-up only.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.DataDir == "" {
		return nil, errors.New("devserver: Options.DataDir is required")
	}
	if o.FrontendAddr == "" {
		o.FrontendAddr = DefaultFrontendAddr
	}
	if o.UIAddr == "" {
		o.UIAddr = DefaultUIAddr
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}

	// The Web UI server exits the whole process when it cannot bind, so
	// the ports are tried here first, to fail with an error naming them.
	frontend, err := resolveAddr(o.FrontendAddr, "frontend")
	if err != nil {
		return nil, err
	}
	uiAddr, err := resolveAddr(o.UIAddr, "Web UI")
	if err != nil {
		return nil, err
	}

	dbPath := filepath.Join(o.DataDir, DBFileName)
	sqlConf, err := preparePersistence(dbPath, o.Namespace, temporalclient.Required())
	if err != nil {
		return nil, err
	}
	srv, err := newTemporalServer(frontend, sqlConf, o.Logger)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("devserver: start Temporal: %w", err)
	}
	s := &Server{temporal: srv, frontend: frontend, namespace: o.Namespace, dbPath: dbPath, log: o.Logger}

	if err := s.waitFrontend(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	s.ui, err = startUI(ctx, uiAddr, frontend, o.Namespace, o.Logger)
	if err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// FrontendAddr is the frontend's host:port, for client.Dial and the
// temporal CLI's --address.
func (s *Server) FrontendAddr() string { return s.frontend }

// UIURL is the Web UI's base URL, e.g. http://127.0.0.1:8233.
func (s *Server) UIURL() string { return s.ui.url }

// Namespace is the namespace the server was started for.
func (s *Server) Namespace() string { return s.namespace }

// DBPath is the SQLite file holding the history.
func (s *Server) DBPath() string { return s.dbPath }

// Stop stops the Web UI and the Temporal server; the SQLite file is closed
// and kept. Calling it again does nothing.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.ui != nil {
			s.ui.stop()
		}
		if err := s.temporal.Stop(); err != nil {
			s.log.Warn("devserver: Temporal stopped with an error", "err", err)
		}
	})
}

// waitFrontend waits until the frontend answers for the namespace and lists
// the bridge's search attributes, adding any that a namespace created
// without them (e.g. by another tool on the same file) lacks.
func (s *Server) waitFrontend(ctx context.Context) error {
	c, err := temporalclient.Dial(ctx, s.frontend, s.namespace, s.log)
	if err != nil {
		return fmt.Errorf("devserver: %w", err)
	}
	defer c.Close()
	for {
		_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.namespace})
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devserver: namespace %s not served: %w", s.namespace, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := temporalclient.EnsureSearchAttributes(ctx, c, s.namespace); err != nil {
		return fmt.Errorf("devserver: %w", err)
	}
	return nil
}

// resolveAddr checks that addr is a free IP:port and, for port 0, picks one.
func resolveAddr(addr, what string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) == nil {
		return "", fmt.Errorf("devserver: %s address %q: want IP:port", what, addr)
	}
	if port == "0" {
		// Temporal's services are told their ports before they bind.
		got, err := freeport.On(host)
		if err != nil {
			return "", fmt.Errorf("devserver: %s address: %w", what, err)
		}
		return got, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return "", fmt.Errorf("devserver: %s address %s is not free (another Temporal dev server or demo running?): %w", what, addr, err)
	}
	_ = ln.Close()
	return addr, nil
}
