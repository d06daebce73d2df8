package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/verify/assertion"
)

// writeKey writes a new key of kind with "authgate keygen" into dir.
func writeKey(t *testing.T, dir, name, kind string) string {
	t.Helper()
	out, err := runCLI(t, "", nil, "keygen", "-type", kind)
	if err != nil || !strings.HasPrefix(out, "-----BEGIN PRIVATE KEY-----") {
		t.Fatalf("keygen -type %s: %v %q", kind, err, out)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type assertionClaims struct {
	Name   string   `json:"name"`
	Email  string   `json:"email"`
	Groups []string `json:"groups"`
	SID    string   `json:"sid"`
	AMR    []string `json:"amr"`
	Aud    string   `json:"aud"`
	jwt.RegisteredClaims
}

// TestAssertionEndToEnd: with AUTHGATE_ASSERTION_KEY_FILE, /verify's 200
// for a signed-in identity carries an assertion that the JWKS the gate
// publishes verifies, for the original request's origin; nothing else
// does, and without the key nothing is sent or served.
func TestAssertionEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cur, prev := writeKey(t, dir, "current.pem", "ec"), writeKey(t, dir, "previous.pem", "ed25519")
	g := startGate(t, "AUTHGATE_SECRET="+goodSecret, "AUTHGATE_ASSERTION_KEY_FILE="+cur, "AUTHGATE_ASSERTION_KEY_FILE_PREVIOUS="+prev,
		"AUTHGATE_ASSERTION_TTL=90s", "AUTHGATE_LOGIN_URL=https://auth.example.com/login")
	if st := g.register(t, "alice"); st != 201 {
		t.Fatalf("register: %d", st)
	}
	tok, _ := g.login(t, "alice")

	resp, jwks := g.do(t, "GET", "/.well-known/jwks.json", "", "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=300" || strings.Count(jwks, `"kid"`) != 2 {
		t.Fatalf("JWKS: %d %q %s", resp.StatusCode, resp.Header.Get("Cache-Control"), jwks)
	}
	kf, err := keyfunc.NewJWKSetJSON([]byte(jwks))
	if err != nil {
		t.Fatal(err)
	}

	forwardedTo := func(host string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + tok, "X-Forwarded-Proto": "https", "X-Forwarded-Host": host, "X-Forwarded-Uri": "/x", "X-Forwarded-Method": "GET"}
	}
	resp, _ = g.do(t, "GET", "/verify", "", "", forwardedTo("app.example.com:443"))
	raw := resp.Header.Get(assertion.Header)
	if resp.StatusCode != 200 || raw == "" {
		t.Fatalf("verify: %d, assertion %q", resp.StatusCode, raw)
	}
	var c assertionClaims
	parsed, err := jwt.ParseWithClaims(raw, &c, kf.Keyfunc, jwt.WithIssuer("authgate"), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("the assertion does not verify with the gate's JWKS: %v", err)
	}
	if parsed.Header["alg"] != "ES256" || c.Subject != "alice" || c.Aud != "https://app.example.com" || c.Groups == nil ||
		len(c.SID) != 32 || strings.Contains(raw, tok) || c.ExpiresAt.Sub(c.IssuedAt.Time) != 90*time.Second {
		t.Fatalf("assertion header %v claims %+v", parsed.Header, c)
	}

	// No assertion without a known origin, on a refusal, or off.
	if resp, _ := g.do(t, "GET", "/verify", "", "", map[string]string{"Authorization": "Bearer " + tok}); resp.StatusCode != 200 || resp.Header.Get(assertion.Header) != "" {
		t.Fatalf("unknown origin: %d, assertion %q", resp.StatusCode, resp.Header.Get(assertion.Header))
	}
	if resp, _ := g.do(t, "GET", "/verify?groups=admins", "", "", forwardedTo("app.example.com")); resp.StatusCode != 403 || resp.Header.Get(assertion.Header) != "" {
		t.Fatalf("403: assertion %q", resp.Header.Get(assertion.Header))
	}
	g.do(t, "POST", "/logout", "", "", map[string]string{"Authorization": "Bearer " + tok})
	if resp, _ := g.do(t, "GET", "/verify", "", "", forwardedTo("app.example.com")); resp.StatusCode != 401 || resp.Header.Get(assertion.Header) != "" {
		t.Fatalf("after logout: %d, assertion %q", resp.StatusCode, resp.Header.Get(assertion.Header))
	}

	off := startGate(t, "AUTHGATE_SECRET="+goodSecret)
	if resp, _ := off.do(t, "GET", "/.well-known/jwks.json", "", "", nil); resp.StatusCode != 404 {
		t.Fatalf("JWKS without a key: %d", resp.StatusCode)
	}
}

// TestAssertionKeyErrors: a key the gate cannot use stops the start,
// naming the variable.
func TestAssertionKeyErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := writeKey(t, dir, "good.pem", "ed25519")
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"AUTHGATE_ASSERTION_KEY_FILE=" + bad}, "AUTHGATE_ASSERTION_KEY_FILE"},
		{[]string{"AUTHGATE_ASSERTION_KEY_FILE=" + filepath.Join(dir, "missing.pem")}, "AUTHGATE_ASSERTION_KEY_FILE"},
		{[]string{"AUTHGATE_ASSERTION_KEY_FILE=" + good, "AUTHGATE_ASSERTION_KEY_FILE_PREVIOUS=" + bad}, "AUTHGATE_ASSERTION_KEY_FILE_PREVIOUS"},
		{[]string{"AUTHGATE_ASSERTION_KEY_FILE_PREVIOUS=" + good}, "AUTHGATE_ASSERTION_KEY_FILE_PREVIOUS"},
		{[]string{"AUTHGATE_ASSERTION_KEY_FILE=" + good, "AUTHGATE_ASSERTION_TTL=10m"}, "AUTHGATE_ASSERTION_TTL"},
	} {
		if logs := startGateExpectingExit(t, append(tc.env, "AUTHGATE_SECRET="+goodSecret)...); !strings.Contains(logs, tc.want) {
			t.Errorf("%v: the gate's last words %q do not name %s", tc.env, logs, tc.want)
		}
	}
}
