package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func decisionLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if m["msg"] == "verify decision" {
			out = append(out, m)
		}
	}
	return out
}

// TestDecisionLog: one line per refused decision by default (none for an
// allowed one), every decision with LogAll, nothing with LogNone; the line
// carries the request id (the caller's when usable, sent back on the
// answer either way), the client address, method, host, path without its
// query, code, reason, rule, user and a hash prefix of the session, never
// the token or the query.
func TestDecisionLog(t *testing.T) {
	for _, mode := range []DecisionLog{LogDenied, LogAll, LogNone} {
		var buf bytes.Buffer
		f := newFixture(t, func(c *Config) {
			withRules(t, rulesFile)(c)
			c.DecisionLog = mode
			c.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		tok := f.login(t, "bob", "staff")
		ok := f.do("GET", "/verify", with(original("https://app.example.com/x?secret=q1"), "Authorization", "Bearer "+tok, "X-Request-Id", "req-42"))
		denied := f.do("GET", "/verify", with(original("https://app.example.com/admin/x?secret=q2"), "Authorization", "Bearer "+tok))
		if ok.Code != 200 || denied.Code != 403 {
			t.Fatalf("statuses %d %d", ok.Code, denied.Code)
		}
		if got, want := ok.Header().Get(HeaderRequestID), map[DecisionLog]string{LogAll: "req-42"}[mode]; got != want {
			t.Fatalf("mode %d: allowed answer's request id %q, want %q (sent back when the answer is logged)", mode, got, want)
		}
		id := denied.Header().Get(HeaderRequestID)
		if mode != LogNone && len(id) != 16 {
			t.Fatalf("%d: no generated request id on a refusal: %q", mode, id)
		}
		lines := decisionLines(t, &buf)
		want := map[DecisionLog]int{LogDenied: 1, LogAll: 2, LogNone: 0}[mode]
		if len(lines) != want {
			t.Fatalf("mode %d: %d decision lines, want %d:\n%s", mode, len(lines), want, buf.String())
		}
		if strings.Contains(buf.String(), "secret=") || strings.Contains(buf.String(), tok) {
			t.Fatalf("a query string or the token reached the log:\n%s", buf.String())
		}
		if want == 0 {
			continue
		}
		d := lines[len(lines)-1]
		var session string
		for sid, u := range f.sessions.live {
			if u == "bob" {
				sum := sha256.Sum256([]byte(sid))
				session = hex.EncodeToString(sum[:4])
			}
		}
		for k, v := range map[string]any{
			"request_id": id, "client_ip": "127.0.0.1", "method": "GET", "host": "app.example.com", "path": "/admin/x",
			"code": float64(403), "reason": "groups", "rule": "admin-area", "user": "bob", "session": session,
		} {
			if d[k] != v {
				t.Errorf("mode %d: %s = %v, want %v", mode, k, d[k], v)
			}
		}
		if _, ok := d["duration"]; !ok {
			t.Error("no duration")
		}
	}
}

func TestCallerRequestID(t *testing.T) {
	for in, ok := range map[string]bool{"abc": true, strings.Repeat("a", 128): true, strings.Repeat("a", 129): false, "": false, "a b": false, "a\x00": false, "é": false} {
		f := newFixture(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
		w := f.do("GET", "/verify", map[string]string{HeaderRequestID: in})
		got := w.Header().Get(HeaderRequestID)
		if (got == in) != ok {
			t.Errorf("caller's id %q: answer's %q", in, got)
		}
	}
}

// TestNoRequestIDWithoutLine: a gate whose logger writes no info lines
// writes no decision line, so its refusals carry no X-Request-Id (and
// it makes none for them).
func TestNoRequestIDWithoutLine(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		f := newFixture(t, func(c *Config) {
			c.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level}))
		})
		w := f.do("GET", "/verify", nil)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", w.Code)
		}
		if got := w.Header().Get(HeaderRequestID); (got != "") != (level == slog.LevelInfo) {
			t.Errorf("logger at %s: X-Request-Id %q", level, got)
		}
	}
}
