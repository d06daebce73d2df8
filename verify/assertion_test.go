package verify

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/verify/assertion"
)

func newAssertions(tb testing.TB) *assertion.Issuer {
	tb.Helper()
	pem, err := assertion.Generate("ec")
	if err != nil {
		tb.Fatal(err)
	}
	k, err := assertion.ParsePEM(pem)
	if err != nil {
		tb.Fatal(err)
	}
	iss, err := assertion.New(assertion.Config{Key: k, Issuer: "authgate"})
	if err != nil {
		tb.Fatal(err)
	}
	return iss
}

// assertionPayload verifies a header's assertion with the issuer's JWKS,
// as an application does, and returns its payload as JSON fields.
func assertionPayload(t *testing.T, iss *assertion.Issuer, raw string) map[string]any {
	t.Helper()
	kf, err := keyfunc.NewJWKSetJSON(iss.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(raw, kf.Keyfunc, jwt.WithTimeFunc(func() time.Time { return testNow }), jwt.WithExpirationRequired()); err != nil {
		t.Fatalf("assertion does not verify: %v", err)
	}
	b, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// TestVerifyAssertion: the assertion rides on every 200 for a signed-in
// identity (a token, Basic credentials, a signed-in request on an allow
// rule), for the original request's origin; never on a refusal, an
// anonymous allow, or when the origin is unknown.
func TestVerifyAssertion(t *testing.T) {
	iss := newAssertions(t)
	f := newFixture(t, func(c *Config) {
		c.Assertions = iss
		c.Basic = &basicStub{}
		withRules(t, "default: authenticated\nrules:\n  - name: public\n    paths: [\"/public/*\"]\n    action: allow\n")(c)
	})
	tok := f.login(t, "alice", "admins")
	bearer := "Bearer " + tok
	basicAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("ci:right password"))
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		code int
		aud  string // "": no assertion
		sub  string
		sid  bool
	}{
		{"bearer, nginx dialect", map[string]string{"Authorization": bearer, "X-Original-URL": "https://app.example.com/x"}, 200, "https://app.example.com", "alice", true},
		{"cookie, Traefik dialect with a port", map[string]string{"Cookie": DefaultCookieName + "=" + tok,
			"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com:8443", "X-Forwarded-Uri": "/x"}, 200, "https://app.example.com:8443", "alice", true},
		{"default port dropped", map[string]string{"Authorization": bearer, "X-Original-URL": "http://app.example.com:80/x"}, 200, "http://app.example.com", "alice", true},
		{"Basic credentials: no sid", map[string]string{"Authorization": basicAuth, "X-Original-URL": "https://app.example.com/x"}, 200, "https://app.example.com", "ci", false},
		{"signed in on an allow rule", map[string]string{"Authorization": bearer, "X-Original-URL": "https://app.example.com/public/a"}, 200, "https://app.example.com", "alice", true},
		{"anonymous on an allow rule", map[string]string{"X-Original-URL": "https://app.example.com/public/a"}, 200, "", "", false},
		{"unknown origin", map[string]string{"Authorization": bearer}, 200, "", "", false},
		// ingress-nginx sends X-Original-URL and passes a client's
		// X-Forwarded-* through: the client must not pick the audience.
		{"the dialects disagree on the host", map[string]string{"Authorization": bearer, "X-Original-URL": "https://app.example.com/x",
			"X-Forwarded-Uri": "/x", "X-Forwarded-Host": "payroll.example.com"}, 200, "", "", false},
		{"the dialects agree", map[string]string{"Authorization": bearer, "X-Original-URL": "https://app.example.com/x",
			"X-Forwarded-Uri": "/x", "X-Forwarded-Host": "APP.example.com", "X-Forwarded-Proto": "https"}, 200, "https://app.example.com", "alice", true},
		{"refused: no credentials", map[string]string{"X-Original-URL": "https://app.example.com/x"}, 401, "", "", false},
		{"refused: wrong Basic password", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("ci:wrong")), "X-Original-URL": "https://app.example.com/x"}, 401, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(http.MethodGet, "/verify", tc.hdr)
			raw := w.Header().Get(assertion.Header)
			if w.Code != tc.code || (raw != "") != (tc.aud != "") {
				t.Fatalf("status %d, assertion %q; want %d and an assertion: %v", w.Code, raw, tc.code, tc.aud != "")
			}
			if raw == "" {
				return
			}
			p := assertionPayload(t, iss, raw)
			if p["aud"] != tc.aud || p["sub"] != tc.sub || (p["sid"] != nil) != tc.sid {
				t.Fatalf("payload %v", p)
			}
		})
	}
	t.Run("refused: groups", func(t *testing.T) {
		w := f.do(http.MethodGet, "/verify?groups=ops", map[string]string{"Authorization": bearer, "X-Original-URL": "https://app.example.com/x"})
		if w.Code != 403 || w.Header().Get(assertion.Header) != "" {
			t.Fatalf("status %d, assertion %q", w.Code, w.Header().Get(assertion.Header))
		}
	})
	t.Run("a client's own assertion is not trusted or echoed", func(t *testing.T) {
		w := f.do(http.MethodGet, "/verify", map[string]string{assertion.Header: "forged", "X-Original-URL": "https://app.example.com/x"})
		if w.Code != 401 || w.Header().Get(assertion.Header) != "" {
			t.Fatalf("status %d, assertion %q", w.Code, w.Header().Get(assertion.Header))
		}
	})
}

// TestAssertionsForgottenWithTheSession: a logout (SessionEnded), or a
// session found gone, drops the session's cached assertions.
func TestAssertionsForgottenWithTheSession(t *testing.T) {
	iss := newAssertions(t)
	f := newFixture(t, func(c *Config) { c.Assertions = iss })
	hdr := func(tok string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + tok, "X-Original-URL": "https://app.example.com/x"}
	}
	a, b := f.login(t, "alice"), f.login(t, "bob")
	f.do(http.MethodGet, "/verify", hdr(a))
	f.do(http.MethodGet, "/verify", hdr(b))
	if iss.Len() != 2 {
		t.Fatalf("%d sessions cached, want 2", iss.Len())
	}
	sid, _ := f.tokens.SessionOf(a)
	f.v.SessionEnded(sid)
	if iss.Len() != 1 {
		t.Fatalf("%d cached after SessionEnded, want 1", iss.Len())
	}
	bsid, _ := f.tokens.SessionOf(b)
	f.sessions.mu.Lock()
	delete(f.sessions.live, bsid) // signed out on another replica
	f.sessions.mu.Unlock()
	if w := f.do(http.MethodGet, "/verify", hdr(b)); w.Code != 401 || iss.Len() != 0 {
		t.Fatalf("status %d, %d cached; want 401 and none", w.Code, iss.Len())
	}
}

// TestAssertionPeerMemo: the trust a token remembers for its connection
// never carries over to another peer.
func TestAssertionPeerMemo(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Assertions = newAssertions(t) })
	hdr := map[string]string{"Authorization": "Bearer " + f.login(t, "alice"), "X-Original-URL": "https://app.example.com/x"}
	for i, tc := range []struct {
		peer string
		want bool
	}{{"127.0.0.1:40000", true}, {"203.0.113.9:5000", false}, {"127.0.0.1:40001", true}, {"203.0.113.9:5000", false}} {
		w := f.doFrom(tc.peer, http.MethodGet, "/verify", hdr)
		if w.Code != 200 || (w.Header().Get(assertion.Header) != "") != tc.want {
			t.Fatalf("request %d from %s: %d, assertion %q; want one: %v", i, tc.peer, w.Code, w.Header().Get(assertion.Header), tc.want)
		}
	}
}
