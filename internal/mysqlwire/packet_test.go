package mysqlwire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestReadPacketAndCommand(t *testing.T) {
	query := append([]byte{ComQuery}, "SELECT 1"...)
	stream := append([]byte{byte(len(query)), 0, 0, 0}, query...)
	auth := []byte{2, 0, 0, 1, 'x', 'y'} // sequence 1: not a command
	stream = append(stream, auth...)
	r := bytes.NewReader(stream)

	pkt, err := ReadPacket(r, nil)
	if err != nil || !bytes.Equal(pkt, stream[:4+len(query)]) {
		t.Fatalf("first packet %q, %v", pkt, err)
	}
	if cmd, arg, ok := Command(pkt); !ok || cmd != ComQuery || string(arg) != "SELECT 1" {
		t.Errorf("Command = %#x %q %v, want COM_QUERY \"SELECT 1\"", cmd, arg, ok)
	}
	pkt, err = ReadPacket(r, pkt)
	if err != nil || !bytes.Equal(pkt, auth) {
		t.Fatalf("second packet %q, %v", pkt, err)
	}
	if _, _, ok := Command(pkt); ok {
		t.Error("a sequence-1 packet taken for a command")
	}
	if _, err := ReadPacket(r, nil); !errors.Is(err, io.EOF) {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
	if _, err := ReadPacket(bytes.NewReader([]byte{9, 0, 0, 0, 3}), nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated packet: %v, want io.ErrUnexpectedEOF", err)
	}
}
