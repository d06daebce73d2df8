package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Stamped by `make build` (-ldflags "-X main.version=... -X main.commit=...",
// from git describe); empty in a plain `go build`, which falls back to the
// module and VCS information Go records in the binary.
var (
	version string
	commit  string
)

// buildInfo is what this binary says about itself: in `authgate version`,
// the start-up log line and authgate_build_info.
type buildInfo struct {
	Version, Commit, GoVersion string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && b.Commit == "" {
				b.Commit = s.Value
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func printVersion(w io.Writer) error {
	b := readBuildInfo()
	_, err := fmt.Fprintf(w, "authgate %s (commit %s, %s)\n", b.Version, b.Commit, b.GoVersion)
	return err
}
