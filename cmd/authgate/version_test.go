package main

import (
	"bytes"
	"context"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestVersionCommand: `authgate version` names the version, the commit and
// the Go version; `make build`'s -ldflags stamp the first two, and the
// start-up log line carries the same.
func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, nil, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "authgate ") || !strings.Contains(out.String(), runtime.Version()) {
		t.Fatalf("version: %q", out.String())
	}
	bin := buildBinary(t, ".", "-ldflags", "-X main.version=v9.8.7 -X main.commit=abc123")
	got, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	if want := "authgate v9.8.7 (commit abc123, " + runtime.Version() + ")\n"; string(got) != want {
		t.Fatalf("stamped binary says %q, want %q", got, want)
	}
	g := startGate(t, "AUTHGATE_SECRET="+goodSecret)
	if !strings.Contains(g.Logs(), "version=") || !strings.Contains(g.Logs(), "go="+runtime.Version()) {
		t.Fatalf("start-up log without the version:\n%s", g.Logs())
	}
}
