package deploy

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/verify/assertion"
)

// gateHeaders are the identity headers the gate sets on every 2xx.
var gateHeaders = []string{"Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name"}

// proxyHeaders are what every authResponseHeaders, auth-response-headers
// and copy_headers list must name: the identity headers, and the signed
// assertion the gate adds to a signed-in 2xx when it has a key
// (AUTHGATE_ASSERTION_KEY_FILE). A name missing from such a list is passed
// from the client to the application.
var proxyHeaders = append(slices.Clone(gateHeaders), assertion.Header)

// traefikClientRequest is a request as it reaches Traefik's entry point.
type traefikClientRequest struct {
	method   string
	host     string // Host header, as the browser sent it
	uri      string // request target: path and query, as sent
	clientIP string
	headers  map[string]string // everything else the client sent, names as sent
}

// traefikHopHeaders are removed by forwardAuth before it calls the gate
// (pkg/middlewares/auth/forward.go, hopHeaders).
var traefikHopHeaders = []string{"Connection", "Keep-Alive", "Te", "Trailers", "Transfer-Encoding", "Upgrade"}

// traefikAuthRequest builds exactly what Traefik v3.7's forwardAuth sends
// to address for c, arriving over TLS on an entry point that does not
// trust the client's forwarded headers, with trustForwardHeader: true:
//
//   - the method is GET; the original method is in X-Forwarded-Method;
//   - every client header is copied (Cookie, Authorization, Accept, a
//     client's own X-Original-URL...), except hop-by-hop headers and the
//     X-Forwarded-* and X-Real-Ip the entry point deleted;
//   - the entry point adds X-Forwarded-Proto/Host/Port/Server and X-Real-Ip;
//     forwardAuth adds X-Forwarded-For/Method/Uri;
//   - Go's transport adds Accept-Encoding: gzip when the client sent none.
//
// Observed with a real Traefik 3.7.13; see also Traefik's
// pkg/middlewares/auth/forward.go (writeHeader) and
// pkg/middlewares/forwardedheaders/forwarded_header.go.
func traefikAuthRequest(tb testing.TB, address string, c traefikClientRequest) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, address, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range c.headers {
		canon := http.CanonicalHeaderKey(k)
		if slices.Contains(traefikHopHeaders, canon) || strings.HasPrefix(canon, "X-Forwarded-") || canon == "X-Real-Ip" {
			continue
		}
		req.Header[k] = append(req.Header[k], v)
	}
	port := "443"
	if _, p, err := net.SplitHostPort(c.host); err == nil {
		port = p
	}
	set := req.Header.Set
	set("X-Forwarded-Proto", "https")
	set("X-Forwarded-Host", c.host)
	set("X-Forwarded-Port", port)
	set("X-Forwarded-Server", "traefik-6c9d8b7f5-x2x7q")
	set("X-Real-Ip", c.clientIP)
	set("X-Forwarded-For", c.clientIP)
	set("X-Forwarded-Method", c.method)
	set("X-Forwarded-Uri", c.uri)
	if req.Header.Get("Accept-Encoding") == "" {
		set("Accept-Encoding", "gzip")
	}
	if req.Header.Get("User-Agent") == "" {
		set("User-Agent", "Go-http-client/1.1")
	}
	return req
}

// gateAnswer is the gate's answer, as Traefik relays it.
type gateAnswer struct {
	status int
	header http.Header
	body   string
}

func sendToGate(tb testing.TB, req *http.Request) gateAnswer {
	tb.Helper()
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		// Accept-Encoding is set by hand, as Traefik's transport does: no
		// transparent decompression, the body is what Traefik relays.
		Transport: &http.Transport{DisableCompression: true},
	}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		tb.Errorf("Content-Encoding %q: the gate compressed its answer; Traefik relays it as is", ce)
	}
	return gateAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// TestTraefikContract holds the gate to what Traefik v3.7 sends and relays,
// using the forwardAuth addresses of deploy/traefik/dynamic.yml. Traefik
// itself cannot be installed here (no Debian package; `go install` fails
// on its go.mod replace directives), so this is a contract test.
func TestTraefikContract(t *testing.T) {
	t.Parallel()
	var dyn traefikDynamic
	decodeStrict(t, filepath.Join("traefik", "dynamic.yml"), &dyn)

	gateAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	const login = "https://auth.example.com/login"
	// With an assertion key: a 200 then carries the signed identity too,
	// which Traefik copies like the others (authResponseHeaders).
	startGate(t, gateConfig{addr: gateAddr, loginURL: login, extraEnv: assertionKeyEnv(t, "ec")})
	jwksReq, err := http.NewRequest(http.MethodGet, "http://"+gateAddr+"/.well-known/jwks.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	jwks := sendToGate(t, jwksReq)
	kf, err := keyfunc.NewJWKSetJSON(json.RawMessage(jwks.body))
	if err != nil {
		t.Fatalf("JWKS: %d %q: %v", jwks.status, jwks.body, err)
	}
	address := func(middleware string) string {
		t.Helper()
		m, ok := dyn.HTTP.Middlewares[middleware]
		if !ok || m.ForwardAuth == nil {
			t.Fatalf("dynamic.yml has no forwardAuth middleware %q", middleware)
		}
		a, ok := strings.CutPrefix(m.ForwardAuth.Address, "http://127.0.0.1:8080/")
		if !ok {
			t.Fatalf("middleware %s: address %q does not start with http://127.0.0.1:8080/, which the test replaces", middleware, m.ForwardAuth.Address)
		}
		return "http://" + gateAddr + "/" + a
	}
	toGate := func(t *testing.T, middleware string, c traefikClientRequest) gateAnswer {
		t.Helper()
		if c.host == "" {
			c.host = "app.example.com"
		}
		if c.clientIP == "" {
			c.clientIP = "203.0.113.7"
		}
		return sendToGate(t, traefikAuthRequest(t, address(middleware), c))
	}

	// Signing in is not forward auth: straight to the gate.
	loginAs := func(t *testing.T, u testUser) string {
		t.Helper()
		body := fmt.Sprintf(`{"username":%q,"password":%q}`, u.name, u.password)
		resp, err := http.Post("http://"+gateAddr+"/login", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("login %s: %d %v", u.name, resp.StatusCode, err)
		}
		return tok.AccessToken
	}
	aliceTok, bobTok := loginAs(t, alice), loginAs(t, bob)

	browser := func(kv ...string) map[string]string {
		return with(map[string]string{
			"Accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
			"Accept-Encoding": "gzip, deflate, br",
			"Sec-Fetch-Mode":  "navigate",
			"User-Agent":      "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
			"Connection":      "keep-alive",
		}, kv...)
	}
	api := func(kv ...string) map[string]string {
		return with(map[string]string{"Accept": "application/json"}, kv...)
	}
	loginFor := func(target string) string { return login + "?rd=" + url.QueryEscape(target) }

	for _, tc := range []struct {
		name       string
		middleware string
		req        traefikClientRequest
		status     int
		location   string // exact Location; "" means none
		user       *testUser
	}{
		{name: "API without credentials", middleware: "authgate",
			req:    traefikClientRequest{method: http.MethodGet, uri: "/api/items?page=2", headers: api()},
			status: http.StatusUnauthorized, location: loginFor("https://app.example.com/api/items?page=2")},
		{name: "browser without credentials", middleware: "authgate",
			req:    traefikClientRequest{method: http.MethodGet, uri: "/docs/a%20b?q=1&next=%2Fhome", headers: browser()},
			status: http.StatusFound, location: loginFor("https://app.example.com/docs/a%20b?q=1&next=%2Fhome")},
		{name: "browser on a non-default port", middleware: "authgate",
			req:    traefikClientRequest{method: http.MethodGet, host: "app.example.com:8443", uri: "/docs", headers: browser()},
			status: http.StatusFound, location: loginFor("https://app.example.com:8443/docs")},
		{name: "HEAD navigation", middleware: "authgate",
			req:    traefikClientRequest{method: http.MethodHead, uri: "/docs", headers: browser()},
			status: http.StatusFound, location: loginFor("https://app.example.com/docs")},
		{name: "browser form post is not redirected", middleware: "authgate",
			req:    traefikClientRequest{method: http.MethodPost, uri: "/comments", headers: browser("Content-Type", "application/x-www-form-urlencoded")},
			status: http.StatusUnauthorized, location: loginFor("https://app.example.com/comments")},
		{name: "fetch from a page is not redirected", middleware: "authgate",
			req:    traefikClientRequest{method: http.MethodGet, uri: "/api/items", headers: map[string]string{"Accept": "*/*", "Sec-Fetch-Mode": "cors"}},
			status: http.StatusUnauthorized, location: loginFor("https://app.example.com/api/items")},
		{name: "client's own X-Original-URL does not choose rd", middleware: "authgate",
			req: traefikClientRequest{method: http.MethodGet, uri: "/docs", headers: browser(
				"X-Original-URL", "https://evil.example.net/phish", "X-Original-Method", "GET")},
			// X-Original-URL makes the gate take the caller for nginx: 401
			// rather than 302. Only a hand-made request carries one.
			status: http.StatusUnauthorized, location: loginFor("https://app.example.com/docs")},
		{name: "client's X-Forwarded-* are deleted by the entry point", middleware: "authgate",
			req: traefikClientRequest{method: http.MethodGet, uri: "/docs", headers: browser(
				"X-Forwarded-Host", "evil.example.net", "X-Forwarded-Uri", "/phish", "X-Forwarded-Proto", "http")},
			status: http.StatusFound, location: loginFor("https://app.example.com/docs")},
		{name: "host outside the redirect domains gets no rd", middleware: "authgate",
			req:    traefikClientRequest{method: http.MethodGet, host: "app.other.example", uri: "/docs", headers: browser()},
			status: http.StatusFound, location: login},
		{name: "API middleware never redirects a browser", middleware: "authgate-api",
			req:    traefikClientRequest{method: http.MethodGet, uri: "/api/items", headers: browser()},
			status: http.StatusUnauthorized, location: loginFor("https://app.example.com/api/items")},
		{name: "bearer token", middleware: "authgate",
			req:    traefikClientRequest{method: http.MethodGet, uri: "/whoami", headers: api("Authorization", "Bearer "+aliceTok)},
			status: http.StatusOK, user: &alice},
		{name: "bearer token on a non-default port", middleware: "authgate",
			req:    traefikClientRequest{method: http.MethodGet, host: "app.example.com:8443", uri: "/whoami", headers: api("Authorization", "Bearer "+aliceTok)},
			status: http.StatusOK, user: &alice},
		{name: "session cookie", middleware: "authgate",
			req:    traefikClientRequest{method: http.MethodGet, uri: "/whoami", headers: browser("Cookie", "theme=dark; authgate_session="+bobTok)},
			status: http.StatusOK, user: &bob},
		{name: "client identity headers beside a token", middleware: "authgate",
			req: traefikClientRequest{method: http.MethodGet, uri: "/whoami", headers: api("Authorization", "Bearer "+bobTok,
				"Remote-User", "admin", "Remote-Groups", "admins", "Remote-Email", "admin@example.com", "Remote-Name", "Admin",
				assertion.Header, "forged")},
			status: http.StatusOK, user: &bob},
		{name: "group member", middleware: "authgate-admins",
			req:    traefikClientRequest{method: http.MethodGet, uri: "/admin/users", headers: api("Authorization", "Bearer "+aliceTok)},
			status: http.StatusOK, user: &alice},
		{name: "not a group member", middleware: "authgate-admins",
			req:    traefikClientRequest{method: http.MethodGet, uri: "/admin/users", headers: browser("Cookie", "authgate_session="+bobTok)},
			status: http.StatusForbidden},
		{name: "group location, browser without credentials", middleware: "authgate-admins",
			req:    traefikClientRequest{method: http.MethodGet, uri: "/admin/users", headers: browser()},
			status: http.StatusFound, location: loginFor("https://app.example.com/admin/users")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := toGate(t, tc.middleware, tc.req)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d; Location %q; body %q", a.status, tc.status, a.header.Get("Location"), a.body)
			}
			if got := a.header.Get("Location"); got != tc.location {
				t.Errorf("Location = %q, want %q", got, tc.location)
			}
			if loc := a.header.Get("Location"); loc != "" {
				// Traefik resolves a relative Location against the gate's
				// own address (http.Response.Location), which the browser
				// cannot reach.
				if u, err := url.Parse(loc); err != nil || !u.IsAbs() || u.Host == "" {
					t.Errorf("Location %q is not an absolute URL", loc)
				}
			}
			switch a.status {
			case http.StatusOK:
				for _, h := range gateHeaders {
					if len(a.header.Values(h)) != 1 {
						t.Errorf("200 without exactly one %s (%q): Traefik would keep the client's own", h, a.header.Values(h))
					}
				}
				if got := a.header.Get("Remote-User"); got != tc.user.name {
					t.Errorf("Remote-User = %q, want %q", got, tc.user.name)
				}
				if got, want := a.header.Get("Remote-Groups"), strings.Join(tc.user.groups, ","); got != want {
					t.Errorf("Remote-Groups = %q, want %q", got, want)
				}
				// The assertion is for the original request's origin: the
				// default port dropped, another one kept.
				aud := "https://" + strings.TrimSuffix(tc.req.host, ":443")
				if tc.req.host == "" {
					aud = "https://app.example.com"
				}
				var c assertionClaims
				if v := a.header.Values(assertion.Header); len(v) != 1 {
					t.Errorf("200 with %s %q, want exactly one", assertion.Header, v)
				} else if _, err := jwt.ParseWithClaims(v[0], &c, kf.Keyfunc, jwt.WithIssuer("authgate"), jwt.WithAudience(aud),
					jwt.WithExpirationRequired()); err != nil || c.Subject != tc.user.name || !slices.Equal(c.Groups, tc.user.groups) {
					t.Errorf("assertion for %s: %v, claims %+v", aud, err, c)
				}
			case http.StatusUnauthorized:
				if got := a.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
					t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
				}
				fallthrough
			default:
				for _, h := range proxyHeaders {
					if v := a.header.Values(h); len(v) > 0 {
						t.Errorf("refusal carries %s: %q", h, v)
					}
				}
				if a.status != http.StatusFound && !json.Valid([]byte(a.body)) {
					t.Errorf("body %q is not JSON", a.body)
				}
			}
		})
	}

	t.Run("logout, then the old token", func(t *testing.T) {
		tok := loginAs(t, bob)
		req := traefikClientRequest{method: http.MethodGet, uri: "/api/me", headers: api("Authorization", "Bearer "+tok)}
		if a := toGate(t, "authgate", req); a.status != http.StatusOK {
			t.Fatalf("before logout: %d", a.status)
		}
		logout, _ := http.NewRequest(http.MethodPost, "http://"+gateAddr+"/logout", nil)
		logout.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(logout)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		if a := toGate(t, "authgate", req); a.status != http.StatusUnauthorized {
			t.Fatalf("old token after logout: %d, want 401", a.status)
		}
	})
}

// TestTraefikUntrustedPeer: a Traefik the gate does not list in
// AUTHGATE_TRUSTED_PROXIES gets its forwarded headers ignored, so no rd is
// built from them (the redirect goes to the bare login page).
func TestTraefikUntrustedPeer(t *testing.T) {
	t.Parallel()
	gateAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	const login = "https://auth.example.com/login"
	startGate(t, gateConfig{addr: gateAddr, loginURL: login, extraEnv: []string{"AUTHGATE_TRUSTED_PROXIES=192.0.2.10/32"}})
	a := sendToGate(t, traefikAuthRequest(t, "http://"+gateAddr+"/verify", traefikClientRequest{
		method: http.MethodGet, host: "app.example.com", uri: "/docs", clientIP: "203.0.113.7",
		headers: map[string]string{"Accept": "text/html"},
	}))
	if a.status != http.StatusUnauthorized || a.header.Get("Location") != login {
		t.Errorf("got %d Location %q, want 401 with Location %q (no rd from an untrusted peer)", a.status, a.header.Get("Location"), login)
	}
}

// sameSet reports whether a and b hold the same header names.
func sameSet(a, b []string) bool {
	norm := func(s []string) []string {
		out := make([]string, 0, len(s))
		for _, v := range s {
			out = append(out, http.CanonicalHeaderKey(strings.TrimSpace(v)))
		}
		sort.Strings(out)
		return out
	}
	return slices.Equal(norm(a), norm(b))
}

// checkForwardAuth holds a Traefik forwardAuth to what the gate needs.
func checkForwardAuth(tb testing.TB, where string, fa *traefikForwardAuth) {
	tb.Helper()
	if !fa.TrustForwardHeader {
		tb.Errorf("%s: trustForwardHeader is not true (behind a TLS-terminating load balancer the gate would build http:// return URLs)", where)
	}
	if !sameSet(fa.AuthResponseHeaders, proxyHeaders) {
		tb.Errorf("%s: authResponseHeaders %v, want %v: a header missing here is passed from the client to the app", where, fa.AuthResponseHeaders, proxyHeaders)
	}
	u, err := url.Parse(fa.Address)
	if err != nil || u.Path != "/verify" {
		tb.Errorf("%s: address %q is not a /verify URL", where, fa.Address)
	}
}

// checkTraefikChain checks the middlewares of one protected router: the
// header strip first, then exactly one authgate forwardAuth.
func checkTraefikChain(tb testing.TB, where string, names []string, get func(string) traefikMiddleware) {
	tb.Helper()
	var auths int
	for i, n := range names {
		m := get(n)
		if m.ForwardAuth != nil {
			auths++
		}
		if i == 0 && (m.Headers == nil || len(m.Headers.CustomRequestHeaders) == 0) {
			tb.Errorf("%s: the first middleware %s must strip the identity headers", where, n)
		}
		if m.Headers != nil {
			for h, v := range m.Headers.CustomRequestHeaders {
				if v != "" {
					tb.Errorf("%s: %s sets %s: %q; it must only remove headers", where, n, h, v)
				}
			}
		}
	}
	if auths != 1 {
		tb.Errorf("%s: %d forwardAuth middlewares in %v, want exactly one", where, auths, names)
	}
}

func TestTraefikFileConfig(t *testing.T) {
	t.Parallel()
	var st traefikStatic
	decodeStrict(t, filepath.Join("traefik", "traefik.yml"), &st)
	if len(st.EntryPoints) == 0 {
		t.Fatal("no entry points")
	}
	for name, ep := range st.EntryPoints {
		if ep.HTTP.AliasHeadersStrategy != "delete" {
			t.Errorf("entry point %s: http.aliasHeadersStrategy %q, want delete", name, ep.HTTP.AliasHeadersStrategy)
		}
		if ep.ForwardedHeaders != nil && (ep.ForwardedHeaders.Insecure || len(ep.ForwardedHeaders.TrustedIPs) > 0) {
			t.Errorf("entry point %s trusts clients' forwarded headers; trustForwardHeader would pass them to the gate", name)
		}
	}
	if filepath.Base(st.Providers.File.Filename) != "dynamic.yml" {
		t.Errorf("file provider reads %q, not dynamic.yml", st.Providers.File.Filename)
	}

	var dyn traefikDynamic
	decodeStrict(t, filepath.Join("traefik", "dynamic.yml"), &dyn)
	gateURLs := map[string]bool{}
	for name, m := range dyn.HTTP.Middlewares {
		if fa := m.ForwardAuth; fa != nil {
			checkForwardAuth(t, "middleware "+name, fa)
			u, _ := url.Parse(fa.Address)
			gateURLs[u.Scheme+"://"+u.Host] = true
		}
	}
	if len(gateURLs) != 1 {
		t.Errorf("forwardAuth addresses point at %v, want one gate", gateURLs)
	}
	var protected int
	for name, r := range dyn.HTTP.Routers {
		if _, ok := dyn.HTTP.Services[r.Service]; !ok {
			t.Errorf("router %s: service %q is not defined", name, r.Service)
		}
		for _, mw := range r.Middlewares {
			if _, ok := dyn.HTTP.Middlewares[mw]; !ok {
				t.Errorf("router %s: middleware %q is not defined", name, mw)
			}
		}
		if strings.Contains(r.Rule, "`auth.example.com`") {
			// The login host is the gate itself, and public.
			for _, srv := range dyn.HTTP.Services[r.Service].LoadBalancer.Servers {
				if !gateURLs[srv.URL] {
					t.Errorf("router %s: the login host goes to %s, not the gate", name, srv.URL)
				}
			}
			if len(r.Middlewares) > 0 {
				t.Errorf("router %s: the login host must not be behind forwardAuth", name)
			}
			continue
		}
		protected++
		checkTraefikChain(t, "router "+name, r.Middlewares, func(n string) traefikMiddleware { return dyn.HTTP.Middlewares[n] })
	}
	if protected < 3 {
		t.Errorf("found %d protected routers, want the pages, the API and the admin one", protected)
	}
}
