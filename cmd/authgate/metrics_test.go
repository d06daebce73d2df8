package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

var metricsRE = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)

// scrape reads the metrics listener's page.
func scrape(tb testing.TB, addr string) string {
	tb.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		tb.Fatalf("scrape: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// TestMetricsEndToEnd: the real binary with AUTHGATE_METRICS_LISTEN serves
// /metrics there (and not on the gate's own listener), and the counters
// move with real requests; no label carries a user name or an address.
func TestMetricsEndToEnd(t *testing.T) {
	g := startGate(t, "AUTHGATE_SECRET="+goodSecret, "AUTHGATE_METRICS_LISTEN=127.0.0.1:0")
	var maddr string
	eventually(t, 10*time.Second, "the metrics listener", func() error {
		if m := metricsRE.FindStringSubmatch(g.Logs()); m != nil {
			maddr = m[1]
			return nil
		}
		return errors.New(`no "metrics listening" line yet`)
	})

	if code := g.register(t, "alice"); code != 201 {
		t.Fatalf("register: %d", code)
	}
	g.register(t, "alice") // conflict
	g.do(t, "POST", "/register", "application/json", `{"username":"bob","password":"short"}`, nil)
	tok, code := g.login(t, "alice")
	if code != 200 {
		t.Fatalf("login: %d", code)
	}
	g.do(t, "POST", "/login", "application/json", `{"username":"alice","password":"wrong password"}`, nil)
	g.verify(t, tok)
	g.verify(t, tok)
	g.do(t, "GET", "/verify", "", "", nil)
	g.do(t, "POST", "/logout", "", "", map[string]string{"Authorization": "Bearer " + tok})

	page := scrape(t, maddr)
	for _, want := range []string{
		`authgate_verify_requests_total{code="200",reason="ok"} 2`,
		`authgate_verify_requests_total{code="401",reason="no_credentials"} 1`,
		`authgate_verify_duration_seconds_count 3`,
		`authgate_logins_total{result="success"} 1`,
		`authgate_logins_total{result="failure"} 1`,
		`authgate_registrations_total{result="created"} 1`,
		`authgate_registrations_total{result="conflict"} 1`,
		`authgate_registrations_total{result="invalid"} 1`,
		`authgate_logouts_total 1`,
		`authgate_token_cache_hits_total 1`,
		`authgate_token_cache_misses_total 1`,
		`authgate_token_cache_entries 1`,
		`authgate_store_up 1`,
		`authgate_store_errors_total{op="session_live"} 0`,
		`# HELP authgate_verify_requests_total `,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("metrics page lacks %q", want)
		}
	}
	if !regexp.MustCompile(`authgate_build_info\{goversion="go[^"]+",version="[^"]+"\} 1`).MatchString(page) {
		t.Error("no authgate_build_info")
	}
	for _, never := range []string{"alice", "bob", "127.0.0.1", tok} {
		if strings.Contains(page, never) {
			t.Errorf("the metrics page carries %q", never)
		}
	}
	if resp, _ := g.do(t, "GET", "/metrics", "", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the gate's own listener answers /metrics: %d", resp.StatusCode)
	}
}

// TestMetricsLint: every metric has help, counters end in _total, names
// follow Prometheus' conventions (testutil.CollectAndLint); without
// AUTHGATE_METRICS_LISTEN there is no registry at all.
func TestMetricsLint(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/rules.yaml"
	writeFile(t, file, "default: authenticated\nrules:\n  - name: open\n    paths: [/open]\n    action: allow\n")
	cfg, err := loadConfig([]string{"AUTHGATE_SECRET=" + goodSecret, "AUTHGATE_METRICS_LISTEN=127.0.0.1:0", "AUTHGATE_RULES_FILE=" + file,
		"AUTHGATE_ARGON2_MEMORY=64", "AUTHGATE_ARGON2_TIME=1"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	problems, err := testutil.GatherAndLint(s.metrics.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "authgate_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
	names := map[string]bool{}
	mfs, _ := s.metrics.Registry().Gather()
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{
		"authgate_verify_requests_total", "authgate_verify_duration_seconds", "authgate_logins_total", "authgate_registrations_total",
		"authgate_logouts_total", "authgate_token_cache_hits_total", "authgate_token_cache_misses_total", "authgate_token_cache_entries",
		"authgate_store_errors_total", "authgate_store_up", "authgate_rules_loaded", "authgate_rules_reloads_total", "authgate_build_info",
	} {
		if !names[want] {
			t.Errorf("no metric %s", want)
		}
	}

	plain := testServer(t)
	if plain.metrics != nil {
		t.Fatal("metrics without AUTHGATE_METRICS_LISTEN")
	}
}
