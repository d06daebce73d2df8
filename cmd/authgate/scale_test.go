package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts/redistest"
)

// The Redis tests: several replicas on one Redis (scale_test.go is what
// README.md points to), and /verify answered from the local cache. The
// lockout shared through Redis is in lockout_test.go.

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
	eventually(t, time.Second, "A to refuse a session logged out on B", func() error {
		return wantStatus("verify on A", a.verify(t, tok).StatusCode, 401)
	})
	t.Logf("logout on B refused on A after %v", time.Since(start).Round(time.Millisecond))

	t.Run("users groups ends sessions on every replica", func(t *testing.T) {
		tok, _ := a.login(t, "alice")
		if a.verify(t, tok).StatusCode != 200 || b.verify(t, tok).StatusCode != 200 {
			t.Fatal("fresh session refused")
		}
		if out, err := runCLI(t, "", env, "users", "groups", "alice", "ops,Admins"); err != nil {
			t.Fatalf("users groups: %v %s", err, out)
		}
		eventually(t, time.Second, "both gates to refuse a session from before the group change", func() error {
			return errors.Join(wantStatus("verify on A", a.verify(t, tok).StatusCode, 401), wantStatus("verify on B", b.verify(t, tok).StatusCode, 401))
		})
		tok, _ = b.login(t, "alice")
		if g := a.verify(t, tok).Header.Get("Remote-Groups"); g != "ops,admins" {
			t.Fatalf("Remote-Groups after users groups: %q", g)
		}
		if out, err := runCLI(t, "new horse battery staple\n", env, "users", "passwd", "alice"); err != nil {
			t.Fatalf("users passwd: %v %s", err, out)
		}
		eventually(t, time.Second, "A to refuse a session from before the password change", func() error {
			return wantStatus("verify on A", a.verify(t, tok).StatusCode, 401)
		})
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
	eventually(t, 5*time.Second, "/readyz to report the outage", func() error {
		code, _ := a.status(t, "GET", "/readyz")
		return wantStatus("/readyz", code, 503)
	})
	eventually(t, 5*time.Second, "the known session to be refused after the grace period", func() error {
		return wantStatus("verify on A", a.verify(t, known).StatusCode, 401)
	})

	srv.Restart() // with its append-only file: accounts and sessions are back
	for name, g := range map[string]*gate{"A": a, "B": b} {
		eventually(t, 15*time.Second, name+": /readyz 200 after Redis returned", func() error {
			code, _ := g.status(t, "GET", "/readyz")
			return wantStatus("/readyz", code, 200)
		})
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

// wantStatus is nil when got is want, else an error naming what.
func wantStatus(what string, got, want int) error {
	if got != want {
		return fmt.Errorf("%s: %d, want %d", what, got, want)
	}
	return nil
}

// TestVerifyRedisServedFromCache is the functional half of the benchmark's
// claim: with Redis stopped, a session /verify has seen keeps passing (for
// the grace period) — proof that the hot path does not ask Redis.
func TestVerifyRedisServedFromCache(t *testing.T) {
	srv := redistest.Start(t)
	s, tok := benchGate(t, "AUTHGATE_STORE="+srv.URL())
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, verifyRequest(tok))
	if w.Code != 200 {
		t.Fatalf("verify: %d", w.Code)
	}
	srv.Stop()
	for i := range 1000 {
		w := httptest.NewRecorder()
		s.handler.ServeHTTP(w, verifyRequest(tok))
		if w.Code != 200 || !strings.Contains(w.Header().Get("Remote-User"), "alice") {
			t.Fatalf("request %d with Redis down: %d", i, w.Code)
		}
	}
}
