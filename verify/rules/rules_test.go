package rules

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

const example = `default: authenticated
rules:
  - name: health
    hosts: [status.example.com]
    paths: [/healthz]
    methods: [GET, HEAD]
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
  - name: lan
    hosts: ["*.example.com"]
    networks: [192.168.0.0/16, "fd00::/8"]
    action: allow
  - name: retired
    hosts: [old.example.com]
    action: deny
`

func mustParse(tb testing.TB, src string) *Set {
	tb.Helper()
	s, warnings, err := Parse("rules.yaml", []byte(src))
	if err != nil {
		tb.Fatal(err)
	}
	if len(warnings) > 0 {
		tb.Fatalf("warnings: %v", warnings)
	}
	return s
}

func req(host, path string) Request {
	return Request{Known: true, Host: host, Path: path, Method: "GET", Client: netip.MustParseAddr("203.0.113.9")}
}

// TestDecide walks the example file, including the path tricks that must
// neither reach an allow rule's openness nor escape an authenticated
// rule's protection.
func TestDecide(t *testing.T) {
	s := mustParse(t, example)
	lan := req("app.example.com", "/x")
	lan.Client = netip.MustParseAddr("192.168.1.20")
	post := req("status.example.com", "/healthz")
	post.Method = "post"
	head := req("status.example.com", "/healthz")
	head.Method = "head"
	unknown := Request{Client: netip.MustParseAddr("192.168.1.20")}
	for _, tc := range []struct {
		name string
		r    Request
		want string // rule name, or "default"
		act  Action
	}{
		{"health", req("status.example.com", "/healthz"), "health", Allow},
		{"health, HEAD in lower case", head, "health", Allow},
		{"health, other method", post, "default", Authenticated},
		{"health, query never matched", req("status.example.com", "/healthz?x=1"), "health", Allow},
		{"health, other path", req("status.example.com", "/healthz/more"), "default", Authenticated},
		{"public prefix itself", req("app.example.com", "/public"), "public", Allow},
		{"public below", req("app.example.com", "/public/a/b"), "public", Allow},
		{"not a prefix of another word", req("app.example.com", "/publicity"), "default", Authenticated},
		{"admin", req("app.example.com", "/admin/users"), "admin-area", Authenticated},
		{"dot-dot out of public into admin", req("app.example.com", "/public/../admin"), "admin-area", Authenticated},
		{"encoded dots", req("app.example.com", "/public/%2e%2e/admin"), "admin-area", Authenticated},
		{"double slash", req("app.example.com", "//admin"), "admin-area", Authenticated},
		{"dot segment", req("app.example.com", "/admin/./x"), "admin-area", Authenticated},
		{"encoded letter", req("app.example.com", "/%61dmin"), "admin-area", Authenticated},
		{"encoded slash never allowed", req("app.example.com", "/public%2fadmin"), "default", Authenticated},
		{"encoded slash still protected", req("app.example.com", "/admin%2fusers"), "admin-area", Authenticated},
		{"backslash still protected", req("app.example.com", "/admin\\users"), "admin-area", Authenticated},
		{"encoded slash out of public", req("app.example.com", "/public%2f..%2fadmin"), "admin-area", Authenticated},
		{"paths are case-sensitive", req("app.example.com", "/ADMIN"), "default", Authenticated},
		{"query is not the path", req("app.example.com", "/admin?x=/public/"), "admin-area", Authenticated},
		{"public in the query", req("app.example.com", "/x?p=/public/"), "default", Authenticated},
		{"above the root never allowed", req("app.example.com", "/../public/x"), "default", Authenticated},
		{"bad escape never allowed", req("app.example.com", "/public/%zz"), "default", Authenticated},
		{"NUL never allowed", req("app.example.com", "/public/%00"), "default", Authenticated},
		{"host with a port", req("app.example.com:8443", "/public/x"), "public", Allow},
		{"upper-case host", req("APP.Example.COM", "/public/x"), "public", Allow},
		{"trailing dot", req("app.example.com.", "/public/x"), "public", Allow},
		{"wildcard, any depth", lan, "lan", Allow},
		{"wildcard not the apex", func() Request { r := lan; r.Host = "example.com"; return r }(), "default", Authenticated},
		{"wildcard, deeper", func() Request { r := lan; r.Host = "a.b.example.com"; return r }(), "lan", Allow},
		{"network outside", req("wiki.example.com", "/"), "default", Authenticated},
		{"denied host", req("old.example.com", "/anything"), "retired", Deny},
		{"segment parameter out of public", req("app.example.com", "/public/..;/admin/x"), "admin-area", Authenticated},
		{"segment parameter in admin", req("app.example.com", "/admin;x/users"), "admin-area", Authenticated},
		{"encoded colon still protected", req("app.example.com", "/admin%2Fx"), "admin-area", Authenticated},
		{"two hosts in one", req("app.example.com,old.example.com", "/public/x"), "retired", Deny},
		{"a host with a query in it", req("x?y.example.com", "/public/x"), "retired", Deny},
		{"a host with userinfo", req("a@app.example.com", "/public/x"), "retired", Deny},
		{"unknown request matches no host rule", unknown, "default", Authenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := s.Decide(tc.r)
			if d.RuleName() != tc.want || d.Action != tc.act {
				t.Fatalf("Decide = %s by %s, want %s by %s", d.Action, d.RuleName(), tc.act, tc.want)
			}
			e, _ := s.Explain(tc.r)
			if e.RuleName() != d.RuleName() || e.Action != d.Action {
				t.Fatalf("Explain = %s by %s, Decide = %s by %s", e.Action, e.RuleName(), d.Action, d.RuleName())
			}
		})
	}
}

// TestProtectedReadings: escapes of reserved and non-ASCII characters,
// segment parameters and a trailing slash, as lenient backends read them,
// never slip past a rule that protects a path.
func TestProtectedReadings(t *testing.T) {
	s := mustParse(t, `default: allow
rules:
  - name: cafe
    paths: ["/café/*"]
    action: deny
  - name: internal
    paths: ["/api/v1:internal/*"]
    action: deny
  - name: metrics
    paths: [/metrics]
    action: deny
`)
	for _, p := range []string{"/caf%C3%A9/x", "/api/v1%3Ainternal/x", "/api/v1%3ainternal/x", "/metrics/", "/metrics;x", "/x/..;/metrics", "/metrics%2F", "/METRICS/../metrics"} {
		if d := s.Decide(req("a.example.com", p)); d.Action != Deny {
			t.Errorf("%s: %s by %s, want denied", p, d.Action, d.RuleName())
		}
	}
	for _, p := range []string{"/metricsx", "/cafe/x", "/api/v1/x"} {
		if d := s.Decide(req("a.example.com", p)); d.Action != Allow {
			t.Errorf("%s: %s by %s, want the default", p, d.Action, d.RuleName())
		}
	}
}

// TestUnsafeRequest: a request described by contradicting forwarded
// headers (or an invalid host) may be any of its readings: it never
// matches an allow by host, path or method, a deny that could apply wins,
// else the first authenticated rule that could apply.
func TestUnsafeRequest(t *testing.T) {
	r := req("status.example.com", "/healthz")
	r.Unsafe = true
	if d := mustParse(t, example).Decide(r); d.Action != Deny || d.RuleName() != "retired" {
		t.Fatalf("unsafe request: %s by %s, want the deny", d.Action, d.RuleName())
	}
	noDeny := mustParse(t, strings.Replace(example, "action: deny", "action: authenticated", 1))
	if d := noDeny.Decide(r); d.Action != Authenticated || d.RuleName() != "admin-area" {
		t.Fatalf("unsafe request without denies: %s by %s, want admin-area", d.Action, d.RuleName())
	}
}

func TestUnknownRequestAndNetworks(t *testing.T) {
	s := mustParse(t, `default: deny
rules:
  - name: office
    networks: [10.1.0.0/16, 2001:db8::1]
    action: allow
`)
	for _, tc := range []struct {
		client string
		want   Action
	}{{"10.1.2.3", Allow}, {"10.2.0.1", Deny}, {"2001:db8::1", Allow}, {"::ffff:10.1.0.9", Allow}} {
		r := Request{Client: netip.MustParseAddr(tc.client)}
		if d := s.Decide(r); d.Action != tc.want {
			t.Errorf("unknown request from %s: %s, want %s", tc.client, d.Action, tc.want)
		}
	}
	if d := s.Decide(Request{}); d.Action != Deny {
		t.Errorf("no client address: %s", d.Action)
	}
}

func TestPermits(t *testing.T) {
	s := mustParse(t, `default: authenticated
rules:
  - name: ops
    paths: ["/ops/*"]
    action: authenticated
    groups: [Admins, ops]
    users: [alice, bob]
`)
	d := s.Decide(req("a.example.com", "/ops/x"))
	for _, tc := range []struct {
		user   string
		groups []string
		want   bool
	}{{"alice", []string{"admins"}, true}, {"bob", []string{"OPS"}, true}, {"carol", []string{"admins"}, false}, {"alice", nil, false}} {
		if got := d.Permits(tc.user, tc.groups); got != tc.want {
			t.Errorf("Permits(%s, %v) = %v", tc.user, tc.groups, got)
		}
	}
	if !s.Decide(req("a.example.com", "/x")).Permits("anyone", nil) {
		t.Error("the default refuses a signed-in user")
	}
}

func TestMFARequirement(t *testing.T) {
	s := mustParse(t, `default: authenticated
rules:
  - name: admin
    paths: ["/admin/*"]
    action: authenticated
    mfa: true
  - name: plain
    paths: ["/plain/*"]
    action: authenticated
    mfa: false
`)
	for path, want := range map[string]bool{"/admin/x": true, "/plain/x": false} {
		d := s.Decide(req("a.example.com", path))
		if d.Rule == nil || d.Rule.MFA != want {
			t.Errorf("%s: rule %v, MFA want %v", path, d.RuleName(), want)
		}
	}
}

// TestParseErrors: every mistake stops the load, naming the line and the
// rule; a typo never silently drops a criterion.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"unknown key", "default: allow\nrules:\n  - name: a\n    group: [x]\n    action: allow\n", `rules.yaml:4: rule "a": unknown key "group"`},
		{"unknown top key", "default: allow\nrule:\n  - name: a\n", `rules.yaml:2: unknown key "rule"`},
		{"a value where a list belongs", "default: allow\nrules:\n  - name: a\n    paths: /x\n    action: deny\n", `rules.yaml:4: rule "a": paths is a list`},
		{"rules not a list", "default: allow\nrules: everything\n", "`rules:` is a list"},
		{"bad YAML", "default: [\n", "rules.yaml: "},
		{"missing name", "default: allow\nrules:\n  - action: allow\n", "`name:` is required"},
		{"duplicate name", "default: allow\nrules:\n  - name: a\n    action: allow\n  - name: a\n    action: deny\n", `rules.yaml:5: rule "a": the name is used by rule 1`},
		{"missing default", "rules:\n  - name: a\n    action: allow\n", "`default:` is required"},
		{"unknown default", "default: maybe\n", `default "maybe"`},
		{"unknown action", "default: allow\nrules:\n  - name: a\n    action: bypass\n", `rules.yaml:3: rule "a": action "bypass"`},
		{"missing action", "default: allow\nrules:\n  - name: a\n", `action ""`},
		{"bad CIDR", "default: allow\nrules:\n  - name: a\n    networks: [10.0.0.0/33]\n    action: allow\n", `network "10.0.0.0/33"`},
		{"path without slash", "default: allow\nrules:\n  - name: a\n    paths: [admin]\n    action: deny\n", `path "admin" must start with /`},
		{"star inside a path", "default: allow\nrules:\n  - name: a\n    paths: [/a/*/b]\n    action: deny\n", "* only as a final /*"},
		{"star at a path's end without slash", "default: allow\nrules:\n  - name: a\n    paths: [/a*]\n    action: deny\n", "* only as a final /*"},
		{"path not normal", "default: allow\nrules:\n  - name: a\n    paths: [/a/../b]\n    action: deny\n", `not in normal form (write it as "/b")`},
		{"prefix not normal", "default: allow\nrules:\n  - name: a\n    paths: [/docs/../admin/*]\n    action: deny\n", `write it as "/admin/*"`},
		{"star inside a host", "default: allow\nrules:\n  - name: a\n    hosts: [app.*.com]\n    action: deny\n", `host "app.*.com"`},
		{"bare star host", "default: allow\nrules:\n  - name: a\n    hosts: ['*']\n    action: deny\n", `host "*"`},
		{"groups on allow", "default: allow\nrules:\n  - name: a\n    action: allow\n    groups: [x]\n", "requirements of an authenticated rule"},
		{"users on deny", "default: allow\nrules:\n  - name: a\n    action: deny\n    users: [x]\n", "requirements of an authenticated rule"},
		{"mfa on allow", "default: allow\nrules:\n  - name: a\n    action: allow\n    mfa: true\n", "requirements of an authenticated rule"},
		{"mfa not a bool", "default: allow\nrules:\n  - name: a\n    action: authenticated\n    mfa: yes\n", `rules.yaml:5: rule "a": mfa is true or false`},
		{"mfa a list", "default: allow\nrules:\n  - name: a\n    action: authenticated\n    mfa: [otp]\n", "mfa is true or false"},
		{"two documents", "default: allow\n---\ndefault: deny\n", "one YAML document"},
		{"empty", "", "empty file"},
		{"not a map", "- a\n- b\n", "rules.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("rules.yaml", []byte(tc.src))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "rules.yaml") {
				t.Fatalf("error %q, want it to name the file and say %q", err, tc.want)
			}
		})
	}
}

// TestUnreachableRules: a rule an earlier one shadows is reported, naming
// both (a bypass placed after a wildcard rule never fires).
func TestUnreachableRules(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		warn      bool
	}{
		{"bypass after a wildcard", `default: deny
rules:
  - name: everything
    hosts: ["*.example.com"]
    action: authenticated
  - name: public
    hosts: [app.example.com]
    paths: ["/public/*"]
    action: allow
`, true},
		{"prefix before a deeper prefix", `default: deny
rules:
  - name: api
    paths: ["/api/*"]
    action: authenticated
  - name: api-health
    paths: [/api/health]
    methods: [GET]
    action: allow
`, true},
		{"network before a narrower one", `default: deny
rules:
  - name: lan
    networks: [10.0.0.0/8]
    action: allow
  - name: office
    networks: [10.1.0.0/16]
    action: deny
`, true},
		{"specific before general is fine", `default: deny
rules:
  - name: public
    hosts: [app.example.com]
    paths: ["/public/*"]
    action: allow
  - name: everything
    hosts: ["*.example.com"]
    action: authenticated
`, false},
		{"methods narrow the earlier rule", `default: deny
rules:
  - name: reads
    paths: ["/api/*"]
    methods: [GET]
    action: allow
  - name: api
    paths: ["/api/*"]
    action: authenticated
`, false},
		{"wildcard does not cover the apex", `default: deny
rules:
  - name: subs
    hosts: ["*.example.com"]
    action: allow
  - name: apex
    hosts: [example.com]
    action: deny
`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, warnings, err := Parse("rules.yaml", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if got := len(warnings) > 0; got != tc.warn {
				t.Fatalf("warnings %v, want some: %v", warnings, tc.warn)
			}
			if tc.warn && !strings.Contains(warnings[0], "can never match") {
				t.Fatalf("warning %q", warnings[0])
			}
		})
	}
}

func TestExplain(t *testing.T) {
	s := mustParse(t, example)
	d, skips := s.Explain(req("app.example.com", "/admin/x"))
	if d.RuleName() != "admin-area" || d.Rule.Position != 3 || len(skips) != 2 {
		t.Fatalf("decision %s at %d, skips %+v", d.RuleName(), d.Rule.Position, skips)
	}
	if skips[0].Rule != "health" || skips[0].Position != 1 || !strings.HasPrefix(skips[0].Mismatch, "hosts:") {
		t.Fatalf("first skip %+v", skips[0])
	}
	if skips[1].Rule != "public" || !strings.HasPrefix(skips[1].Mismatch, "paths:") {
		t.Fatalf("second skip %+v", skips[1])
	}
	d, skips = s.Explain(req("nowhere.org", "/"))
	if d.Rule != nil || len(skips) != 5 {
		t.Fatalf("default: %s, %d skips", d.RuleName(), len(skips))
	}
}

// TestDecideAgreesWithExplain: the indexed evaluator and the full scan
// give the same decision for every host and path of a mixed file.
func TestDecideAgreesWithExplain(t *testing.T) {
	s := mustParse(t, bigFile(200))
	hosts := []string{"app.example.com", "h7.example.com", "x.h7.example.com", "h7.example.org", "example.com", "nowhere.net", "h150.example.com:443"}
	paths := []string{"/", "/p3/x", "/p3", "/admin/x", "/p150/a", "/%70%33/x", "/a//b"}
	for _, h := range hosts {
		for _, p := range paths {
			for _, ip := range []string{"10.0.3.4", "203.0.113.9"} {
				r := Request{Known: true, Host: h, Path: p, Method: "GET", Client: netip.MustParseAddr(ip)}
				d := s.Decide(r)
				e, _ := s.Explain(r)
				if d.RuleName() != e.RuleName() {
					t.Fatalf("%s %s from %s: Decide %s, Explain %s", h, p, ip, d.RuleName(), e.RuleName())
				}
			}
		}
	}
}

// bigFile is a realistic file of n rules: per-host path prefixes, some
// wildcard hosts, networks and denials, nothing shadowed.
func bigFile(n int) string {
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
			fmt.Fprintf(&b, "    hosts: [old%d.example.net]\n    action: deny\n", i)
		}
	}
	return b.String()
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte(bigFile(8)))
	f.Add([]byte("default: deny\nrules: []\n"))
	f.Add([]byte("default: allow\nrules:\n  - name: a\n    paths: ['/*']\n    action: deny\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, _, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, p := range []string{"/", "/a/../b", "/%2f", "/x"} {
			r := Request{Known: true, Host: "a.example.com", Path: p, Method: "GET", Client: netip.MustParseAddr("10.0.0.1")}
			d := s.Decide(r)
			e, _ := s.Explain(r)
			if d.RuleName() != e.RuleName() {
				t.Fatalf("Decide %s, Explain %s", d.RuleName(), e.RuleName())
			}
		}
	})
}

// TestDecideCache: a decision answered from the cache is the one the
// evaluator gives, for every request of the table twice over, and a
// request that differs only in method, host or path is never conflated; a
// decision that needed the client address is not remembered.
func TestDecideCache(t *testing.T) {
	s := mustParse(t, example)
	reqs := []Request{
		req("status.example.com", "/healthz"), req("app.example.com", "/admin/x"), req("app.example.com", "/public/x"),
		req("APP.example.com", "/public/x"), req("app.example.com", "/public%2fx"), req("old.example.com", "/"),
	}
	post := req("status.example.com", "/healthz")
	post.Method = "POST"
	reqs = append(reqs, post)
	for round := range 3 {
		for _, r := range reqs {
			want, _ := s.Explain(r)
			if got := s.Decide(r); got.RuleName() != want.RuleName() || got.Action != want.Action {
				t.Fatalf("round %d, %s %s %s: Decide %s, Explain %s", round, r.Method, r.Host, r.Path, got.RuleName(), want.RuleName())
			}
		}
	}
	// lan names networks: with the client pending, Decide asks for it, and
	// does so again next time rather than remembering an answer.
	r := req("wiki.example.com", "/")
	r.ClientPending = true
	for range 2 {
		if d := s.Decide(r); !d.NeedClient {
			t.Fatalf("pending client: %+v, want NeedClient", d)
		}
	}
	r.ClientPending, r.Client = false, netip.MustParseAddr("192.168.1.9")
	if d := s.Decide(r); d.RuleName() != "lan" {
		t.Fatalf("with the client: %s", d.RuleName())
	}
	r.Client = netip.MustParseAddr("203.0.113.1")
	if d := s.Decide(r); d.RuleName() != "default" {
		t.Fatalf("another client, same URL: %s (a networks decision must not be cached)", d.RuleName())
	}
}
