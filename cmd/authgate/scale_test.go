package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts/redistest"
)

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

// within polls cond every 10ms for up to d.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cli runs "authgate args..." in-process, as an operator would.
func cli(tb testing.TB, stdin string, env []string, args ...string) (string, error) {
	tb.Helper()
	var out, errOut bytes.Buffer
	env = append([]string{"AUTHGATE_ARGON2_MEMORY=1024", "AUTHGATE_ARGON2_TIME=1"}, env...)
	err := run(context.Background(), args, env, strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
}

// TestBoltKeepsEveryAnsweredRegistration kills the gate with SIGKILL in the
// middle of a stream of registrations: every account that was answered 201
// is there after the restart.
func TestBoltKeepsEveryAnsweredRegistration(t *testing.T) {
	store := "AUTHGATE_STORE=bolt://" + filepath.Join(t.TempDir(), "authgate.db")
	env := []string{store, "AUTHGATE_SECRET=" + goodSecret}
	g := startGate(t, env...)

	// A second gate on the same file fails fast and says why.
	second := startGateExpectingExit(t, env...)
	if !strings.Contains(second, "AUTHGATE_STORE") || !strings.Contains(second, "in use by another authgate process") {
		t.Fatalf("second gate on the same file: %q", second)
	}

	var (
		mu       sync.Mutex
		answered []string
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("u%d-%d", w, i)
				resp, err := client.Post(g.base+"/register", "application/json",
					strings.NewReader(`{"username":"`+name+`","password":"`+pw+`"}`))
				if err != nil {
					continue // the gate is gone; keep trying until told to stop
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					mu.Lock()
					answered = append(answered, name)
					mu.Unlock()
				}
			}
		}()
	}
	if !within(20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(answered) >= 40 }) {
		t.Fatal("registrations are not being answered")
	}
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-g.done
	time.Sleep(100 * time.Millisecond) // let in-flight client calls fail
	close(stop)
	wg.Wait()

	out, err := cli(t, "", env, "users", "list", "-json")
	if err != nil {
		t.Fatalf("users list after SIGKILL: %v", err)
	}
	var listed []struct{ Name string }
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("users list -json: %v\n%s", err, out)
	}
	have := map[string]bool{}
	for _, u := range listed {
		have[u.Name] = true
	}
	for _, name := range answered {
		if !have[name] {
			t.Errorf("%s was answered 201 but is not in the store", name)
		}
	}
	g2 := startGate(t, env...)
	for _, name := range []string{answered[0], answered[len(answered)-1]} {
		if tok, code := g2.login(t, name); tok == "" {
			t.Errorf("login as %s after the restart: %d", name, code)
		}
	}
	t.Logf("%d registrations answered 201 before SIGKILL, %d accounts in the file", len(answered), len(listed))
}

// startGateExpectingExit runs the binary and returns its stderr once it
// exits, failing the test if it is still running after 10s.
func startGateExpectingExit(tb testing.TB, env ...string) string {
	tb.Helper()
	cmd := gateCommand(tb, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			tb.Fatalf("gate exited with status 0\n%s", stderr.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		tb.Fatalf("gate still running after 10s; want a fast failure\n%s", stderr.String())
	}
	return stderr.String()
}

// TestTwoGatesOnRedis runs two gate processes on one Redis: a logout on one
// is a logout on the other within a second; an outage is survived fail
// closed; everything recovers when Redis returns.
func TestTwoGatesOnRedis(t *testing.T) {
	srv := redistest.StartPersistent(t)
	env := []string{"AUTHGATE_SECRET=" + goodSecret, "AUTHGATE_STORE=" + srv.URL(), "AUTHGATE_REDIS_GRACE=2s"}
	a := startGate(t, env...)
	b := startGate(t, env...)

	if code := a.register(t, "alice"); code != http.StatusCreated {
		t.Fatalf("register on A: %d", code)
	}
	if code := b.register(t, "Alice"); code != http.StatusConflict {
		t.Fatalf("register of the same name on B: %d, want 409", code)
	}
	tok, code := b.login(t, "alice")
	if tok == "" {
		t.Fatalf("login on B: %d", code)
	}
	if resp := a.verify(t, tok); resp.StatusCode != 200 || resp.Header.Get("Remote-User") != "alice" {
		t.Fatalf("verify on A of B's session: %d %q", resp.StatusCode, resp.Header.Get("Remote-User"))
	}
	if resp, _ := b.do(t, "POST", "/logout", "", "", map[string]string{"Authorization": "Bearer " + tok}); resp.StatusCode != 204 {
		t.Fatalf("logout on B: %d", resp.StatusCode)
	}
	start := time.Now()
	if !within(time.Second, func() bool { return a.verify(t, tok).StatusCode == 401 }) {
		t.Fatal("A still accepts a session logged out on B after 1s")
	}
	t.Logf("logout on B refused on A after %v", time.Since(start).Round(time.Millisecond))

	t.Run("users groups ends sessions on every replica", func(t *testing.T) {
		tok, _ := a.login(t, "alice")
		if a.verify(t, tok).StatusCode != 200 || b.verify(t, tok).StatusCode != 200 {
			t.Fatal("fresh session refused")
		}
		if out, err := cli(t, "", env, "users", "groups", "alice", "ops,Admins"); err != nil {
			t.Fatalf("users groups: %v %s", err, out)
		}
		if !within(time.Second, func() bool { return a.verify(t, tok).StatusCode == 401 && b.verify(t, tok).StatusCode == 401 }) {
			t.Fatal("a session from before the group change still passes after 1s")
		}
		tok, _ = b.login(t, "alice")
		if g := a.verify(t, tok).Header.Get("Remote-Groups"); g != "ops,admins" {
			t.Fatalf("Remote-Groups after users groups: %q", g)
		}
		if out, err := cli(t, "new horse battery staple\n", env, "users", "passwd", "alice"); err != nil {
			t.Fatalf("users passwd: %v %s", err, out)
		}
		if !within(time.Second, func() bool { return a.verify(t, tok).StatusCode == 401 }) {
			t.Fatal("a session from before the password change still passes after 1s")
		}
		if _, code := a.login(t, "alice"); code != 401 {
			t.Fatalf("old password after users passwd: %d", code)
		}
	})

	// Sessions for the outage: A has seen known (verified it), not unknown.
	if code := a.register(t, "bob"); code != 201 {
		t.Fatalf("register bob: %d", code)
	}
	known, _ := a.login(t, "bob")
	unknown, _ := b.login(t, "bob")
	if a.verify(t, known).StatusCode != 200 {
		t.Fatal("known session refused before the outage")
	}

	srv.Stop()
	if resp := a.verify(t, known); resp.StatusCode != 200 || resp.Header.Get("Remote-User") != "bob" {
		t.Fatalf("known session during the grace period: %d", resp.StatusCode)
	}
	if code := a.verify(t, unknown).StatusCode; code != 401 {
		t.Fatalf("unknown session during the outage: %d, want 401", code)
	}
	for _, path := range []string{"/login", "/register"} {
		code, body := a.status(t, "POST", path)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, `"error"`) {
			t.Fatalf("%s during the outage: %d %s, want 503 with an error", path, code, body)
		}
	}
	if code, _ := a.status(t, "GET", "/healthz"); code != 200 {
		t.Fatalf("/healthz during the outage: %d", code)
	}
	if !within(5*time.Second, func() bool { code, _ := a.status(t, "GET", "/readyz"); return code == 503 }) {
		t.Fatal("/readyz does not report the outage")
	}
	if !within(5*time.Second, func() bool { return a.verify(t, known).StatusCode == 401 }) {
		t.Fatal("known session still honoured long after the grace period")
	}

	srv.Restart() // with its append-only file: accounts and sessions are back
	for name, g := range map[string]*gate{"A": a, "B": b} {
		if !within(15*time.Second, func() bool { code, _ := g.status(t, "GET", "/readyz"); return code == 200 }) {
			t.Fatalf("%s: /readyz not 200 after Redis returned", name)
		}
	}
	if a.verify(t, known).StatusCode != 200 || b.verify(t, unknown).StatusCode != 200 {
		t.Fatal("sessions stored in Redis refused after it returned")
	}
	if tok, code := b.login(t, "bob"); tok == "" || a.verify(t, tok).StatusCode != 200 {
		t.Fatalf("login after recovery: %d", code)
	}
	if code := b.register(t, "carol"); code != 201 {
		t.Fatalf("register after recovery: %d", code)
	}
	if logs := a.Logs() + b.Logs(); strings.Contains(logs, known) || strings.Contains(logs, pw) {
		t.Fatal("a token or password reached the log")
	}
}
