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

func TestSeveralAreDifferent(t *testing.T) {
	addrs, err := Several("127.0.0.1", 5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("%s given twice in %v", a, addrs)
		}
		seen[a] = true
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s does not bind once Several returned: %v", a, err)
		}
		ln.Close()
	}
}
