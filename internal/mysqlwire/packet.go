// Package mysqlwire reads the client side of the MySQL protocol, as much
// as the proxies in tests and benchmarks need: whole packets, and which
// command a packet starts.
package mysqlwire

import (
	"encoding/binary"
	"io"
)

// Client command bytes: the first payload byte of a packet that starts a
// command.
const (
	ComQuery       = 0x03
	ComStmtPrepare = 0x16
	ComStmtExecute = 0x17
)

// headerLen is a packet's header: a 3-byte little-endian payload length
// and a sequence id.
const headerLen = 4

// ReadPacket reads one packet from r, header included, reusing buf when it
// is large enough. Errors are io.ReadFull's: io.EOF when r ended between
// packets.
func ReadPacket(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := headerLen + int(binary.LittleEndian.Uint32(append(hdr[:3:3], 0)))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	copy(buf, hdr[:])
	if _, err := io.ReadFull(r, buf[headerLen:]); err != nil {
		return nil, err
	}
	return buf, nil
}

// Command returns the command byte and its argument (e.g. a statement's
// text) when pkt starts a command: sequence id 0 and a payload. The
// handshake and authentication packets carry other sequence ids.
func Command(pkt []byte) (cmd byte, arg []byte, ok bool) {
	if len(pkt) <= headerLen || pkt[3] != 0 {
		return 0, nil, false
	}
	return pkt[headerLen], pkt[headerLen+1:], true
}
