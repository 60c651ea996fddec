package main

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"time"
)

// demoMemoryLimit is the demo's soft limit on the memory the Go runtime
// manages (heap, stacks), unless GOMEMLIMIT says otherwise. Measured with
// the Web UI's list and task pages polled every 2 s for 10 minutes: 16 MB
// of heap in use at start, 37 MB after, process RSS 196 -> 219 MB (most of
// it the 220 MB binary's pages), so the limit is far above what the demo
// needs and only makes the collector return memory sooner if it grows.
const demoMemoryLimit = 256 << 20

func boundMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(demoMemoryLimit)
	}
}

// servePprof serves the profiles on addr for as long as the demo runs (a
// debugging aid: -pprof is off by default, and addr should be loopback).
func servePprof(addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "demo: -pprof:", err)
	}
}
