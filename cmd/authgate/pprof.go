//go:build pprof

// Profiling hook (`go build -tags pprof ./cmd/authgate`): net/http/pprof
// on AUTHGATE_PPROF_LISTEN, unauthenticated, so a CPU profile of the real
// binary can be taken while wrk drives it; give it a loopback address. The
// shipped binary is built without the tag and has no such listener.

package main

import (
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
)

func init() {
	addr := os.Getenv("AUTHGATE_PPROF_LISTEN")
	if addr == "" {
		return
	}
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
