package verify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
)

// signRaw signs arbitrary header and payload JSON with key, as an attacker
// who knows (or guessed) a key would.
func signRaw(t *testing.T, header, payload map[string]any, key []byte) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(payload)
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	sig, err := jwt.SigningMethodHS256.Sign(signing, key)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + enc.EncodeToString(sig)
}

func basePayload() map[string]any {
	return map[string]any{
		"iss": "authgate", "sub": "alice", "jti": "s1",
		"iat": testNow.Add(-time.Minute).Unix(), "exp": testNow.Add(time.Hour).Unix(),
	}
}

// TestTokenHeaderEdgeCases: the header may not steer verification. kid only
// picks among our own keys; crit is refused (RFC 7515 §4.1.11); jku, x5u and
// jwk are never fetched or used, which guards against key injection
// (node-jose CVE-2018-0114, a token verified with the jwk it embeds) and
// against a token naming where its key is fetched from. Claims of the wrong
// JSON type are refused rather than coerced (the type confusion of jwt-go
// CVE-2020-26160, aud as string or array).
func TestTokenHeaderEdgeCases(t *testing.T) {
	f := newFixture(t, nil)
	kid := KeyID(testSecret)
	attacker := []byte("attacker-chosen-key-attacker-chosen")
	cases := []struct {
		name   string
		header map[string]any
		mod    func(map[string]any)
		key    []byte
		ok     bool
	}{
		{"our token", map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, nil, testSecret, true},
		{"no kid", map[string]any{"alg": "HS256", "typ": "JWT"}, nil, testSecret, false},
		{"unknown kid", map[string]any{"alg": "HS256", "kid": "deadbeef0000"}, nil, testSecret, false},
		{"kid path traversal", map[string]any{"alg": "HS256", "kid": "../../dev/null"}, nil, []byte{}, false},
		{"crit header", map[string]any{"alg": "HS256", "kid": kid, "crit": []string{"exp"}}, nil, testSecret, false},
		{"jku pointing elsewhere", map[string]any{"alg": "HS256", "kid": kid, "jku": "https://evil.example/keys"}, nil, attacker, false},
		{"embedded jwk", map[string]any{"alg": "HS256", "kid": kid, "jwk": map[string]any{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString(attacker)}}, nil, attacker, false},
		{"x5u", map[string]any{"alg": "HS256", "kid": kid, "x5u": "https://evil.example/cert"}, nil, attacker, false},
		{"exp=0", map[string]any{"alg": "HS256", "kid": kid}, func(p map[string]any) { p["exp"] = 0 }, testSecret, false},
		{"sub as number", map[string]any{"alg": "HS256", "kid": kid}, func(p map[string]any) { p["sub"] = 1 }, testSecret, false},
		{"groups as string", map[string]any{"alg": "HS256", "kid": kid}, func(p map[string]any) { p["groups"] = "admins" }, testSecret, false},
		{"iss missing", map[string]any{"alg": "HS256", "kid": kid}, func(p map[string]any) { delete(p, "iss") }, testSecret, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := basePayload()
			if tc.mod != nil {
				tc.mod(p)
			}
			tok := signRaw(t, tc.header, p, tc.key)
			_, err := f.tokens.Parse(tok)
			if (err == nil) != tc.ok {
				t.Fatalf("Parse err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestKeyRotation: tokens signed with a previous key verify until they
// expire; new tokens use the new key and carry its kid.
func TestKeyRotation(t *testing.T) {
	now := func() time.Time { return testNow }
	old, _ := NewTokens("authgate", otherSecret, nil, now)
	oldTok, _ := old.Sign(claimsFor("alice", "s1"))

	rotated, err := NewTokens("authgate", testSecret, []Secret{otherSecret}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.Parse(oldTok); err != nil {
		t.Fatalf("token under the previous key refused: %v", err)
	}
	newTok, _ := rotated.Sign(claimsFor("alice", "s2"))
	parts := strings.Split(newTok, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if !strings.Contains(string(hdr), `"kid":"`+KeyID(testSecret)+`"`) {
		t.Fatalf("new token header %s does not name the new key", hdr)
	}
	if _, err := old.Parse(newTok); err == nil {
		t.Fatal("old-key-only parser accepted a new-key token")
	}
	// Once the previous key is dropped, its tokens stop working.
	dropped, _ := NewTokens("authgate", testSecret, nil, now)
	if _, err := dropped.Parse(oldTok); err == nil {
		t.Fatal("token under a retired key accepted")
	}
}

type basicStub struct {
	calls  int
	ip     string
	locked bool
}

func (b *basicStub) CheckBasic(_ context.Context, ip, user, pw string) (Identity, bool, error) {
	b.calls++
	b.ip = ip
	if b.locked {
		return Identity{}, false, &LockedError{RetryAfter: 90 * time.Second}
	}
	if user == "ci" && pw == "right password" {
		return Identity{User: "ci", Groups: []string{"builders"}}, true, nil
	}
	return Identity{}, false, nil
}

// TestVerifyBasic: Basic credentials on /verify answer to the same lock as
// /login (429, no identity) and are charged to the peer address, so /verify
// is no unthrottled side door for password guessing. No public advisory is
// cited; this is the brute-force class.
func TestVerifyBasic(t *testing.T) {
	stub := &basicStub{}
	f := newFixture(t, func(c *Config) { c.Basic = stub })
	f.e.IPExtractor = echo.ExtractIPDirect()
	basic := func(u, p string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))}
	}
	w := f.do("GET", "/verify?groups=builders", basic("ci", "right password"))
	if w.Code != 200 || w.Header().Get("Remote-User") != "ci" || w.Header().Get("Remote-Groups") != "builders" {
		t.Fatalf("basic: %d %v", w.Code, w.Header())
	}
	if stub.ip != "127.0.0.1" {
		t.Fatalf("client IP passed to the checker = %q", stub.ip)
	}
	if w := f.do("GET", "/verify", basic("ci", "wrong")); w.Code != 401 {
		t.Fatalf("wrong basic: %d", w.Code)
	}
	if w := f.do("GET", "/verify", map[string]string{"Authorization": "Basic !!!"}); w.Code != 401 {
		t.Fatalf("malformed basic: %d", w.Code)
	}
	stub.locked = true
	w = f.do("GET", "/verify", basic("ci", "right password"))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Remote-User") != "" {
		t.Fatalf("locked: %d", w.Code)
	}
	if ra, _ := strconv.Atoi(w.Header().Get("Retry-After")); ra < 90 || ra > 91 {
		t.Fatalf("Retry-After = %q", w.Header().Get("Retry-After"))
	}
	// nginx and ingress-nginx (X-Original-URL) turn a 429 into a 500: they
	// get 401 with the same Retry-After; Traefik and Caddy keep the 429.
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"nginx", map[string]string{"X-Original-URL": "https://app.example.com/api/x"}, http.StatusUnauthorized},
		{"traefik", map[string]string{"X-Forwarded-Uri": "/api/x", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Proto": "https"}, http.StatusTooManyRequests},
	} {
		hdr := basic("ci", "right password")
		for k, v := range tc.hdr {
			hdr[k] = v
		}
		w := f.do("GET", "/verify", hdr)
		if w.Code != tc.want || w.Header().Get("Remote-User") != "" || w.Header().Get("Retry-After") == "" {
			t.Fatalf("locked behind %s: %d Retry-After %q, want %d", tc.name, w.Code, w.Header().Get("Retry-After"), tc.want)
		}
	}
	// Without a checker, Basic is simply not a credential.
	g := newFixture(t, nil)
	if w := g.do("GET", "/verify", basic("ci", "right password")); w.Code != 401 {
		t.Fatalf("basic without checker: %d", w.Code)
	}
}

// TestDecisionIgnoresOriginalPath: the gate holds no path rules of its own
// (rules ride on the verify URL of each proxy location), so no spelling of
// the original path — encoded dots, double slashes, semicolons, case — can
// change an answer. Guards against path-normalisation bypasses (Traefik
// GHSA-gm3x-23wp-hc2c, CVE-2025-66490). oauth2-proxy's query and fragment
// bypasses (GHSA-7rh7-c77v-6434 / CVE-2025-54576, GHSA-pxq7-h93f-9jrg /
// CVE-2026-41059) have nothing to aim at either, though "?" and "#" are not
// among the spellings tried here.
func TestDecisionIgnoresOriginalPath(t *testing.T) {
	f := newFixture(t, nil)
	dev := f.login(t, "bob", "dev")
	for _, uri := range []string{"/admin", "/public/../admin", "/%2e%2e/admin", "//admin", "/admin;x=1", "/ADMIN", "/public%2f..%2fadmin",
		"/public?/../admin", "/public%3F/../admin", "/public#/../admin", "/public%23/../admin", "/admin?groups=dev", "/admin%00"} {
		hdr := map[string]string{"Authorization": "Bearer " + dev, "X-Forwarded-Uri": uri, "X-Forwarded-Host": "app.example.com", "X-Forwarded-Proto": "https"}
		if w := f.do("GET", "/verify?groups=admins", hdr); w.Code != 403 {
			t.Errorf("%s: %d, want 403", uri, w.Code)
		}
		delete(hdr, "Authorization")
		if w := f.do("GET", "/verify", hdr); w.Code != 401 {
			t.Errorf("%s without credentials: %d, want 401", uri, w.Code)
		}
	}
}

// FuzzVerifyRequest sends arbitrary Authorization, Cookie and forwarded
// headers through the whole /verify handler: it never panics, never answers
// 5xx, and never lets a request through without the one valid token.
func FuzzVerifyRequest(f *testing.F) {
	fx := newFixture(f, nil)
	good := fx.login(f, "alice")
	f.Add("Bearer "+good, "", "/x", "text/html")
	f.Add("", "authgate_session="+good, "/x", "*/*")
	f.Add("Bearer "+good+"x", "authgate_session="+good, "", "")
	f.Add("Basic YTpi", "authgate_session=; authgate_session="+good, "//evil", "text/html")
	f.Add("bearer  "+good, "authgate_session=\""+good+"\"", "/\x00", "")
	f.Fuzz(func(t *testing.T, auth, cookie, uri, accept string) {
		r, _ := http.NewRequest("GET", "/verify", nil)
		r.RemoteAddr = "127.0.0.1:1"
		r.Header = http.Header{"Authorization": {auth}, "Cookie": {cookie}, "X-Forwarded-Uri": {uri},
			"X-Forwarded-Host": {"app.example.com"}, "X-Forwarded-Proto": {"https"}, "Accept": {accept}}
		w := &recorder{h: http.Header{}}
		fx.e.ServeHTTP(w, r)
		switch w.code {
		case 200:
			if w.h.Get("Remote-User") != "alice" || !strings.Contains(auth+cookie, good) {
				t.Fatalf("200 for auth=%q cookie=%q", auth, cookie)
			}
		case 302, 401, 403:
		default:
			t.Fatalf("status %d", w.code)
		}
	})
}

type recorder struct {
	h    http.Header
	code int
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(c int)           { r.code = c }
