package verify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

func TestVerifyValidCredentials(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.login(t, "alice", "admins", "dev")
	cases := []struct {
		name string
		hdr  map[string]string
	}{
		{"bearer", map[string]string{"Authorization": "Bearer " + tok}},
		{"bearer lower-case scheme", map[string]string{"Authorization": "bearer " + tok}},
		{"cookie", map[string]string{"Cookie": "authgate_session=" + tok}},
		{"cookie among others", map[string]string{"Cookie": "a=b; authgate_session=" + tok + "; c=d"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(http.MethodGet, "/verify", tc.hdr)
			if w.Code != http.StatusOK {
				t.Fatalf("status = %d, body %s", w.Code, w.Body)
			}
			want := map[string]string{
				"Remote-User":   "alice",
				"Remote-Email":  "alice@example.com",
				"Remote-Name":   "Name of alice",
				"Remote-Groups": "admins,dev",
			}
			for k, v := range want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestVerifyAlwaysSendsAllIdentityHeaders: every identity header is in each
// 200, empty if need be, so a proxy that copies only the headers present
// cannot leave a client-sent value in place. Guards against Caddy
// forward_auth copy_headers passing the client's header through when the
// auth answer lacked it (GHSA-7r4p-vjf4-gxv4, CVE-2026-30851).
func TestVerifyAlwaysSendsAllIdentityHeaders(t *testing.T) {
	f := newFixture(t, nil)
	c := claimsFor("bob", "s-bob")
	c.Email, c.Name = "", ""
	f.sessions.live["s-bob"] = "bob"
	w := f.do(http.MethodGet, "/verify", map[string]string{"Authorization": "Bearer " + f.sign(t, c)})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	for _, h := range []string{HeaderUser, HeaderEmail, HeaderName, HeaderGroups} {
		if _, ok := w.Header()[h]; !ok {
			t.Errorf("%s missing: a proxy copying it would keep a client-sent value", h)
		}
	}
}

// TestVerifyIgnoresClientIdentityHeaders: identity comes from the credential
// alone; Remote-* headers sent by the client are neither trusted nor echoed
// into the answer a proxy copies. Guards against forged identity headers
// reaching the app (Caddy GHSA-7r4p-vjf4-gxv4, CVE-2026-30851). Only the
// canonical spelling is sent here; underscore variants are the proxy's to
// strip (Traefik GHSA-x677-9fxg-v5c5, CVE-2026-54763).
func TestVerifyIgnoresClientIdentityHeaders(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.login(t, "alice")
	w := f.do(http.MethodGet, "/verify", map[string]string{
		"Authorization": "Bearer " + tok, "Remote-User": "admin", "Remote-Groups": "admins",
	})
	if got := w.Header().Get("Remote-User"); got != "alice" {
		t.Fatalf("Remote-User = %q", got)
	}
	if got := w.Header().Get("Remote-Groups"); got != "" {
		t.Fatalf("Remote-Groups = %q", got)
	}
	w = f.do(http.MethodGet, "/verify", map[string]string{"Remote-User": "admin"})
	if w.Code != http.StatusUnauthorized || w.Header().Get("Remote-User") != "" {
		t.Fatalf("status %d Remote-User %q", w.Code, w.Header().Get("Remote-User"))
	}
}

func TestVerifyAnyMethod(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.login(t, "alice")
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		w := f.do(m, "/verify", map[string]string{"Authorization": "Bearer " + tok})
		if w.Code != http.StatusOK {
			t.Errorf("%s: status %d", m, w.Code)
		}
	}
}

func TestVerifySessionMustBeLive(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.login(t, "alice")
	// Unknown jti: a validly signed token whose session never existed.
	unknown := f.sign(t, claimsFor("alice", "never-created"))
	// A session id that belongs to someone else.
	f.sessions.live["bobs"] = "bob"
	stolenID := f.sign(t, claimsFor("alice", "bobs"))
	for name, tk := range map[string]string{"unknown jti": unknown, "jti of another user": stolenID} {
		if w := f.do("GET", "/verify", map[string]string{"Authorization": "Bearer " + tk}); w.Code != http.StatusUnauthorized {
			t.Errorf("%s: status %d", name, w.Code)
		}
	}
	// Logout: the session disappears and the same token stops working.
	f.sessions.mu.Lock()
	for id := range f.sessions.live {
		delete(f.sessions.live, id)
	}
	f.sessions.mu.Unlock()
	if w := f.do("GET", "/verify", map[string]string{"Authorization": "Bearer " + tok}); w.Code != http.StatusUnauthorized {
		t.Fatalf("after logout: status %d", w.Code)
	}
}

func TestVerifyBearerWinsOverCookie(t *testing.T) {
	f := newFixture(t, nil)
	good := f.login(t, "alice")
	w := f.do("GET", "/verify", map[string]string{"Authorization": "Bearer forged", "Cookie": "authgate_session=" + good})
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("a bad bearer with a good cookie: status %d, want 401", w.Code)
	}
}

type policyCase struct {
	name  string
	query string
	tok   string
	want  int
}

func runPolicyCases(t *testing.T, f *fixture, cases []policyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do("GET", "/verify?"+tc.query, map[string]string{"Authorization": "Bearer " + tc.tok})
			if w.Code != tc.want {
				t.Fatalf("status = %d, want %d", w.Code, tc.want)
			}
			if tc.want == 403 {
				if w.Header().Get("Remote-User") != "" {
					t.Errorf("403 carries identity headers")
				}
				if !strings.Contains(w.Body.String(), `"error"`) {
					t.Errorf("403 body %q", w.Body)
				}
			}
		})
	}
}

func TestVerifyPolicy(t *testing.T) {
	f := newFixture(t, nil)
	admin := f.login(t, "alice", "admins")
	dev := f.login(t, "bob", "dev")
	cases := []policyCase{
		{"member of the group", "groups=admins", admin, 200},
		{"member of any listed group", "groups=ops,admins", admin, 200},
		{"group names are case-insensitive", "groups=Admins", admin, 200},
		{"not a member", "groups=admins", dev, 403},
		{"listed user", "users=bob,carol", dev, 200},
		{"unlisted user", "users=carol", dev, 403},
		{"both must hold", "groups=admins&users=bob", admin, 403},
		{"repeated groups all apply", "groups=admins&groups=dev", admin, 403},
		{"client-appended empty groups cannot widen", "groups=admins&groups=", dev, 403},
		{"empty groups names nobody", "groups=", admin, 403},
		{"unknown parameters ignored", "proxy=caddy&groups=admins", admin, 200},
		{"malformed pair does not drop the rule", "groups=admins&%zz=1", dev, 403},
	}
	runPolicyCases(t, f, cases)
}

// TestVerifyPolicyFailsClosed: a rule the gate cannot read exactly as
// written denies everyone. Each of these once let every signed-in user
// through a location meant for one group (the gate read "no rule"). No
// public advisory; it closes fail-open parsing of the access rule.
func TestVerifyPolicyFailsClosed(t *testing.T) {
	f := newFixture(t, nil)
	admin := f.login(t, "alice", "admins")
	dev := f.login(t, "bob", "dev")
	cases := []policyCase{
		{"singular key", "group=admins", dev, 403},
		{"capitalised key", "Groups=admins", dev, 403},
		{"upper-case key", "GROUPS=admins", admin, 403},
		{"semicolon inside the pair", "groups=admins;x=1", dev, 403},
		{"semicolon separator", "groups=admins;users=bob", dev, 403},
		{"encoded equals sign", "groups%3Dadmins", dev, 403},
		{"singular users key", "user=alice", dev, 403},
		{"misspelt on_fail beside a rule", "groups=admins&on-fail=401", admin, 403},
		{"padded key", "%20groups=admins", dev, 403},
		{"bad escape elsewhere", "proxy=%zz&groups=admins", admin, 403},
		// The control: exactly written rules still work, markers are ignored.
		{"exact key still passes the member", "groups=admins&proxy=caddy", admin, 200},
		{"unrelated marker alone", "proxy=nginx", dev, 200},
	}
	runPolicyCases(t, f, cases)
}

func TestVerifyUnauthenticatedNegotiation(t *testing.T) {
	traefik := map[string]string{ // what Traefik and Caddy send
		"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https",
		"X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/reports?q=1&x=%20y",
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	const rd = "https://auth.example.com/login?rd=" + "https%3A%2F%2Fapp.example.com%2Freports%3Fq%3D1%26x%3D%2520y"
	cases := []struct {
		name     string
		query    string
		hdr      map[string]string
		noLogin  bool
		peer     string
		want     int
		location string
	}{
		{"traefik browser navigation", "", with(traefik, "Accept", browserAccept), false, "", 302, rd},
		{"traefik Sec-Fetch-Mode navigate", "", with(traefik, "Sec-Fetch-Mode", "navigate", "Accept", "*/*"), false, "", 302, rd},
		{"traefik HEAD navigation", "", with(traefik, "X-Forwarded-Method", "HEAD", "Accept", "text/html"), false, "", 302, rd},
		{"traefik API call", "", with(traefik, "Accept", "application/json"), false, "", 401, rd},
		{"curl */*", "", with(traefik, "Accept", "*/*"), false, "", 401, rd},
		{"html with lower q than json", "", with(traefik, "Accept", "application/json, text/html;q=0.5"), false, "", 401, rd},
		{"html q=0", "", with(traefik, "Accept", "text/html;q=0"), false, "", 401, rd},
		{"POST navigation", "", with(traefik, "X-Forwarded-Method", "POST", "Accept", browserAccept), false, "", 401, rd},
		{"XHR", "", with(traefik, "Accept", browserAccept, "X-Requested-With", "XMLHttpRequest"), false, "", 401, rd},
		{"websocket", "", with(traefik, "Accept", browserAccept, "Upgrade", "websocket"), false, "", 401, rd},
		{"bearer sent", "", with(traefik, "Accept", browserAccept, "Authorization", "Bearer bad"), false, "", 401, rd},
		{"on_fail=401 overrides", "on_fail=401", with(traefik, "Accept", browserAccept), false, "", 401, rd},
		{"on_fail=redirect overrides", "on_fail=redirect", with(traefik, "Accept", "application/json"), false, "", 302, rd},
		{"on_fail=401 wins over a client-added redirect", "on_fail=401&on_fail=redirect", with(traefik, "Accept", browserAccept), false, "", 401, rd},
		{"nginx shipped config (X-Original-URL too)", "", with(traefik, "Accept", browserAccept, "X-Original-Url", "https://app.example.com/reports?q=1&x=%20y"), false, "", 401, rd},
		{"ingress-nginx", "", map[string]string{"X-Original-Url": "https://app.example.com/reports?q=1&x=%20y", "X-Original-Method": "GET", "X-Forwarded-Proto": "", "Accept": browserAccept}, false, "", 401, rd},
		{"ingress-nginx never redirects even on_fail=redirect", "on_fail=redirect", map[string]string{"X-Original-Url": "https://app.example.com/", "Accept": browserAccept}, false, "", 401, "https://auth.example.com/login?rd=https%3A%2F%2Fapp.example.com%2F"},
		// rd is built only for allowed hosts; "evilexample.com" is the
		// suffix trick of oauth2-proxy GHSA-4mf2-f3wh-gvf2 (CVE-2021-21291).
		{"disallowed original host: no rd", "", with(traefik, "X-Forwarded-Host", "evil.com", "Accept", browserAccept), false, "", 302, "https://auth.example.com/login"},
		{"look-alike host: no rd", "", with(traefik, "X-Forwarded-Host", "evilexample.com", "Accept", browserAccept), false, "", 302, "https://auth.example.com/login"},
		{"no login URL: plain 401", "", with(traefik, "Accept", browserAccept), true, "", 401, ""},
		// Forwarded headers from a peer that is not a trusted proxy are the
		// client's own (oauth2-proxy GHSA-7x63-xv5r-3p2x, CVE-2026-40575).
		{"untrusted peer: forwarded headers ignored", "", with(traefik, "Accept", browserAccept), false, "203.0.113.9:5555", 401, "https://auth.example.com/login"},
		// Headers a client got the proxy to drop (Traefik GHSA-62c8-mh53-4cqv,
		// CVE-2024-45410) leave a plain 401 with no rd.
		{"no forwarded headers", "", map[string]string{"Accept": browserAccept}, false, "", 401, "https://auth.example.com/login"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) {
				if tc.noLogin {
					c.LoginURL = ""
				}
			})
			target := "/verify"
			if tc.query != "" {
				target += "?" + tc.query
			}
			r := httptest.NewRequest("GET", target, nil)
			r.RemoteAddr = "127.0.0.1:40000"
			if tc.peer != "" {
				r.RemoteAddr = tc.peer
			}
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			f.e.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status = %d, want %d", w.Code, tc.want)
			}
			if got := w.Header().Get("Location"); got != tc.location {
				t.Fatalf("Location = %q, want %q", got, tc.location)
			}
			if loc := w.Header().Get("Location"); loc != "" {
				if u, err := url.Parse(loc); err != nil || !u.IsAbs() {
					t.Fatalf("Location %q is not absolute", loc)
				}
			}
			if got := w.Header().Get("Www-Authenticate"); got != `Bearer realm="authgate"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if tc.want == 401 && !strings.Contains(w.Body.String(), `"error":"unauthorized"`) {
				t.Errorf("body = %q", w.Body)
			}
		})
	}
}

// panicking is a SessionChecker that panics, standing in for any bug on
// the hot path.
type panicking struct{}

func (panicking) SessionLive(context.Context, string, string) (bool, error) { panic("boom") }

// TestVerifyFailsClosed: a store error, a panic or forwarded headers the
// gate cannot parse all end in 401, never in 200.
func TestVerifyFailsClosed(t *testing.T) {
	t.Run("store error", func(t *testing.T) {
		f := newFixture(t, nil)
		tok := f.login(t, "alice")
		f.sessions.err = errStoreDown
		w := f.do("GET", "/verify", map[string]string{"Authorization": "Bearer " + tok})
		if w.Code != http.StatusUnauthorized || w.Header().Get("Remote-User") != "" {
			t.Fatalf("status %d Remote-User %q", w.Code, w.Header().Get("Remote-User"))
		}
	})
	t.Run("panic", func(t *testing.T) {
		f := newFixture(t, func(c *Config) { c.Sessions = panicking{} })
		tok := f.sign(t, claimsFor("alice", "s1"))
		w := f.do("GET", "/verify", map[string]string{"Authorization": "Bearer " + tok})
		if w.Code != http.StatusUnauthorized || w.Header().Get("Remote-User") != "" {
			t.Fatalf("status %d Remote-User %q", w.Code, w.Header().Get("Remote-User"))
		}
	})
	// Guards against a malformed request URI being let through
	// (Authelia GHSA-68wm-pfjf-wqp6, CVE-2021-32637, behind nginx auth_request).
	t.Run("malformed forwarded headers", func(t *testing.T) {
		f := newFixture(t, nil)
		for _, h := range []map[string]string{
			{"X-Original-Url": "%zz://\x7f"},
			{"X-Forwarded-Uri": "\\\\evil", "X-Forwarded-Host": "a b", "X-Forwarded-Proto": "gopher"},
			{"X-Forwarded-Uri": "/x", "X-Forwarded-Host": "", "X-Original-Url": "::::"},
		} {
			w := f.do("GET", "/verify", h)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("%v: status %d", h, w.Code)
			}
		}
	})
}

func TestVerifyExpiredTokenAfterTime(t *testing.T) {
	now := testNow
	f := newFixture(t, nil)
	tokens, _ := NewTokens("authgate", testSecret, nil, func() time.Time { return now })
	f.v.cfg.Tokens = tokens
	tok := f.login(t, "alice")
	if w := f.do("GET", "/verify", map[string]string{"Authorization": "Bearer " + tok}); w.Code != 200 {
		t.Fatalf("fresh: %d", w.Code)
	}
	now = testNow.Add(time.Hour + Leeway + time.Second)
	if w := f.do("GET", "/verify", map[string]string{"Authorization": "Bearer " + tok}); w.Code != 401 {
		t.Fatalf("expired: %d", w.Code)
	}
}

// TestClientIdentityVariantsNeverEchoed: header spellings that CGI-style
// backends fold into REMOTE_USER (oauth2-proxy GHSA-vjrc-mh2v-45x6 /
// CVE-2025-64484) are never read and never copied into the answer; the
// answer carries exactly the four identity headers, from the token.
func TestClientIdentityVariantsNeverEchoed(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.login(t, "alice", "dev")
	r := httptest.NewRequest("GET", "/verify", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Authorization", "Bearer "+tok)
	for _, k := range []string{"Remote_User", "Remote.User", "X-Forwarded-User", "X-Remote-User", "Remote_Groups", "X-Forwarded-Groups"} {
		r.Header[k] = []string{"admin"}
	}
	w := httptest.NewRecorder()
	f.e.ServeHTTP(w, r)
	if w.Code != 200 || w.Header().Get("Remote-User") != "alice" || w.Header().Get("Remote-Groups") != "dev" {
		t.Fatalf("status %d, identity %q %q", w.Code, w.Header().Get("Remote-User"), w.Header().Get("Remote-Groups"))
	}
	for k, v := range w.Header() {
		for _, s := range v {
			if s == "admin" {
				t.Fatalf("the client's value came back in %s", k)
			}
		}
	}
	r.Header.Del("Authorization")
	w = httptest.NewRecorder()
	f.e.ServeHTTP(w, r)
	if w.Code != 401 || w.Header().Get("Remote-User") != "" {
		t.Fatalf("without a token: %d %q", w.Code, w.Header().Get("Remote-User"))
	}
}

// TestSignedIn: the gate's pages ask the same question as /verify, with
// the same answers: a live session by bearer token or cookie; a logged-out
// session, a forged token, or nothing at all is not signed in.
func TestSignedIn(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.login(t, "alice", "dev")
	req := func(hdr map[string]string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		return r
	}
	for name, hdr := range map[string]map[string]string{
		"bearer": {"Authorization": "Bearer " + tok},
		"cookie": {"Cookie": "authgate_session=" + tok},
	} {
		si, ok := f.v.SignedIn(req(hdr))
		if !ok || si.User != "alice" || strings.Join(si.Groups, ",") != "dev" || si.Session == "" || !si.Expires.Equal(testNow.Add(time.Hour)) {
			t.Fatalf("%s: %+v %v", name, si, ok)
		}
	}
	for name, hdr := range map[string]map[string]string{
		"nothing":              nil,
		"forged":               {"Authorization": "Bearer " + tok + "x"},
		"basic":                {"Authorization": "Basic YWxpY2U6cHc="},
		"bearer beside cookie": {"Authorization": "Bearer nope", "Cookie": "authgate_session=" + tok},
	} {
		if si, ok := f.v.SignedIn(req(hdr)); ok {
			t.Fatalf("%s: signed in as %+v", name, si)
		}
	}
	f.sessions.mu.Lock()
	clear(f.sessions.live)
	f.sessions.mu.Unlock()
	if _, ok := f.v.SignedIn(req(map[string]string{"Authorization": "Bearer " + tok})); ok {
		t.Fatal("signed in after the session ended")
	}
}

// TestRetryAfter: one rounding for every lock answer, whole seconds up,
// never zero (899.6 s is 900 on /verify and on /login alike).
func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{
		899600 * time.Millisecond:        "900",
		900 * time.Second:                "900",
		time.Millisecond:                 "1",
		0:                                "1",
		-time.Second:                     "1",
		15*time.Minute + time.Nanosecond: "901",
	} {
		if got := RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%v) = %s, want %s", d, got, want)
		}
	}
}
