package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authgate/authgate/verify"
	"github.com/authgate/authgate/verify/assertion"
)

// fullGate is the wired server with every feature that touches /verify
// on: a rules file of 200 rules, metrics, identity assertions, a login
// URL; and a live token for it.
func fullGate(tb testing.TB, env ...string) (*server, string) {
	tb.Helper()
	dir := tb.TempDir()
	key, err := assertion.Generate("ec")
	if err != nil {
		tb.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		tb.Fatal(err)
	}
	var rules strings.Builder
	rules.WriteString("default: authenticated\nrules:\n")
	for i := range 200 {
		// Hosts, wildcard hosts with groups, networks and denials, none
		// of them app.example.com: the default decides, after the lookup.
		switch i % 4 {
		case 0:
			fmt.Fprintf(&rules, "  - name: r%d\n    hosts: [h%d.example.com]\n    paths: [\"/p%d/*\"]\n    action: allow\n", i, i, i)
		case 1:
			fmt.Fprintf(&rules, "  - name: r%d\n    hosts: [\"*.h%d.example.com\"]\n    action: authenticated\n    groups: [g%d]\n", i, i, i)
		case 2:
			fmt.Fprintf(&rules, "  - name: r%d\n    hosts: [h%d.example.org]\n    networks: [10.%d.0.0/16]\n    action: allow\n", i, i, i%250)
		case 3:
			fmt.Fprintf(&rules, "  - name: r%d\n    hosts: [old%d.example.net]\n    paths: [\"/x/*\"]\n    action: deny\n", i, i)
		}
	}
	rulesFile := filepath.Join(dir, "rules.yaml")
	writeFile(tb, rulesFile, rules.String())
	return benchGate(tb, append([]string{
		"AUTHGATE_RULES_FILE=" + rulesFile,
		"AUTHGATE_METRICS_LISTEN=127.0.0.1:0",
		"AUTHGATE_ASSERTION_KEY_FILE=" + keyFile,
		"AUTHGATE_LOGIN_URL=https://auth.example.com/login",
		"AUTHGATE_COOKIE_DOMAIN=example.com",
	}, env...)...)
}

// hotPathCases are the four kinds of traffic /verify answers, as the
// proxies send them: a bearer token and a session cookie (with the
// assertion for app.example.com), nothing (nginx: 401 with Location) and
// a browser navigation without a session through Traefik or Caddy (302).
func hotPathCases(token string) []struct {
	name   string
	want   int
	header map[string]string
} {
	nginx := map[string]string{"X-Original-URL": "https://app.example.com/reports?q=1", "X-Original-Method": "GET"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	return []struct {
		name   string
		want   int
		header map[string]string
	}{
		{"bearer", http.StatusOK, with(nginx, "Authorization", "Bearer "+token)},
		{"cookie", http.StatusOK, with(nginx, "Cookie", "_ga=GA1.2.3; theme=dark; authgate_session="+token)},
		{"no-credentials", http.StatusUnauthorized, nginx},
		{"browser-redirect", http.StatusFound, map[string]string{
			"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/reports",
			"X-Forwarded-Method": "GET", "Accept": "text/html", "Sec-Fetch-Mode": "navigate",
		}},
	}
}

func hotPathRequest(header map[string]string) *http.Request {
	r, _ := http.NewRequest("GET", "/verify", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return r
}

// BenchmarkVerifyAllFeatures: /verify through the whole handler stack
// (routes, rules, metrics, assertions), a cache hit for the signed-in
// kinds.
//
//	go test -run '^$' -bench 'VerifyAllFeatures' -benchmem -count 6 ./cmd/authgate/
//
// The refusals are measured twice: with their decision log line (the
// default, AUTHGATE_DECISION_LOG=denied, with a logger at info), and
// without (-unlogged: AUTHGATE_DECISION_LOG=none, or a log level above
// info).
func BenchmarkVerifyAllFeatures(b *testing.B) {
	s, tok := fullGate(b)
	quiet, quietTok := fullGate(b, "AUTHGATE_DECISION_LOG=none")
	run := func(b *testing.B, s *server, header map[string]string, want int) {
		r := hotPathRequest(header)
		w := &nopWriter{h: make(http.Header, 8)}
		s.handler.ServeHTTP(w, r) // warm the caches
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			s.handler.ServeHTTP(w, r)
		}
		if w.code != want {
			b.Fatalf("status %d, want %d", w.code, want)
		}
	}
	for _, tc := range hotPathCases(tok) {
		b.Run(tc.name, func(b *testing.B) { run(b, s, tc.header, tc.want) })
	}
	for _, tc := range hotPathCases(quietTok)[2:] {
		b.Run(tc.name+"-unlogged", func(b *testing.B) { run(b, quiet, tc.header, tc.want) })
	}
}

// TestVerifyHotPathAnswers: the answers the benchmark measures are the
// real ones: identity and assertion on the 200s, Location on the refusals.
func TestVerifyHotPathAnswers(t *testing.T) {
	s, tok := fullGate(t)
	for _, tc := range hotPathCases(tok) {
		w := &nopWriter{h: make(http.Header, 8)}
		s.handler.ServeHTTP(w, hotPathRequest(tc.header))
		if w.code != tc.want {
			t.Fatalf("%s: %d, want %d", tc.name, w.code, tc.want)
		}
		if tc.want == http.StatusOK {
			if w.h.Get(verify.HeaderUser) != "alice" || w.h.Get(assertion.Header) == "" {
				t.Errorf("%s: user %q, assertion %q", tc.name, w.h.Get(verify.HeaderUser), w.h.Get(assertion.Header))
			}
			continue
		}
		if loc := w.h.Get("Location"); loc != "https://auth.example.com/login?rd=https%3A%2F%2Fapp.example.com%2Freports"+map[bool]string{true: "%3Fq%3D1"}[tc.name == "no-credentials"] {
			t.Errorf("%s: Location %q", tc.name, loc)
		}
	}
}

// TestVerifyAllocations: the allocations of /verify through the wired
// server with every feature on, per kind of traffic: none for a signed-in
// request answered from the caches, two for a refusal without a decision
// line (its Location and the header slice that holds it). A count, not a
// time: a change that allocates on the hot path fails here, whatever the
// machine. Under the race detector sync.Pool drops a share of what it is
// given (Echo's request contexts), so the bound there is looser.
func TestVerifyAllocations(t *testing.T) {
	s, tok := fullGate(t, "AUTHGATE_DECISION_LOG=none")
	want := map[string]float64{"bearer": 0, "cookie": 0, "no-credentials": 2, "browser-redirect": 2}
	for _, tc := range hotPathCases(tok) {
		r := hotPathRequest(tc.header)
		w := &nopWriter{h: make(http.Header, 8)}
		s.handler.ServeHTTP(w, r) // warm the caches
		got := testing.AllocsPerRun(200, func() {
			clear(w.h)
			s.handler.ServeHTTP(w, r)
		})
		if w.code != tc.want {
			t.Fatalf("%s: status %d, want %d", tc.name, w.code, tc.want)
		}
		if limit := want[tc.name] + raceAllocSlack; got > limit {
			t.Errorf("%s: %.1f allocations per request, want at most %.0f", tc.name, got, limit)
		}
	}
}

// TestHeapFloor: the floor under the collector's goal is there by
// default, and gone when the operator tunes the collector.
func TestHeapFloor(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want int
	}{
		{nil, heapFloorSize},
		{[]string{"AUTHGATE_LISTEN=:8080"}, heapFloorSize},
		{[]string{"GOGC=200"}, 0},
		{[]string{"GOGC=off", "GOMEMLIMIT=512MiB"}, 0},
		{[]string{"GOMEMLIMIT=1GiB"}, 0},
	} {
		if got := len(heapFloor(tc.env)); got != tc.want {
			t.Errorf("%q: floor of %d bytes, want %d", tc.env, got, tc.want)
		}
	}
}
