package rules

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFileBrokenLoggedOnce: a broken file is reported when it appears, not
// again at every poll; a missing file likewise; the rules in force stay.
func TestFileBrokenLoggedOnce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("default: allow\n")
	logs := &syncBuffer{}
	f, err := OpenFile(file, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	first := f.Holder.Load()
	write("default: sometimes\n")
	f.look(false)
	f.look(false)
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	f.look(false)
	f.look(false)
	if n := strings.Count(logs.String(), "level=ERROR"); n != 2 {
		t.Fatalf("%d error lines, want 2 (the broken file, the missing file):\n%s", n, logs)
	}
	if f.Holder.Load() != first {
		t.Fatal("the rules in force changed")
	}
	f.look(true) // SIGHUP: said again
	if n := strings.Count(logs.String(), "level=ERROR"); n != 3 {
		t.Fatalf("%d error lines after a forced look, want 3", n)
	}
}

func TestReadFileBounded(t *testing.T) {
	file := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(file, bytes.Repeat([]byte("#"), MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadFile(file); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("LoadFile of a file over the bound: %v", err)
	}
}
