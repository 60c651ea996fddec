package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestOnGivesABindablePortBelowTheEphemeralRange(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		addr, err := On("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		_, p, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(p)
		if port < low || port >= high {
			t.Errorf("port %d outside [%d, %d)", port, low, high)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s was given as free but does not bind: %v", addr, err)
		}
		ln.Close()
		seen[addr] = true
	}
	if len(seen) < 10 {
		t.Errorf("20 calls gave %d distinct ports; concurrent runs would collide", len(seen))
	}
}

func TestOnSkipsAPortInUse(t *testing.T) {
	// Hold most of the range's first candidates is impractical; hold the
	// one just given and check it is not given again while held.
	addr, err := On("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for range 50 {
		again, err := On("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if again == addr {
			t.Fatalf("%s given while it is listened on", addr)
		}
	}
}
