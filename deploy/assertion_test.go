package deploy

import (
	"encoding/base64"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/verify/assertion"
)

// assertionKeyEnv writes a new private key of kind ("ec", "ed25519") with
// `authgate keygen`, as an operator makes one, and returns the gate
// setting that turns the signed identity on.
func assertionKeyEnv(t *testing.T, kind string) []string {
	t.Helper()
	out, err := exec.Command(authgateBinary(t), "keygen", "-type", kind).Output()
	if err != nil || !strings.HasPrefix(string(out), "-----BEGIN PRIVATE KEY-----") {
		t.Fatalf("authgate keygen -type %s: %v %q", kind, err, out)
	}
	path := filepath.Join(t.TempDir(), "assertion.pem")
	writeFile(t, path, string(out))
	return []string{"AUTHGATE_ASSERTION_KEY_FILE=" + path}
}

// assertionClaims is what an application reads of an assertion.
type assertionClaims struct {
	Groups []string `json:"groups"`
	SID    string   `json:"sid"`
	jwt.RegisteredClaims
}

// TestNginxAssertion runs the shipped nginx config in front of a gate that
// signs identities: the application receives the gate's assertion, which
// the JWKS the gate publishes through the login host verifies, and never a
// client's own X-Authgate-Jwt-Assertion.
func TestNginxAssertion(t *testing.T) {
	t.Parallel()
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, rulesFile, "default: authenticated\nrules:\n  - name: public\n    hosts: [app.example.com]\n    paths: [\"/public/*\"]\n    action: allow\n")
	n := startNginx(t, append(assertionKeyEnv(t, "ec"), "AUTHGATE_RULES_FILE="+rulesFile))
	checkAssertions(t, n.stack, "ES256")
}

// TestCaddyAssertion is TestNginxAssertion for the shipped Caddyfile, with
// an Ed25519 key (EdDSA).
func TestCaddyAssertion(t *testing.T) {
	t.Parallel()
	checkAssertions(t, startCaddy(t, assertionKeyEnv(t, "ed25519")), "EdDSA")
}

// checkAssertions is the behaviour asked of every proxy in front of a gate
// with an assertion key and an allow rule for app.example.com/public/*.
func checkAssertions(t *testing.T, s *stack, alg string) {
	r := s.do(t, http.MethodGet, s.auth+"/.well-known/jwks.json", "", nil)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("JWKS through the login host: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	kf, err := keyfunc.NewJWKSetJSON([]byte(r.body))
	if err != nil {
		t.Fatalf("JWKS %s: %v", r.body, err)
	}
	aliceTok, aliceCookie := s.login(t, alice)
	bobTok, bobCookie := s.login(t, bob)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(bob.name+":"+bob.password))
	forged := func(h map[string]string) map[string]string {
		return with(h, assertion.Header, "forged", "x-authgate-jwt-assertion", "forged-lower")
	}

	// wantAssertion: the application got alice's or bob's identity and
	// exactly one assertion, the gate's, for this application's origin
	// (the test's port is not the default one, so it is part of it).
	wantAssertion := func(t *testing.T, r result, u testUser, session bool) {
		t.Helper()
		wantIdentity(t, r, u)
		if r.seen == nil {
			return
		}
		vs := r.seen.Header.Values(assertion.Header)
		if len(vs) != 1 {
			t.Fatalf("upstream %s = %q, want exactly the gate's", assertion.Header, vs)
		}
		var c assertionClaims
		tok, err := jwt.ParseWithClaims(vs[0], &c, kf.Keyfunc, jwt.WithIssuer("authgate"), jwt.WithAudience(s.app),
			jwt.WithExpirationRequired(), jwt.WithValidMethods([]string{alg}))
		if err != nil {
			t.Fatalf("the application's assertion %q does not verify with the gate's JWKS for %s: %v", vs[0], s.app, err)
		}
		if c.Subject != u.name || !slices.Equal(c.Groups, u.groups) || len(c.Audience) != 1 || c.Audience[0] != s.app ||
			(c.SID != "") != session || c.ID == "" || tok.Header["kid"] == nil {
			t.Errorf("assertion header %v claims %+v, want sub %s, groups %v, aud %s", tok.Header, c, u.name, u.groups, s.app)
		}
		if v := r.header.Values(assertion.Header); len(v) > 0 {
			t.Errorf("the client received %s: %q", assertion.Header, v)
		}
	}
	// wantNone: the application got no assertion at all (a client's
	// own copy included), or was never reached.
	wantNone := func(t *testing.T, r result) {
		t.Helper()
		if r.seen != nil {
			if v := r.seen.Header.Values(assertion.Header); len(v) > 0 {
				t.Errorf("upstream %s = %q, want none", assertion.Header, v)
			}
		}
		if v := r.header.Values(assertion.Header); len(v) > 0 {
			t.Errorf("the client received %s: %q", assertion.Header, v)
		}
	}

	t.Run("signed in: the gate's assertion, never the client's", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			headers    map[string]string
			user       testUser
			session    bool
		}{
			{"alice bearer", "/whoami", bearer(aliceTok), alice, true},
			{"alice cookie, a page", "/", with(navigation, "Cookie", "authgate_session="+aliceCookie.Value), alice, true},
			{"alice in the group location", "/admin/users", bearer(aliceTok), alice, true},
			{"bob bearer on the API", "/api/me", with(apiClient, "Authorization", "Bearer "+bobTok), bob, true},
			{"bob cookie", "/whoami", cookie(bobCookie), bob, true},
			{"bob Basic credentials: no sid", "/api/items", map[string]string{"Authorization": basic}, bob, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantAssertion(t, s.do(t, http.MethodGet, s.app+tc.path, "", tc.headers), tc.user, tc.session)
				wantAssertion(t, s.do(t, http.MethodGet, s.app+tc.path, "", forged(tc.headers)), tc.user, tc.session)
			})
		}
	})

	t.Run("public location", func(t *testing.T) {
		for _, h := range []map[string]string{nil, navigation, apiClient} {
			r := s.do(t, http.MethodGet, s.app+"/public/index.html", "", forged(h))
			if r.status != http.StatusOK || r.seen == nil {
				t.Fatalf("anonymous: status %d from %s, want 200 from the upstream", r.status, source(r))
			}
			if u := r.seen.Header.Get("Remote-User"); u != "" {
				t.Errorf("anonymous request reached the app as %q", u)
			}
			wantNone(t, r)
		}
		// A session on a public path still names the user, signed.
		wantAssertion(t, s.do(t, http.MethodGet, s.app+"/public/index.html", "", forged(cookie(bobCookie))), bob, true)
		// Basic credentials are not checked on an allowed request: no
		// identity, so no assertion.
		r := s.do(t, http.MethodGet, s.app+"/public/index.html", "", forged(map[string]string{"Authorization": basic}))
		if r.status != http.StatusOK || r.seen == nil || r.seen.Header.Get("Remote-User") != "" {
			t.Fatalf("Basic on a public path: %d from %s", r.status, source(r))
		}
		wantNone(t, r)
	})

	t.Run("refused: the application is never reached", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			headers    map[string]string
			status     int
		}{
			{"page without credentials", "/whoami", navigation, http.StatusFound},
			{"API without credentials", "/api/me", apiClient, http.StatusUnauthorized},
			{"API with a bad token", "/api/me", bearer(aliceTok + "x"), http.StatusUnauthorized},
			{"API with a wrong password", "/api/me", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:wrong"))}, http.StatusUnauthorized},
			{"bob in the group location", "/admin/users", bearer(bobTok), http.StatusForbidden},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.do(t, http.MethodGet, s.app+tc.path, "", forged(tc.headers))
				if r.status != tc.status || r.seen != nil {
					t.Fatalf("status %d from %s, want %d from the proxy", r.status, source(r), tc.status)
				}
				wantNone(t, r)
			})
		}
	})
}
