package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRateLimitReadsXRealIP: behind a trusted proxy that sends only
// X-Real-IP (nginx's usual proxy_set_header), failures are charged to the
// client it names. Before, the header was documented but never read: every
// client shared the proxy's counter, and a handful of failures from anyone
// locked everyone out. From an untrusted peer the header is ignored.
func TestRateLimitReadsXRealIP(t *testing.T) {
	s := testServer(t, "AUTHGATE_MAX_FAILURES=100", "AUTHGATE_MAX_FAILURES_PER_IP=3")
	post := func(peer, realIP, user string) int {
		r := httptest.NewRequest("POST", "/login", strings.NewReader(`{"username":"`+user+`","password":"wrong password"}`))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = peer
		if realIP != "" {
			r.Header.Set("X-Real-IP", realIP)
		}
		w := httptest.NewRecorder()
		s.handler.ServeHTTP(w, r)
		return w.Code
	}
	for i := range 3 {
		if code := post("127.0.0.1:5000", "203.0.113.7", fmt.Sprint("user", i)); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, code)
		}
	}
	if code := post("127.0.0.1:5000", "203.0.113.7", "fresh"); code != http.StatusTooManyRequests {
		t.Fatalf("the guessing client after its limit: %d, want 429", code)
	}
	if code := post("127.0.0.1:5000", "203.0.113.8", "fresh"); code != http.StatusUnauthorized {
		t.Fatalf("another client behind the same proxy: %d, want 401 (not locked out)", code)
	}
	// An untrusted peer's X-Real-IP is not believed: it cannot escape its
	// own counter by naming another address.
	for i := range 3 {
		post("198.51.100.1:5000", fmt.Sprint("192.0.2.", i), fmt.Sprint("user", i))
	}
	if code := post("198.51.100.1:5000", "192.0.2.200", "fresh"); code != http.StatusTooManyRequests {
		t.Fatalf("direct client naming a new X-Real-IP: %d, want 429", code)
	}
}
