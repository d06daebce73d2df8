package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/authgate/authgate/verify/rules"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// allowOnly is a rules file under which path alone is open to anyone;
// every other request must be signed in.
func allowOnly(path string) string {
	return "default: authenticated\nrules:\n  - name: open\n    paths: [" + path + "]\n    action: allow\n"
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// TestRulesFileStopsTheStart: a rules file that does not load stops the
// gate, and the message names the variable, the file, the line and the
// rule (where the file has them).
func TestRulesFileStopsTheStart(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		content string
		want    []string // besides AUTHGATE_RULES_FILE and the file
	}{
		{"unknown key", "default: deny\nrules:\n  - name: open\n    action: allow\n  - name: admins\n    group: [admins]\n    action: authenticated\n",
			[]string{":6:", `rule "admins"`, `unknown key "group"`}},
		{"duplicate name", "default: deny\nrules:\n  - name: open\n    paths: [/a]\n    action: allow\n  - name: open\n    paths: [/b]\n    action: allow\n",
			[]string{":6:", `rule "open"`, "used by rule 1"}},
		{"missing default", "rules:\n  - name: open\n    action: allow\n",
			[]string{"`default:` is required"}},
		{"bad CIDR", "default: deny\nrules:\n  - name: health\n    paths: [/healthz]\n    action: allow\n  - name: office\n    networks: [10.0.0.0/33]\n    action: allow\n",
			[]string{":6:", `rule "office"`, `network "10.0.0.0/33"`}},
		{"path with * inside", "default: deny\nrules:\n  - name: api\n    paths: [/api/*/admin]\n    action: allow\n",
			[]string{":3:", `rule "api"`, `path "/api/*/admin"`}},
		{"host with * inside", "default: deny\nrules:\n  - name: apps\n    hosts: [app.*.example.com]\n    action: allow\n",
			[]string{":3:", `rule "apps"`, `host "app.*.example.com"`}},
		{"groups on an allow rule", "default: authenticated\nrules:\n  - name: health\n    paths: [/healthz]\n    action: allow\n  - name: public\n    paths: [/public/*]\n    groups: [staff]\n    action: allow\n",
			[]string{":6:", `rule "public"`, "groups, users and mfa are requirements of an authenticated rule"}},
		{"missing file", "", []string{"no such file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if tc.content != "" {
				writeFile(t, file, tc.content)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			env := []string{"AUTHGATE_LISTEN=127.0.0.1:0", "AUTHGATE_RULES_FILE=" + file, "AUTHGATE_ARGON2_MEMORY=64", "AUTHGATE_ARGON2_TIME=1"}
			err := run(ctx, nil, env, nil, io.Discard, io.Discard)
			if err == nil {
				t.Fatal("started with a bad rules file")
			}
			for _, want := range append([]string{"AUTHGATE_RULES_FILE: ", file}, tc.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// syncLog is a log sink the gate writes while the test reads.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ruledGate is the wired server with a rules file, serving on a loopback
// port in this process, so a test can reach its reload trigger.
type ruledGate struct {
	s    *server
	base string
	log  *syncLog
}

// startRuledGate serves the gate with AUTHGATE_RULES_FILE=file, reading
// the file every poll, until the test ends.
func startRuledGate(tb testing.TB, file string, poll time.Duration) *ruledGate {
	tb.Helper()
	cfg, err := loadConfig([]string{"AUTHGATE_SECRET=" + goodSecret, "AUTHGATE_ARGON2_MEMORY=64", "AUTHGATE_ARGON2_TIME=1", "AUTHGATE_RULES_FILE=" + file})
	if err != nil {
		tb.Fatal(err)
	}
	logs := &syncLog{}
	s, err := newServer(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	s.rules.Every = poll
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
		s.close()
		if tb.Failed() {
			tb.Logf("gate logs:\n%s", logs)
		}
	})
	return &ruledGate{s: s, base: "http://" + ln.Addr().String(), log: logs}
}

// verify asks /verify about a GET of https://app.example.com+path without
// credentials, as a trusted proxy on loopback would: 200 where a rule
// allows it, 401 where it must be signed in.
func (g *ruledGate) verify(tb testing.TB, path string) int {
	tb.Helper()
	req, err := http.NewRequest("GET", g.base+"/verify", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", "app.example.com")
	req.Header.Set("X-Forwarded-Uri", path)
	req.Header.Set("X-Forwarded-Method", "GET")
	resp, err := noRedirect.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// answers says what /verify answers for each path, as "path=code ...".
func (g *ruledGate) answers(tb testing.TB, paths ...string) string {
	tb.Helper()
	var out []string
	for _, p := range paths {
		out = append(out, fmt.Sprintf("%s=%d", p, g.verify(tb, p)))
	}
	return strings.Join(out, " ")
}

// waitAnswers waits until /verify answers as want says.
func (g *ruledGate) waitAnswers(tb testing.TB, what, want string, paths ...string) {
	tb.Helper()
	eventually(tb, 10*time.Second, what, func() error {
		if got := g.answers(tb, paths...); got != want {
			return fmt.Errorf("answers %s, want %s", got, want)
		}
		return nil
	})
}

// TestRulesFileReloads: however the file is replaced, the running gate
// puts the new rules in force within a poll: written in place, renamed
// over, or swapped the way Kubernetes updates a mounted ConfigMap (the
// directory's "..data" symlink is replaced; the file is a link through it
// and is never written).
func TestRulesFileReloads(t *testing.T) {
	cases := []struct {
		name string
		// setup writes the first content and returns the path the gate
		// reads, and how to replace the content.
		setup func(t *testing.T, dir, first string) (file string, replace func(content string))
	}{
		{"written in place", func(t *testing.T, dir, first string) (string, func(string)) {
			file := filepath.Join(dir, "rules.yaml")
			writeFile(t, file, first)
			return file, func(c string) { writeFile(t, file, c) }
		}},
		{"renamed over", func(t *testing.T, dir, first string) (string, func(string)) {
			file := filepath.Join(dir, "rules.yaml")
			writeFile(t, file, first)
			return file, func(c string) {
				tmp := filepath.Join(dir, "rules.yaml.new")
				writeFile(t, tmp, c)
				if err := os.Rename(tmp, file); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"kubernetes configmap symlink swap", func(t *testing.T, dir, first string) (string, func(string)) {
			version := func(name, content string) {
				if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(dir, name, "rules.yaml"), content)
			}
			version("..2026_01", first)
			if err := os.Symlink("..2026_01", filepath.Join(dir, "..data")); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "rules.yaml")
			if err := os.Symlink(filepath.Join("..data", "rules.yaml"), file); err != nil {
				t.Fatal(err)
			}
			return file, func(c string) {
				version("..2026_02", c)
				if err := os.Symlink("..2026_02", filepath.Join(dir, "..data_tmp")); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
					t.Fatal(err)
				}
				if err := os.RemoveAll(filepath.Join(dir, "..2026_01")); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file, replace := tc.setup(t, t.TempDir(), allowOnly("/a"))
			g := startRuledGate(t, file, rules.PollInterval)
			if got := g.answers(t, "/a", "/b"); got != "/a=200 /b=401" {
				t.Fatalf("first rules: %s", got)
			}
			replace(allowOnly("/b"))
			g.waitAnswers(t, "the new rules in force", "/a=401 /b=200", "/a", "/b")
			// The line follows the swap: wait for it, not just for the answers.
			eventually(t, 5*time.Second, "the reload's log line", func() error {
				if n := strings.Count(g.log.String(), `msg="access rules loaded" file=`+file+" rules=1"); n != 2 {
					return fmt.Errorf("%d \"access rules loaded\" lines, want 2 (start and reload)", n)
				}
				return nil
			})
		})
	}
}

// TestRulesFileBrokenKeepsTheRules: a new file that does not load leaves
// the rules in force and logs why; once fixed, it is loaded.
func TestRulesFileBrokenKeepsTheRules(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, file, allowOnly("/a"))
	g := startRuledGate(t, file, rules.PollInterval)

	writeFile(t, file, "default: authenticated\nrules:\n  - name: open\n    paths: [/b]\n    action: allow\n  - name: office\n    networks: [10.0.0.0/33]\n    action: allow\n")
	eventually(t, 10*time.Second, "the broken file to be reported", func() error {
		if !strings.Contains(g.log.String(), `level=ERROR msg="access rules not reloaded; the rules loaded before stay in force" file=`+file+` err="`+file+`:6: rule \"office\": network`) {
			return errors.New("no error line yet")
		}
		return nil
	})
	if got := g.answers(t, "/a", "/b"); got != "/a=200 /b=401" {
		t.Fatalf("after a broken file: %s, want the first rules still in force", got)
	}

	writeFile(t, file, allowOnly("/b"))
	g.waitAnswers(t, "the fixed file in force", "/a=401 /b=200", "/a", "/b")
}

// TestRulesReloadTrigger: the reload trigger (SIGHUP in a real run)
// reloads at once; the poll is an hour here, so nothing else can.
func TestRulesReloadTrigger(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, file, allowOnly("/a"))
	g := startRuledGate(t, file, time.Hour)
	writeFile(t, file, allowOnly("/b"))
	if got := g.answers(t, "/a", "/b"); got != "/a=200 /b=401" {
		t.Fatalf("before the trigger: %s", got)
	}
	g.s.rules.Reload <- syscall.SIGHUP
	g.waitAnswers(t, "the new rules in force after the trigger", "/a=401 /b=200", "/a", "/b")
}

// TestRulesSIGHUP: the real program reloads its rules file on SIGHUP
// (even unchanged, it is read and logged again) and keeps running.
func TestRulesSIGHUP(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, file, allowOnly("/healthz"))
	g := startGate(t, "AUTHGATE_RULES_FILE="+file)
	loaded := func() int { return strings.Count(g.Logs(), `msg="access rules loaded"`) }
	if n := loaded(); n != 1 {
		t.Fatalf("%d \"access rules loaded\" lines at start, want 1", n)
	}
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the rules to be reloaded on SIGHUP", func() error {
		if g.hasExited() {
			return stopWaiting(fmt.Errorf("the gate exited on SIGHUP: %v", g.exitErr))
		}
		if n := loaded(); n != 2 {
			return fmt.Errorf("%d \"access rules loaded\" lines", n)
		}
		return nil
	})
	resp, _ := g.do(t, "GET", "/verify", "", "", map[string]string{
		"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/healthz", "X-Forwarded-Method": "GET",
	})
	if resp.StatusCode != 200 {
		t.Fatalf("allowed path after SIGHUP: %d", resp.StatusCode)
	}
}
