package testenv

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/mysqlwire"
)

// DropReplyProxy is a TCP proxy between a MySQL client and server that can
// lose the reply to one statement: the statement reaches the server and runs
// to the end (an autocommit UPDATE or a COMMIT commits), then the proxy
// throws the server's answer away and closes the connection. The client
// sees an error although the write landed: the write of unknown outcome
// that a server or network failure makes at the wrong moment, on cue.
//
// Statements are recognised by their SQL text, which the MySQL protocol
// carries in COM_QUERY (statements without arguments, COMMIT, and every
// statement when the DSN has interpolateParams=true) and COM_STMT_PREPARE.
// When a prepared statement's text matches, the reply lost is that of the
// connection's next COM_STMT_EXECUTE. TLS and compression are not
// supported.
type DropReplyProxy struct {
	target string
	ln     net.Listener

	mu    sync.Mutex
	trap  *trap
	down  bool
	conns map[*proxyConn]bool
	wg    sync.WaitGroup
}

type trap struct {
	substr []byte
	outage bool
	done   chan struct{}
}

type proxyConn struct {
	client, server net.Conn
	// prepared is a trap whose statement was prepared, for its execute.
	prepared *trap
	// sprung is the trap whose statement went to the server: whatever
	// the server sends next is that statement's reply.
	sprung atomic.Pointer[trap]
}

// NewDropReplyProxy listens on a free loopback port and forwards each
// connection to target (host:port). It is closed when the test ends.
func NewDropReplyProxy(t testing.TB, target string) *DropReplyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy listen: %v", err)
	}
	p := &DropReplyProxy{target: target, ln: ln, conns: map[*proxyConn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.SetDown(true)
		p.wg.Wait()
	})
	return p
}

// MariaDBAddr is host:port of the MariaDB server MariaDBURL uses.
func MariaDBAddr() string { return mysqlHostPort() }

// Addr is the proxy's host:port, for the client's DSN.
func (p *DropReplyProxy) Addr() string { return p.ln.Addr().String() }

// Arm makes the proxy lose the reply to the next statement, on any
// connection, whose SQL text contains substr; a later Arm replaces one not
// sprung yet. The channel is closed once the reply has been lost.
func (p *DropReplyProxy) Arm(substr string) <-chan struct{} {
	return p.arm(substr, false)
}

// ArmOutage is Arm, after which the proxy is down (see SetDown) from the
// moment it loses the reply, so the client's retries fail until
// SetDown(false).
func (p *DropReplyProxy) ArmOutage(substr string) <-chan struct{} {
	return p.arm(substr, true)
}

func (p *DropReplyProxy) arm(substr string, outage bool) <-chan struct{} {
	tr := &trap{substr: []byte(substr), outage: outage, done: make(chan struct{})}
	p.mu.Lock()
	p.trap = tr
	p.mu.Unlock()
	return tr.done
}

// SetDown(true) closes every connection and closes new ones at once, as a
// server that has gone away; SetDown(false) forwards again.
func (p *DropReplyProxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	var open []*proxyConn
	if down {
		for c := range p.conns {
			open = append(open, c)
		}
	}
	p.mu.Unlock()
	for _, c := range open {
		c.close()
	}
}

func (p *DropReplyProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.DialTimeout("tcp", p.target, 10*time.Second)
		if err != nil {
			client.Close()
			continue
		}
		c := &proxyConn{client: client, server: server}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.close()
			continue
		}
		p.conns[c] = true
		p.mu.Unlock()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			p.toServer(c)
		}()
		go func() {
			defer p.wg.Done()
			p.toClient(c)
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
		}()
	}
}

func (c *proxyConn) close() {
	c.client.Close()
	c.server.Close()
}

// toServer forwards the client's packets (3-byte length, sequence number,
// payload), looking at each command for the armed statement.
func (p *DropReplyProxy) toServer(c *proxyConn) {
	defer c.close()
	var buf []byte
	for {
		pkt, err := mysqlwire.ReadPacket(c.client, buf)
		if err != nil {
			return
		}
		buf = pkt
		if cmd, arg, ok := mysqlwire.Command(pkt); ok {
			if tr := p.match(c, cmd, arg); tr != nil {
				// Set before the server can answer, so toClient takes
				// the very next bytes for the reply.
				c.sprung.Store(tr)
			}
		}
		if _, err := c.server.Write(pkt); err != nil {
			return
		}
	}
}

func (p *DropReplyProxy) match(c *proxyConn, cmd byte, body []byte) *trap {
	if cmd == mysqlwire.ComStmtExecute && c.prepared != nil {
		tr := c.prepared
		c.prepared = nil
		return tr
	}
	if cmd != mysqlwire.ComQuery && cmd != mysqlwire.ComStmtPrepare {
		return nil
	}
	p.mu.Lock()
	tr := p.trap
	if tr == nil || !bytes.Contains(body, tr.substr) {
		p.mu.Unlock()
		return nil
	}
	p.trap = nil
	p.mu.Unlock()
	if cmd == mysqlwire.ComStmtPrepare {
		c.prepared = tr
		return nil
	}
	return tr
}

// toClient forwards the server's bytes. The client sends a command only
// once it has the whole reply to the previous one, so bytes read after a
// trap was sprung are the trapped statement's reply: the server has
// finished it.
func (p *DropReplyProxy) toClient(c *proxyConn) {
	defer c.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.server.Read(buf)
		if n > 0 {
			if tr := c.sprung.Load(); tr != nil {
				p.spring(c, tr)
				return
			}
			if _, werr := c.client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// spring loses the reply: the trap's channel is closed before the client
// can see its connection fail, so a client that got the error finds it
// closed.
func (p *DropReplyProxy) spring(c *proxyConn, tr *trap) {
	victims := []*proxyConn{c}
	if tr.outage {
		p.mu.Lock()
		p.down = true
		for o := range p.conns {
			victims = append(victims, o)
		}
		p.mu.Unlock()
	}
	close(tr.done)
	for _, v := range victims {
		v.close()
	}
}
