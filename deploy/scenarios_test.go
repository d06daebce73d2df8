package deploy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// stack is one proxy in front of the real gate and the echo upstream.
type stack struct {
	app      string // https://app.example.com:PORT, the protected application
	auth     string // https://auth.example.com:PORT, the login host
	loginURL string // AUTHGATE_LOGIN_URL
	// gateDownStatus is what the proxy answers when the gate is down:
	// nginx turns the failed subrequest into 500, Caddy answers 502.
	gateDownStatus int
	gate           *process
	up             *upstream
	client         *http.Client
}

// result is a response read whole, plus what the upstream saw when the
// request reached it.
type result struct {
	status  int
	header  http.Header
	body    string
	cookies []*http.Cookie
	seen    *seenRequest // nil unless the upstream answered
}

// do sends one request through the proxy. headers are set with their keys
// exactly as given (not canonicalised), so tests can send "remote-user".
func (s *stack) do(tb testing.TB, method, rawURL, body string, headers map[string]string) result {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range headers {
		req.Header[k] = append(req.Header[k], v)
	}
	before := s.up.count()
	resp, err := s.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: reading body: %v", method, rawURL, err)
	}
	r := result{status: resp.StatusCode, header: resp.Header, body: string(b), cookies: resp.Cookies()}
	if resp.Header.Get("X-Upstream") == "echo" {
		var seen seenRequest
		if err := json.Unmarshal(b, &seen); err != nil {
			tb.Fatalf("%s %s: upstream answer: %v", method, rawURL, err)
		}
		r.seen = &seen
	} else if n := s.up.count(); n != before {
		tb.Errorf("%s %s: answered %d by the proxy, yet the upstream was called", method, rawURL, resp.StatusCode)
	}
	return r
}

// login signs in through the proxy's login host with the JSON API and
// returns the bearer token and the session cookie.
func (s *stack) login(tb testing.TB, u testUser) (string, *http.Cookie) {
	tb.Helper()
	body := fmt.Sprintf(`{"username":%q,"password":%q}`, u.name, u.password)
	r := s.do(tb, http.MethodPost, s.auth+"/login", body, map[string]string{"Content-Type": "application/json"})
	if r.status != http.StatusOK {
		tb.Fatalf("login %s through the proxy: %d %s", u.name, r.status, r.body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || tok.AccessToken == "" {
		tb.Fatalf("login %s: no access_token in %s", u.name, r.body)
	}
	for _, c := range r.cookies {
		if c.Name == "authgate_session" && c.Value != "" {
			if !c.Secure || !c.HttpOnly || c.Domain != "example.com" {
				tb.Errorf("session cookie %+v: want Secure, HttpOnly, Domain=example.com", c)
			}
			return tok.AccessToken, c
		}
	}
	tb.Fatalf("login %s: no authgate_session cookie (Set-Cookie: %q)", u.name, r.header.Values("Set-Cookie"))
	return "", nil
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func cookie(c *http.Cookie) map[string]string {
	return map[string]string{"Cookie": c.Name + "=" + c.Value}
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

// What browsers send when the user follows a link or types a URL.
var navigation = map[string]string{
	"Accept":         "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
	"Sec-Fetch-Mode": "navigate",
	"Sec-Fetch-Dest": "document",
}

var apiClient = map[string]string{"Accept": "application/json"}

// wantLoginRedirect checks a 302 to the login page whose rd is target.
func (s *stack) wantLoginRedirect(tb testing.TB, r result, target string) {
	tb.Helper()
	if r.status != http.StatusFound {
		tb.Fatalf("status %d, want 302 to the login page; body %q", r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		tb.Fatalf("Location %q: %v", r.header.Get("Location"), err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != s.loginURL {
		tb.Errorf("Location %q goes to %q, want the login page %q", loc, got, s.loginURL)
	}
	if rd := loc.Query().Get("rd"); rd != target {
		tb.Errorf("Location %q: rd = %q, want %q", loc, rd, target)
	}
}

// wantIdentity checks that the upstream got exactly the gate's identity.
func wantIdentity(tb testing.TB, r result, u testUser) {
	tb.Helper()
	if r.status != http.StatusOK || r.seen == nil {
		tb.Fatalf("status %d from %s, want 200 from the upstream; body %q", r.status, source(r), r.body)
	}
	h := r.seen.Header
	if got := h.Values("Remote-User"); len(got) != 1 || got[0] != u.name {
		tb.Errorf("upstream Remote-User = %q, want [%q]", got, u.name)
	}
	if got, want := h.Values("Remote-Groups"), strings.Join(u.groups, ","); len(got) != 1 || got[0] != want {
		tb.Errorf("upstream Remote-Groups = %q, want [%q]", got, want)
	}
	// The users file gives no e-mail or name: the gate sends them empty,
	// and the proxies then drop the header, which is fine, or pass it
	// empty. Never anything else.
	for _, k := range []string{"Remote-Email", "Remote-Name"} {
		for _, v := range h.Values(k) {
			if v != "" {
				tb.Errorf("upstream %s = %q, want empty or absent", k, v)
			}
		}
	}
}

func source(r result) string {
	if r.seen != nil {
		return "the upstream"
	}
	return "the proxy"
}

// runScenarios is the same behaviour asked of every proxy. The last
// subtest stops the gate.
func runScenarios(t *testing.T, s *stack) {
	aliceTok, aliceCookie := s.login(t, alice)
	bobTok, bobCookie := s.login(t, bob)

	t.Run("API request without credentials gets 401", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path, body string
			headers                  map[string]string
		}{
			{"json client", http.MethodGet, "/api/items", "", apiClient},
			{"browser", http.MethodGet, "/api/items", "", navigation},
			{"post with body", http.MethodPost, "/api/items", `{"name":"x"}`, with(apiClient, "Content-Type", "application/json")},
			{"bad token", http.MethodGet, "/api/items", "", with(apiClient, "Authorization", "Bearer not-a-token")},
			{"token as cookie name", http.MethodGet, "/api/items", "", with(apiClient, "Cookie", "authgate_session=garbage")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				start := time.Now()
				r := s.do(t, tc.method, s.app+tc.path, tc.body, tc.headers)
				if r.status != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401; body %q", r.status, r.body)
				}
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate = %q, want the gate's Bearer challenge", got)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("took %s: the auth request waited for a body", d)
				}
			})
		}
	})

	t.Run("browser navigation without credentials redirects to login", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			headers    map[string]string
		}{
			{"page with escaped query", "/docs/a%20b?q=1&next=%2Fhome", navigation},
			{"accept header only", "/reports?year=2026", map[string]string{"Accept": "text/html"}},
			{"group location", "/admin/users", navigation},
			{"client forwarded headers are not believed", "/docs/page", with(navigation,
				"X-Original-URL", "https://evil.example.net/phish",
				"X-Forwarded-Host", "evil.example.net",
				"X-Forwarded-Uri", "/phish",
				"X-Forwarded-Proto", "http",
				"X-Forwarded-Method", "GET")},
			{"expired-looking cookie", "/docs/page", with(navigation, "Cookie", "authgate_session=expired")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.do(t, http.MethodGet, s.app+tc.path, "", tc.headers)
				s.wantLoginRedirect(t, r, s.app+tc.path)
			})
		}
	})

	t.Run("browser flow: login form, then back to the page", func(t *testing.T) {
		target := s.app + "/docs/page?x=1"
		r := s.do(t, http.MethodGet, target, "", navigation)
		s.wantLoginRedirect(t, r, target)
		page := s.do(t, http.MethodGet, r.header.Get("Location"), "", navigation)
		if page.status != http.StatusOK || !strings.Contains(page.header.Get("Content-Type"), "text/html") {
			t.Fatalf("login page through the proxy: %d %q", page.status, page.header.Get("Content-Type"))
		}
		form := url.Values{"username": {bob.name}, "password": {bob.password}, "rd": {target}}.Encode()
		post := s.do(t, http.MethodPost, s.auth+"/login", form, map[string]string{
			"Content-Type":   "application/x-www-form-urlencoded",
			"Origin":         s.auth,
			"Sec-Fetch-Site": "same-origin",
		})
		if post.status != http.StatusSeeOther || post.header.Get("Location") != target {
			t.Fatalf("form login: %d Location %q, want 303 to %q; body %q", post.status, post.header.Get("Location"), target, post.body)
		}
		var session *http.Cookie
		for _, c := range post.cookies {
			if c.Name == "authgate_session" {
				session = c
			}
		}
		if session == nil {
			t.Fatal("form login set no session cookie")
		}
		back := s.do(t, http.MethodGet, target, "", with(navigation, "Cookie", session.Name+"="+session.Value))
		wantIdentity(t, back, bob)
	})

	t.Run("token and cookie reach the upstream with identity", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path, body string
			headers                  map[string]string
			user                     testUser
		}{
			{"alice bearer", http.MethodGet, "/whoami?x=1&y=%2F", "", bearer(aliceTok), alice},
			{"alice cookie", http.MethodGet, "/whoami", "", with(navigation, "Cookie", "authgate_session="+aliceCookie.Value), alice},
			{"bob bearer on the API", http.MethodGet, "/api/me", "", with(apiClient, "Authorization", "Bearer "+bobTok), bob},
			{"bob cookie", http.MethodGet, "/", "", cookie(bobCookie), bob},
			{"post body reaches the upstream", http.MethodPost, "/api/items", `{"name":"x"}`, with(bearer(bobTok), "Content-Type", "application/json"), bob},
			{"alice in the group location", http.MethodGet, "/admin/users", "", bearer(aliceTok), alice},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.do(t, tc.method, s.app+tc.path, tc.body, tc.headers)
				wantIdentity(t, r, tc.user)
				if r.seen == nil {
					return
				}
				if r.seen.URI != tc.path || r.seen.Method != tc.method || r.seen.Body != tc.body {
					t.Errorf("upstream saw %s %s body %q, want %s %s body %q", r.seen.Method, r.seen.URI, r.seen.Body, tc.method, tc.path, tc.body)
				}
			})
		}
	})

	t.Run("client identity headers never reach the upstream", func(t *testing.T) {
		spoofed := map[string]string{
			"Remote-User":        "spoof-user",
			"remote-user":        "spoof-lower",
			"REMOTE-USER":        "spoof-upper",
			"Remote_User":        "spoof-underscore",
			"Remote.User":        "spoof-dot",
			"Remote-Groups":      "spoof-admins",
			"Remote_Groups":      "spoof-admins-underscore",
			"Remote-Email":       "spoof@evil.example",
			"Remote-Name":        "spoof name",
			"X-Forwarded-User":   "spoof-xfu",
			"X_Forwarded_User":   "spoof-xfu-underscore",
			"X-Forwarded-Groups": "spoof-xfg",
			"X-Forwarded-Email":  "spoof-xfe@evil.example",
			// The signed identity: the gate's, or none (this gate has no
			// assertion key; assertion_test.go runs one that has).
			"X-Authgate-Jwt-Assertion": "spoof-assertion",
		}
		for _, tc := range []struct {
			name, path string
			creds      map[string]string
			user       *testUser // nil: the request must be refused
		}{
			{"bob bearer", "/whoami", bearer(bobTok), &bob},
			{"bob cookie", "/whoami", cookie(bobCookie), &bob},
			{"bob bearer on the API", "/api/me", bearer(bobTok), &bob},
			{"alice bearer in the group location", "/admin/users", bearer(aliceTok), &alice},
			{"no credentials", "/whoami", nil, nil},
			{"no credentials on the API", "/api/me", nil, nil},
			{"bob in the group location", "/admin/users", bearer(bobTok), nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := with(tc.creds)
				for k, v := range spoofed {
					h[k] = v
				}
				r := s.do(t, http.MethodGet, s.app+tc.path, "", h)
				if tc.user == nil {
					if r.seen != nil || r.status < 300 {
						t.Fatalf("status %d from %s, want a refusal", r.status, source(r))
					}
					return
				}
				wantIdentity(t, r, *tc.user)
				if r.seen == nil {
					return
				}
				for k, vs := range r.seen.Header {
					for _, v := range vs {
						if strings.Contains(strings.ToLower(v), "spoof") {
							t.Errorf("upstream received %s: %q, sent by the client", k, v)
						}
					}
				}
			})
		}
	})

	t.Run("groups on the verify URL", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			tok        string
			user       *testUser // nil: 403
		}{
			{"member", "/admin/users", aliceTok, &alice},
			{"member on the bare path", "/admin", aliceTok, &alice},
			{"non-member", "/admin/users", bobTok, nil},
			{"non-member on the bare path", "/admin", bobTok, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.do(t, http.MethodGet, s.app+tc.path, "", bearer(tc.tok))
				if tc.user != nil {
					wantIdentity(t, r, *tc.user)
					return
				}
				if r.status != http.StatusForbidden {
					t.Fatalf("status %d from %s, want 403", r.status, source(r))
				}
			})
		}
	})

	t.Run("client query never changes the decision", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			headers    map[string]string
			want       int
		}{
			{"non-member adds his own group", "/admin/users?groups=staff", bearer(bobTok), http.StatusForbidden},
			{"non-member empties the group list", "/admin/users?groups=&users=bob", bearer(bobTok), http.StatusForbidden},
			{"non-member adds everything", "/admin/users?groups=staff&groups=admins&users=bob&on_fail=redirect&proxy=caddy", bearer(bobTok), http.StatusForbidden},
			{"non-member sends an empty policy", "/admin/users?groups=&users=x&on_fail=redirect", bearer(bobTok), http.StatusForbidden},
			{"anonymous browser sends an empty policy", "/api/items?groups=&users=x&on_fail=redirect", navigation, http.StatusUnauthorized},
			// Had the client's query reached /verify, these would be refused.
			{"member's own query is not a policy", "/admin/users?groups=nobody&users=mallory", bearer(aliceTok), http.StatusOK},
			{"member's empty policy is not a policy", "/admin/users?groups=&users=x", bearer(aliceTok), http.StatusOK},
			{"any user's own query is not a policy", "/whoami?users=mallory&groups=", bearer(bobTok), http.StatusOK},
			{"on_fail=redirect does not redirect an API", "/api/items?on_fail=redirect", navigation, http.StatusUnauthorized},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.do(t, http.MethodGet, s.app+tc.path, "", tc.headers)
				if r.status != tc.want {
					t.Fatalf("status %d from %s, want %d; Location %q", r.status, source(r), tc.want, r.header.Get("Location"))
				}
				if r.seen != nil && r.seen.URI != tc.path {
					t.Errorf("upstream saw %q, want the client's own %q", r.seen.URI, tc.path)
				}
			})
		}
	})

	t.Run("path tricks do not skip the group check", func(t *testing.T) {
		for _, path := range []string{"/admin", "/admin/", "//admin/users", "/api/../admin/users", "/%61dmin/users", "/./admin/users", "/admin//users"} {
			t.Run(path, func(t *testing.T) {
				r := s.do(t, http.MethodGet, s.app+path, "", bearer(bobTok))
				if r.seen != nil {
					t.Fatalf("bob reached the upstream as %q (status %d)", r.seen.URI, r.status)
				}
				if r.status != http.StatusForbidden && r.status != http.StatusBadRequest {
					t.Errorf("status %d, want 403 (or 400)", r.status)
				}
			})
		}
	})

	t.Run("logout through the proxy ends the session", func(t *testing.T) {
		t.Run("bearer", func(t *testing.T) {
			tok, _ := s.login(t, bob)
			if r := s.do(t, http.MethodGet, s.app+"/api/me", "", bearer(tok)); r.status != http.StatusOK {
				t.Fatalf("before logout: %d", r.status)
			}
			if r := s.do(t, http.MethodPost, s.auth+"/logout", "", bearer(tok)); r.status != http.StatusNoContent {
				t.Fatalf("logout: %d %s", r.status, r.body)
			}
			if r := s.do(t, http.MethodGet, s.app+"/api/me", "", bearer(tok)); r.status != http.StatusUnauthorized {
				t.Fatalf("old token after logout: %d from %s, want 401", r.status, source(r))
			}
		})
		t.Run("cookie", func(t *testing.T) {
			_, ck := s.login(t, bob)
			if r := s.do(t, http.MethodGet, s.app+"/whoami", "", cookie(ck)); r.status != http.StatusOK {
				t.Fatalf("before logout: %d", r.status)
			}
			r := s.do(t, http.MethodPost, s.auth+"/logout", "", cookie(ck))
			if r.status != http.StatusNoContent {
				t.Fatalf("logout: %d %s", r.status, r.body)
			}
			cleared := false
			for _, c := range r.cookies {
				cleared = cleared || c.Name == "authgate_session" && c.MaxAge < 0
			}
			if !cleared {
				t.Errorf("logout did not clear the cookie: %q", r.header.Values("Set-Cookie"))
			}
			after := s.do(t, http.MethodGet, s.app+"/whoami", "", with(navigation, "Cookie", ck.Name+"="+ck.Value))
			s.wantLoginRedirect(t, after, s.app+"/whoami")
			if r := s.do(t, http.MethodGet, s.app+"/api/me", "", cookie(ck)); r.status != http.StatusUnauthorized {
				t.Errorf("old cookie on the API after logout: %d, want 401", r.status)
			}
		})
	})

	// Last: it stops the gate.
	t.Run("gate down: the proxy fails closed", func(t *testing.T) {
		s.gate.stop(t)
		for _, tc := range []struct {
			name, path string
			headers    map[string]string
		}{
			{"page with a valid token", "/whoami", bearer(aliceTok)},
			{"API with a valid token", "/api/me", bearer(aliceTok)},
			{"group location", "/admin/users", bearer(aliceTok)},
			{"browser without credentials", "/docs/page", navigation},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.do(t, http.MethodGet, s.app+tc.path, "", tc.headers)
				if r.seen != nil {
					t.Fatal("the upstream was called while the gate is down")
				}
				if r.status != s.gateDownStatus {
					t.Errorf("status %d, want %d", r.status, s.gateDownStatus)
				}
			})
		}
	})
}
