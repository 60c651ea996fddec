// Package freeport picks a port for a server that must be told its port
// before it binds (Temporal's services, the fault matrix's proxies).
//
// A port from bind(":0") comes from the kernel's ephemeral range, which is
// also where every outgoing connection's source port comes from: between
// the moment the port is found free and the moment the server binds it,
// another test's connection to MariaDB or RabbitMQ may take it ("address
// already in use"). Ports are therefore picked below that range, where
// only listeners that ask for a port by number ever land.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// The range searched: above the well-known service ports and below Linux's
// default ephemeral range (32768-60999).
const (
	low  = 20000
	high = 32000
)

// On returns host:port with a port in [20000, 32000) that nothing listens
// on now.
func On(host string) (string, error) {
	start := low + rand.IntN(high-low)
	var last error
	for i := range 200 {
		port := low + (start-low+i*7919)%(high-low)
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			last = err
			continue
		}
		_ = ln.Close()
		return addr, nil
	}
	return "", fmt.Errorf("no free port on %s in [%d, %d): %w", host, low, high, last)
}

// Several returns n different free ports on host: each is held until all
// are picked, so that none is picked twice.
func Several(host string, n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		addr, err := On(host)
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		addrs = append(addrs, addr)
	}
	return addrs, nil
}
