package main

// The one way the tests of this package build the authgate binary
// (buildBinary), start it (startGate, and startGateExpectingExit for a gate
// that must refuse to start), talk to it (gate.do and the helpers on top),
// and wait for anything (eventually).

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	builds.mu.Lock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
	builds.mu.Unlock()
	os.Exit(code)
}

// builds are the binaries built so far, by package and flags, in one
// temporary directory removed by TestMain.
var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]builtBinary
}

type builtBinary struct {
	path string
	err  error
}

// buildBinary builds pkg (relative to cmd/authgate: "." is the gate itself)
// with the go build flags given, once per test process, and returns the
// binary's path. The end-to-end tests build with -race and run the real
// program, not a handler in the test process; the load harness builds as
// shipped (-trimpath).
func buildBinary(tb testing.TB, pkg string, flags ...string) string {
	tb.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	key := pkg + "\x00" + strings.Join(flags, "\x00")
	b, ok := builds.bins[key]
	if !ok {
		b = build(pkg, flags, len(builds.bins))
		if builds.bins == nil {
			builds.bins = map[string]builtBinary{}
		}
		builds.bins[key] = b
	}
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.path
}

// build runs go build for buildBinary (which holds builds.mu).
func build(pkg string, flags []string, n int) builtBinary {
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "authgate-test-")
		if err != nil {
			return builtBinary{err: err}
		}
		builds.dir = dir
	}
	name := filepath.Base(pkg)
	if pkg == "." {
		name = "authgate"
	}
	out := filepath.Join(builds.dir, strconv.Itoa(n), name)
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	if msg, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return builtBinary{err: fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, msg)}
	}
	return builtBinary{path: out}
}

// eventually polls cond every 10ms until it returns nil, and fails the test
// naming what it waited for (and cond's last error) when timeout passes
// first. A cond that knows the wait is hopeless (the process it waits on
// has exited) returns stopWaiting(err) to fail at once. It is the only
// place the tests of this package poll.
func eventually(tb testing.TB, timeout time.Duration, what string, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		var stop hopeless
		if errors.As(err, &stop) {
			tb.Fatalf("waiting for %s: %v", what, stop.err)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("waited %s for %s: %v", timeout, what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stopWaiting ends an eventually at once with err.
func stopWaiting(err error) error { return hopeless{err} }

type hopeless struct{ err error }

func (h hopeless) Error() string { return h.err.Error() }

// gate is one running authgate process.
type gate struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port once it listens

	mu   sync.Mutex
	logs strings.Builder
	addr string

	exited  chan struct{} // closed when the process has exited
	exitErr error         // its Wait error, set before exited is closed
}

var listenRE = regexp.MustCompile(`msg="authgate listening" addr=(\S+)`)

// startGate runs the gate binary under env, over test defaults (any free
// loopback port, cheap argon2, cookies over plain HTTP; a variable in env
// overrides its default), and waits until it listens. It is killed when
// the test ends, and its log is shown if the test failed.
func startGate(tb testing.TB, env ...string) *gate {
	tb.Helper()
	g := spawnGate(tb, env)
	eventually(tb, 30*time.Second, "the gate to listen", func() error {
		g.mu.Lock()
		addr := g.addr
		g.mu.Unlock()
		if addr != "" {
			g.base = "http://" + addr
			return nil
		}
		if g.hasExited() {
			return stopWaiting(fmt.Errorf("gate exited: %v\n%s", g.exitErr, g.Logs()))
		}
		return errors.New("no \"authgate listening\" line in its log yet")
	})
	return g
}

// startGateExpectingExit runs the gate like startGate and returns its log
// once it has exited, failing the test unless it exits with an error
// within 10s.
func startGateExpectingExit(tb testing.TB, env ...string) string {
	tb.Helper()
	g := spawnGate(tb, env)
	eventually(tb, 10*time.Second, "the gate to fail at start", func() error {
		if !g.hasExited() {
			return errors.New("still running; want a fast failure")
		}
		return nil
	})
	if g.exitErr == nil {
		tb.Fatalf("gate exited with status 0\n%s", g.Logs())
	}
	return g.Logs()
}

// spawnGate starts the process and collects its stderr; startGate and
// startGateExpectingExit wait for what they expect of it.
func spawnGate(tb testing.TB, env []string) *gate {
	tb.Helper()
	cmd := exec.Command(buildBinary(tb, ".", "-race"))
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AUTHGATE_LISTEN=127.0.0.1:0",
		"AUTHGATE_ARGON2_MEMORY=1024", "AUTHGATE_ARGON2_TIME=1",
		"AUTHGATE_COOKIE_SECURE=false",
	}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	g := &gate{cmd: cmd, exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			g.mu.Lock()
			g.logs.WriteString(line + "\n")
			if m := listenRE.FindStringSubmatch(line); m != nil && g.addr == "" {
				g.addr = m[1]
			}
			g.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr) // a line past the buffer: keep the pipe flowing
		g.exitErr = cmd.Wait()
		close(g.exited)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-g.exited
		if tb.Failed() {
			tb.Logf("gate %s logs:\n%s", g.base, g.Logs())
		}
	})
	return g
}

func (g *gate) hasExited() bool {
	select {
	case <-g.exited:
		return true
	default:
		return false
	}
}

// Logs is everything the gate has written to stderr so far.
func (g *gate) Logs() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.logs.String()
}

var noRedirect = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (g *gate) do(tb testing.TB, method, path, ctype, body string, hdr map[string]string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(method, g.base+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const pw = "correct horse battery"

func (g *gate) register(tb testing.TB, name string) int {
	tb.Helper()
	resp, _ := g.do(tb, "POST", "/register", "application/json", `{"username":"`+name+`","password":"`+pw+`"}`, nil)
	return resp.StatusCode
}

// login returns the token, or "" and the status when it was refused.
func (g *gate) login(tb testing.TB, name string) (string, int) {
	tb.Helper()
	resp, body := g.do(tb, "POST", "/login", "application/json", `{"username":"`+name+`","password":"`+pw+`"}`, nil)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal([]byte(body), &tok)
	return tok.AccessToken, resp.StatusCode
}

func (g *gate) verify(tb testing.TB, token string) *http.Response {
	tb.Helper()
	resp, _ := g.do(tb, "GET", "/verify", "", "", map[string]string{"Authorization": "Bearer " + token})
	return resp
}

func (g *gate) status(tb testing.TB, method, path string) (int, string) {
	tb.Helper()
	resp, body := g.do(tb, method, path, "application/json", `{"username":"someone","password":"`+pw+`"}`, nil)
	return resp.StatusCode, body
}
