//go:build pprof

package main

import (
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
)

// The same hook as authgate's (-tags pprof): the load harness profiles
// both sides of a ratio the same way.
func init() {
	if addr := os.Getenv("AUTHGATE_PPROF_LISTEN"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
