package verify

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/authgate/authgate/verify/forwarded"
	"github.com/authgate/authgate/verify/rules"
	"github.com/authgate/authgate/verify/rules/norm"
)

const rulesFile = `default: authenticated
rules:
  - name: health
    hosts: [status.example.com]
    paths: [/healthz]
    action: allow
  - name: public
    hosts: [app.example.com]
    paths: ["/public/*"]
    action: allow
  - name: admin-area
    hosts: [app.example.com]
    paths: ["/admin/*"]
    action: authenticated
    groups: [admins]
  - name: office
    networks: [198.51.100.0/24]
    action: allow
  - name: retired
    hosts: [old.example.com]
    action: deny
`

func withRules(tb testing.TB, src string) func(*Config) {
	tb.Helper()
	set, _, err := rules.Parse("rules.yaml", []byte(src))
	if err != nil {
		tb.Fatal(err)
	}
	h := &rules.Holder{}
	h.Store(set)
	return func(c *Config) { c.Rules = h }
}

func original(u string) map[string]string {
	return map[string]string{"X-Original-URL": u, "Accept": "application/json"}
}

func with(h map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestVerifyRules: the file's decision, then the usual checks. An allow
// answers 200 for anyone with all four identity headers (empty without
// credentials, filled with them); a deny refuses a signed-in user too; an
// authenticated rule's groups are required after sign-in; the verify
// URL's own rules still narrow an allow.
func TestVerifyRules(t *testing.T) {
	f := newFixture(t, withRules(t, rulesFile))
	admin := "Bearer " + f.login(t, "alice", "admins")
	staff := "Bearer " + f.login(t, "bob", "staff")
	for _, tc := range []struct {
		name   string
		target string
		hdr    map[string]string
		want   int
		user   string
	}{
		{"public without credentials", "/verify", original("https://app.example.com/public/a"), 200, ""},
		{"public with credentials", "/verify", with(original("https://app.example.com/public/a"), "Authorization", staff), 200, "bob"},
		{"public with a bad token", "/verify", with(original("https://app.example.com/public/a"), "Authorization", "Bearer nope"), 200, ""},
		{"health", "/verify", original("https://status.example.com/healthz"), 200, ""},
		{"traversal out of public", "/verify", original("https://app.example.com/public/%2e%2e/admin/x"), 401, ""},
		{"admin without credentials", "/verify", original("https://app.example.com/admin/x"), 401, ""},
		{"admin, not a member", "/verify", with(original("https://app.example.com/admin/x"), "Authorization", staff), 403, ""},
		{"admin, member", "/verify", with(original("https://app.example.com/admin/x"), "Authorization", admin), 200, "alice"},
		{"encoded slash still protected", "/verify", with(original("https://app.example.com/admin%2fx"), "Authorization", staff), 403, ""},
		{"denied host, signed in", "/verify", with(original("https://old.example.com/"), "Authorization", admin), 403, ""},
		{"default, signed in", "/verify", with(original("https://app.example.com/x"), "Authorization", staff), 200, "bob"},
		{"default, anonymous", "/verify", original("https://app.example.com/x"), 401, ""},
		{"a marker in the verify URL does not narrow", "/verify?proxy=caddy&on_fail=401", original("https://app.example.com/public/a"), 200, ""},
		{"verify URL narrows an allow", "/verify?groups=admins", original("https://app.example.com/public/a"), 401, ""},
		{"verify URL narrows an allow, non-member", "/verify?groups=admins", with(original("https://app.example.com/public/a"), "Authorization", staff), 403, ""},
		{"verify URL narrows an allow, member", "/verify?groups=admins", with(original("https://app.example.com/public/a"), "Authorization", admin), 200, "alice"},
		{"Traefik headers", "/verify", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "APP.example.com:443", "X-Forwarded-Uri": "/public/x?y=/admin/"}, 200, ""},
		{"shipped nginx: both dialects agree", "/verify", with(original("https://app.example.com/public/a"), "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/public/a", "X-Forwarded-Method", "GET", "X-Original-Method", "GET"), 200, ""},
		// ingress-nginx sets X-Original-URL and passes a client's own
		// X-Forwarded-Uri through: a public path slipped in beside the
		// real one must not open it. A request that cannot be read one
		// way only meets the strictest rule that could apply: here the
		// deny of old.example.com.
		{"ingress-nginx, client's X-Forwarded-Uri", "/verify", with(original("https://app.example.com/admin/x"), "X-Forwarded-Uri", "/public/a", "X-Forwarded-Method", "GET"), 403, ""},
		{"ingress-nginx, client's X-Forwarded-Host", "/verify", with(original("https://old.example.com/x"), "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/x"), 403, ""},
		// Traefik sets X-Forwarded-* and passes a client's X-Original-URL.
		{"Traefik, client's X-Original-URL", "/verify", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/admin/x", "X-Original-URL": "https://app.example.com/public/a"}, 403, ""},
		{"an unreadable X-Original-URL", "/verify", original("https://a@app.example.com/admin/x%zz"), 403, ""},
		{"two hosts in X-Forwarded-Host", "/verify", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com,old.example.com", "X-Forwarded-Uri": "/public/x"}, 403, ""},
		{"segment parameter out of public", "/verify", original("https://app.example.com/public/..;/admin/x"), 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do("GET", tc.target, tc.hdr)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			if w.Code == 200 {
				for _, h := range []string{HeaderUser, HeaderEmail, HeaderName, HeaderGroups} {
					if _, ok := w.Header()[h]; !ok {
						t.Fatalf("%s missing: an allowed answer sends all four identity headers", h)
					}
				}
				if got := w.Header().Get(HeaderUser); got != tc.user {
					t.Fatalf("Remote-User %q, want %q", got, tc.user)
				}
			}
		})
	}
}

// TestVerifyRulesUnknownOriginal: when the original request is unknown
// (no forwarded headers, or a caller that is not a trusted proxy), host,
// path and method rules match nothing; rules on networks alone still
// decide, on the client address the lockout counts.
func TestVerifyRulesUnknownOriginal(t *testing.T) {
	f := newFixture(t, withRules(t, rulesFile))
	if w := f.do("GET", "/verify", nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("no forwarded headers: %d, want the default (401)", w.Code)
	}
	r := f.do("GET", "/verify", map[string]string{"X-Forwarded-For": "198.51.100.7"})
	if r.Code != http.StatusOK {
		t.Fatalf("office network behind the trusted proxy: %d, want 200", r.Code)
	}
	// An untrusted caller's forwarded headers are not believed: neither its
	// X-Original-URL nor its X-Forwarded-For.
	w := f.doFrom("203.0.113.50:4000", "GET", "/verify", with(original("https://app.example.com/public/a"), "X-Forwarded-For", "198.51.100.7"))
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("untrusted caller claiming a public path and the office network: %d, want 401", w.Code)
	}
}

func TestVerifyRulesSwap(t *testing.T) {
	holder := &rules.Holder{}
	f := newFixture(t, func(c *Config) { c.Rules = holder })
	target := original("https://app.example.com/public/a")
	if w := f.do("GET", "/verify", target); w.Code != 401 {
		t.Fatalf("empty holder: %d, want every request signed in", w.Code)
	}
	set, _, _ := rules.Parse("r", []byte(rulesFile))
	holder.Store(set)
	if w := f.do("GET", "/verify", target); w.Code != 200 {
		t.Fatalf("after Store: %d", w.Code)
	}
}

// benchRules is a realistic file of n rules: per-host path prefixes,
// wildcard hosts with groups, networks, denials.
func benchRules(n int) string {
	var b strings.Builder
	b.WriteString("default: authenticated\nrules:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: r%d\n", i)
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "    hosts: [h%d.example.com]\n    paths: [\"/p%d/*\"]\n    action: allow\n", i, i)
		case 1:
			fmt.Fprintf(&b, "    hosts: [\"*.h%d.example.com\"]\n    action: authenticated\n    groups: [g%d]\n", i, i)
		case 2:
			fmt.Fprintf(&b, "    hosts: [h%d.example.org]\n    networks: [10.%d.0.0/16]\n    action: allow\n", i, i%250)
		case 3:
			fmt.Fprintf(&b, "    hosts: [old%d.example.net]\n    paths: [\"/x/*\"]\n    action: deny\n", i)
		}
	}
	return b.String()
}

// BenchmarkVerifyRules: the cache-hit /verify with no rules file, and with
// 200 rules where the default decides (the common case: the host has no
// rule) and where an allow rule on an indexed host decides (the identity
// is still sent).
//
//	go test -run '^$' -bench 'VerifyRules' -benchmem -count 6 ./verify/
func BenchmarkVerifyRules(b *testing.B) {
	b.Run("no-rules", func(b *testing.B) {
		f, _, tok := benchVerifier(b, DefaultTokenCacheSize)
		runVerify(b, f, verifyReq("/verify", "Authorization", "Bearer "+tok), 200)
	})
	b.Run("200-rules-default", func(b *testing.B) {
		f, _, tok := benchVerifier(b, DefaultTokenCacheSize, withRules(b, benchRules(200)))
		runVerify(b, f, verifyReq("/verify", "Authorization", "Bearer "+tok), 200)
	})
	b.Run("200-rules-matching-host", func(b *testing.B) {
		f, _, tok := benchVerifier(b, DefaultTokenCacheSize, withRules(b, benchRules(200)))
		r := verifyReq("/verify", "Authorization", "Bearer "+tok)
		r.Header.Set("X-Original-URL", "https://h100.example.com/p100/reports?q=1")
		runVerify(b, f, r, 200)
	})
}

// TestVerifyRulesLogDecisionAtDebug: at debug level every decision names
// its rule; at info level nothing is logged for an allowed request.
func TestVerifyRulesLogDecisionAtDebug(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var buf bytes.Buffer
		f := newFixture(t, func(c *Config) {
			withRules(t, rulesFile)(c)
			c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))
		})
		if w := f.do("GET", "/verify", original("https://app.example.com/public/a")); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		logged := strings.Contains(buf.String(), "rule=public")
		if logged != (level == slog.LevelDebug) {
			t.Fatalf("level %s: log %q", level, buf.String())
		}
		if level == slog.LevelInfo && buf.Len() != 0 {
			t.Fatalf("an allowed request logged at info: %q", buf.String())
		}
	}
}

// TestVerifyRulesNetworkDecisionNotShared: a decision that rested on the
// client's network is never reused for another client of the same URL
// (decisions are remembered by URL only when no network was looked at).
func TestVerifyRulesNetworkDecisionNotShared(t *testing.T) {
	f := newFixture(t, withRules(t, rulesFile))
	url := original("https://app.example.com/x")
	for range 3 {
		if w := f.do("GET", "/verify", with(url, "X-Forwarded-For", "198.51.100.7")); w.Code != 200 {
			t.Fatalf("from the office network: %d, want 200", w.Code)
		}
		if w := f.do("GET", "/verify", with(url, "X-Forwarded-For", "203.0.113.9")); w.Code != 401 {
			t.Fatalf("from elsewhere, same URL: %d, want 401", w.Code)
		}
	}
}

// TestVerifyRulesAllowSkipsBasic: Basic credentials are not checked on an
// allowed request: anonymous traffic to a public path cannot make the gate
// hash passwords, and stale credentials sent to public assets do not count
// as failures.
func TestVerifyRulesAllowSkipsBasic(t *testing.T) {
	stub := &basicStub{}
	f := newFixture(t, func(c *Config) {
		withRules(t, rulesFile)(c)
		c.Basic = stub
	})
	w := f.do("GET", "/verify", with(original("https://app.example.com/public/a"), "Authorization", "Basic Y2k6d3Jvbmc="))
	if w.Code != 200 || w.Header().Get(HeaderUser) != "" {
		t.Fatalf("public with Basic: %d %q", w.Code, w.Header().Get(HeaderUser))
	}
	if stub.calls != 0 {
		t.Fatalf("Basic credentials checked %d times on an allowed request", stub.calls)
	}
	f.do("GET", "/verify", with(original("https://app.example.com/x"), "Authorization", "Basic Y2k6d3Jvbmc="))
	if stub.calls != 1 {
		t.Fatalf("Basic credentials not checked where sign-in is needed (%d)", stub.calls)
	}
}

// FuzzVerifyRulesAnonymous: whatever forwarded headers a client adds, an
// anonymous request is never let through to a path the file protects in
// any reading a backend may give it, nor to the denied host.
func FuzzVerifyRulesAnonymous(f *testing.F) {
	f.Add("https://app.example.com/public/a", "", "", "GET")
	f.Add("https://app.example.com/admin/x", "/public/a", "", "GET")
	f.Add("", "/public/..;/admin", "app.example.com", "GET")
	f.Add("https://app.example.com/public/%2e%2e/admin", "", "", "GET")
	f.Add("https://old.example.com/public/a", "/public/a", "app.example.com", "GET")
	f.Add("https://app.example.com,old.example.com/public/a", "", "", "GET")
	fx := newFixture(f, withRules(f, rulesFile))
	f.Fuzz(func(t *testing.T, xou, xfu, xfh, method string) {
		hdr := map[string]string{"Accept": "application/json"}
		if xou != "" {
			hdr["X-Original-URL"] = xou
		}
		if xfu != "" {
			hdr["X-Forwarded-Uri"] = xfu
			hdr["X-Forwarded-Proto"] = "https"
		}
		if xfh != "" {
			hdr["X-Forwarded-Host"] = xfh
		}
		if method != "" {
			hdr["X-Forwarded-Method"] = method
		}
		for _, v := range hdr {
			if !utf8ish(v) {
				return // not a header value a proxy would deliver
			}
		}
		w := fx.do("GET", "/verify", hdr)
		if w.Code >= 500 {
			t.Fatalf("status %d", w.Code)
		}
		if w.Code != 200 {
			return
		}
		// Let through without credentials: every description must be a
		// public path of app.example.com (or status.example.com/healthz)
		// in the lenient reading too.
		check := func(host, uri string) {
			host = norm.Host(host)
			p := norm.Reading(uri)
			switch {
			case host == "old.example.com" || strings.HasSuffix(host, ".old.example.com"):
				t.Fatalf("denied host %q let through (%v)", host, hdr)
			case strings.HasPrefix(p, "/admin/") || p == "/admin":
				t.Fatalf("protected path %q (raw %q) let through anonymously (%v)", p, uri, hdr)
			}
		}
		if xou != "" {
			if _, host, uri, ok := forwarded.SplitURL(xou); ok {
				check(host, uri)
			}
		}
		if xfu != "" {
			check(xfh, xfu)
		}
	})
}

// utf8ish keeps printable ASCII, as proxies forward header values.
func utf8ish(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
