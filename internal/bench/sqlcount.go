package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/mysqlwire"
)

// SQLCounts are the commands clients sent through a StatementCounter.
type SQLCounts struct {
	// Statements are the statements the server executed: text queries
	// (including START TRANSACTION and COMMIT, as MariaDB's Com_* counters
	// count them) and executions of prepared statements.
	Statements int64
	// RoundTrips are commands that wait for an answer: Statements plus
	// prepares (COM_STMT_CLOSE has no answer).
	RoundTrips int64
}

// StatementCounter is a TCP proxy in front of MySQL/MariaDB that counts
// the commands its clients send. The bridge's processes reach the scheduler
// DB through it, so the counts are theirs alone: the server's global
// Com_*/Questions counters also see every other client of a shared server.
type StatementCounter struct {
	ln       net.Listener
	upstream string

	queries, prepares, executes atomic.Int64

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// NewStatementCounter listens on a free loopback port and forwards every
// connection to upstream (host:port).
func NewStatementCounter(upstream string) (*StatementCounter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &StatementCounter{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	c.wg.Add(1)
	go c.accept()
	return c, nil
}

// Addr is the proxy's host:port.
func (c *StatementCounter) Addr() string { return c.ln.Addr().String() }

// Counts returns the commands seen so far.
func (c *StatementCounter) Counts() SQLCounts {
	q, p, e := c.queries.Load(), c.prepares.Load(), c.executes.Load()
	return SQLCounts{Statements: q + e, RoundTrips: q + e + p}
}

// Close stops listening and cuts every proxied connection.
func (c *StatementCounter) Close() error {
	c.mu.Lock()
	c.closed = true
	for conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	err := c.ln.Close()
	c.wg.Wait()
	return err
}

func (c *StatementCounter) track(conns ...net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	for _, conn := range conns {
		c.conns[conn] = struct{}{}
	}
	return true
}

func (c *StatementCounter) untrack(conns ...net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range conns {
		delete(c.conns, conn)
		conn.Close()
	}
}

func (c *StatementCounter) accept() {
	defer c.wg.Done()
	for {
		client, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.wg.Add(1)
		go c.serve(client)
	}
}

func (c *StatementCounter) serve(client net.Conn) {
	defer c.wg.Done()
	d := net.Dialer{Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	server, err := d.DialContext(ctx, "tcp", c.upstream)
	cancel()
	if err != nil {
		client.Close()
		return
	}
	if !c.track(client, server) {
		client.Close()
		server.Close()
		return
	}
	defer c.untrack(client, server)
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(client, server)
		// Either side ending ends the pair.
		client.Close()
		close(done)
	}()
	_ = c.countAndCopy(server, client)
	server.Close()
	<-done
}

// countAndCopy forwards the client's packets one by one, counting those
// that start a command.
func (c *StatementCounter) countAndCopy(dst io.Writer, src io.Reader) error {
	buf := make([]byte, 0, 4096)
	for {
		pkt, err := mysqlwire.ReadPacket(src, buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		buf = pkt
		if cmd, _, ok := mysqlwire.Command(pkt); ok {
			switch cmd {
			case mysqlwire.ComQuery:
				c.queries.Add(1)
			case mysqlwire.ComStmtPrepare:
				c.prepares.Add(1)
			case mysqlwire.ComStmtExecute:
				c.executes.Add(1)
			}
		}
		if _, err := dst.Write(pkt); err != nil {
			return err
		}
	}
}
