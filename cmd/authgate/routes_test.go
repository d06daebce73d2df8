package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func testServer(t testing.TB, env ...string) *server {
	t.Helper()
	cfg, err := loadConfig(append([]string{"AUTHGATE_SECRET=" + goodSecret, "AUTHGATE_ARGON2_MEMORY=64", "AUTHGATE_ARGON2_TIME=1"}, env...))
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *server) try(peer, xff, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = peer
	if xff != "" {
		r.Header.Set("X-Forwarded-For", xff)
	}
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, r)
	return w
}

// TestRateLimitAddressCannotBeSpoofed: a client talking to the gate
// directly cannot pick the address its failures are charged to by sending
// X-Forwarded-For (Echo's RealIP reads that header from anyone unless told
// otherwise); behind a trusted proxy, the forwarded client address is the
// one charged. Same rule as the fix for oauth2-proxy GHSA-7x63-xv5r-3p2x
// (CVE-2026-40575): a forwarded header counts only from a trusted proxy.
func TestRateLimitAddressCannotBeSpoofed(t *testing.T) {
	s := testServer(t, "AUTHGATE_MAX_FAILURES=100", "AUTHGATE_MAX_FAILURES_PER_IP=3")
	for i := 0; i < 3; i++ {
		w := s.try("203.0.113.5:1234", fmt.Sprintf("198.51.100.%d", i), "/login", fmt.Sprintf(`{"username":"user%d","password":"wrong password"}`, i))
		if w.Code != 401 {
			t.Fatalf("attempt %d: %d", i, w.Code)
		}
	}
	w := s.try("203.0.113.5:1234", "198.51.100.99", "/login", `{"username":"fresh","password":"wrong password"}`)
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("direct client with a new X-Forwarded-For: %d, want 429", w.Code)
	}
	if w := s.try("203.0.113.6:1234", "", "/login", `{"username":"fresh","password":"wrong password"}`); w.Code != 401 {
		t.Fatalf("another client: %d, want 401", w.Code)
	}

	// Through a trusted proxy, each forwarded client is charged separately.
	for i := 0; i < 3; i++ {
		s.try("127.0.0.1:1", "192.0.2.10", "/login", fmt.Sprintf(`{"username":"p%d","password":"wrong password"}`, i))
	}
	if w := s.try("127.0.0.1:1", "192.0.2.10", "/login", `{"username":"p9","password":"wrong password"}`); w.Code != 429 {
		t.Fatalf("forwarded client after failures: %d, want 429", w.Code)
	}
	if w := s.try("127.0.0.1:1", "192.0.2.11", "/login", `{"username":"p9","password":"wrong password"}`); w.Code != 401 {
		t.Fatalf("other forwarded client: %d, want 401", w.Code)
	}
}

// TestVerifyBasicThroughRoutes: Basic credentials on /verify are checked
// against the accounts and regulated like /login.
func TestVerifyBasicThroughRoutes(t *testing.T) {
	s := testServer(t, "AUTHGATE_MAX_FAILURES=2")
	if w := s.try("127.0.0.1:1", "", "/register", `{"username":"ci","password":"correct horse battery"}`); w.Code != 201 {
		t.Fatalf("register: %d", w.Code)
	}
	get := func(user, pw string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/verify", nil)
		r.RemoteAddr = "127.0.0.1:1"
		r.SetBasicAuth(user, pw)
		w := httptest.NewRecorder()
		s.handler.ServeHTTP(w, r)
		return w
	}
	if w := get("ci", "correct horse battery"); w.Code != 200 || w.Header().Get("Remote-User") != "ci" {
		t.Fatalf("basic: %d", w.Code)
	}
	get("ci", "nope1")
	get("ci", "nope2")
	if w := get("ci", "correct horse battery"); w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("after failures: %d", w.Code)
	}
}

// TestSecurityHeadersOnPages: the login page cannot be framed, load
// anything foreign or post elsewhere, and is not cached. No public advisory
// cited; the classes are clickjacking, XSS and form hijacking.
func TestSecurityHeadersOnPages(t *testing.T) {
	s := testServer(t)
	r := httptest.NewRequest("GET", "/login", nil)
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, r)
	csp := w.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if w.Header().Get("X-Frame-Options") != "DENY" || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", w.Header())
	}
	r = httptest.NewRequest("GET", "/assets/style.css", nil)
	w = httptest.NewRecorder()
	s.handler.ServeHTTP(w, r)
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
}

// TestRouteMiddleware: with the recover and the body limit attached to
// each route rather than to the whole Echo (so /verify runs without them),
// a known path asked with the wrong method is still 405, an unknown one
// 404, an oversized body 413 on every route that reads one, and /verify
// answers every method.
func TestRouteMiddleware(t *testing.T) {
	s := testServer(t, "AUTHGATE_BODY_LIMIT=1024")
	big := `{"username":"` + strings.Repeat("a", 2048) + `"}`
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/register", "", http.StatusMethodNotAllowed},
		{"POST", "/healthz", "", http.StatusMethodNotAllowed},
		{"DELETE", "/admin", "", http.StatusMethodNotAllowed},
		{"PATCH", "/admin/api/users", "", http.StatusMethodNotAllowed},
		{"GET", "/nope", "", http.StatusNotFound},
		{"GET", "/admin/nope", "", http.StatusNotFound},
		{"POST", "/login", big, http.StatusRequestEntityTooLarge},
		{"POST", "/register", big, http.StatusRequestEntityTooLarge},
		{"POST", "/admin/api/invites", big, http.StatusRequestEntityTooLarge},
		{"GET", "/healthz", "", http.StatusOK},
		{"GET", "/verify", "", http.StatusUnauthorized},
		{"DELETE", "/verify", "", http.StatusUnauthorized},
		{"POST", "/verify", big, http.StatusUnauthorized},
	} {
		r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.handler.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, w.Code, strings.TrimSpace(w.Body.String()), tc.want)
		}
		if ct := w.Header().Get("Content-Type"); tc.want != http.StatusOK && !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s %s: Content-Type %q, want a JSON error", tc.method, tc.path, ct)
		}
	}
}
