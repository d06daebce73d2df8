package assertion

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// TestThumbprintRFC7638 checks the published example of RFC 7638 §3.1.
func TestThumbprintRFC7638(t *testing.T) {
	got := Thumbprint(map[string]string{
		"kty": "RSA", "e": "AQAB",
		"n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
	})
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("thumbprint %s, want %s", got, want)
	}
}

func mustKey(t *testing.T, kind string) *Key {
	t.Helper()
	pemBytes, err := Generate(kind)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(pemBytes), "-----BEGIN PRIVATE KEY-----") {
		t.Fatalf("not PKCS#8 PEM: %s", pemBytes)
	}
	k, err := ParsePEM(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pkcs8(t *testing.T, k any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestParsePEMRefuses(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	for name, data := range map[string][]byte{
		"RSA":          pkcs8(t, rsaKey),
		"EC P-384":     pkcs8(t, p384),
		"SEC1 EC":      pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		"not PEM":      []byte("hello"),
		"broken DER":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"a public key": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParsePEM(data); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := Generate("rsa"); err == nil {
		t.Fatal("Generate(rsa) accepted")
	}
}

// TestJWK: the published key is the signing key's public half, its kid is
// its thumbprint, and it verifies what the key signs.
func TestJWK(t *testing.T) {
	for _, kind := range []string{"ec", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			k := mustKey(t, kind)
			j := k.JWK()
			if j.Use != "sig" || j.Kid == "" || j.X == "" {
				t.Fatalf("JWK %+v", j)
			}
			switch kind {
			case "ec":
				if j.Kty != "EC" || j.Crv != "P-256" || j.Alg != "ES256" || j.Y == "" ||
					j.Kid != Thumbprint(map[string]string{"kty": "EC", "crv": "P-256", "x": j.X, "y": j.Y}) {
					t.Fatalf("JWK %+v", j)
				}
			case "ed25519":
				if j.Kty != "OKP" || j.Crv != "Ed25519" || j.Alg != "EdDSA" || j.Y != "" ||
					j.Kid != Thumbprint(map[string]string{"kty": "OKP", "crv": "Ed25519", "x": j.X}) {
					t.Fatalf("JWK %+v", j)
				}
			}
		})
	}
}

// publicKey rebuilds a verification key from a JWK, as an application
// does from the JWKS.
func publicKey(t *testing.T, j JWK) any {
	t.Helper()
	d := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if j.Kty == "OKP" {
		return ed25519.PublicKey(d(j.X))
	}
	return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(d(j.X)), Y: new(big.Int).SetBytes(d(j.Y))}
}

// verifyWithJWKS checks an assertion against a JWKS document: the kid
// picks the key, the key's alg is the only one accepted.
func verifyWithJWKS(t *testing.T, jwks []byte, tok string, now time.Time) (*Claims, *jwt.Token) {
	t.Helper()
	var doc struct{ Keys []JWK }
	if err := json.Unmarshal(jwks, &doc); err != nil {
		t.Fatal(err)
	}
	var c Claims
	parsed, err := jwt.ParseWithClaims(tok, &c, func(tk *jwt.Token) (any, error) {
		for _, k := range doc.Keys {
			if k.Kid == tk.Header["kid"] && k.Alg == tk.Method.Alg() {
				return publicKey(t, k), nil
			}
		}
		return nil, jwt.ErrTokenUnverifiable
	}, jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("assertion does not verify with the JWKS: %v", err)
	}
	return &c, parsed
}

func TestAssertClaims(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, kind := range []string{"ec", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			k := mustKey(t, kind)
			iss, err := New(Config{Key: k, Issuer: "authgate"})
			if err != nil {
				t.Fatal(err)
			}
			hv, err := iss.Assert(Subject{User: "alice", Name: "Alice", Email: "a@example.com", Groups: []string{"admins"}, AMR: []string{"pwd", "otp"}, Session: "sess-1"}, "https", "app.example.com", now)
			if err != nil || len(hv) != 1 {
				t.Fatal(err)
			}
			c, tok := verifyWithJWKS(t, iss.JWKS(), hv[0], now.Add(time.Second))
			if tok.Header["typ"] != "JWT" || tok.Header["kid"] != k.Kid() || tok.Header["alg"] != k.JWK().Alg {
				t.Errorf("header %v", tok.Header)
			}
			if c.Issuer != "authgate" || c.Subject != "alice" || c.Aud != "https://app.example.com" || c.Name != "Alice" ||
				c.Email != "a@example.com" || len(c.Groups) != 1 || c.SID != SessionHash("sess-1") || len(c.SID) != 32 ||
				strings.Contains(hv[0], "sess-1") || len(c.AMR) != 2 || c.ID == "" {
				t.Errorf("claims %+v", c)
			}
			if !c.IssuedAt.Equal(now) || !c.NotBefore.Equal(now) || !c.ExpiresAt.Equal(now.Add(DefaultTTL)) {
				t.Errorf("times iat %v nbf %v exp %v", c.IssuedAt, c.NotBefore, c.ExpiresAt)
			}
			// aud is one string, not an array.
			payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(hv[0], ".")[1])
			if !strings.Contains(string(payload), `"aud":"https://app.example.com"`) {
				t.Errorf("payload %s", payload)
			}
		})
	}
	t.Run("basic credentials: no sid, groups always an array", func(t *testing.T) {
		iss, _ := New(Config{Key: mustKey(t, "ec"), Issuer: "authgate"})
		hv, _ := iss.Assert(Subject{User: "ci"}, "https", "app.example.com", now)
		payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(hv[0], ".")[1])
		if strings.Contains(string(payload), `"sid"`) || !strings.Contains(string(payload), `"groups":[]`) ||
			!strings.Contains(string(payload), `"name":""`) || !strings.Contains(string(payload), `"email":""`) {
			t.Errorf("payload %s", payload)
		}
	})
}

// TestAssertCache: an assertion is reused until half its lifetime has
// passed, per session and audience; Forget drops a session's.
func TestAssertCache(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	iss, _ := New(Config{Key: mustKey(t, "ed25519"), Issuer: "authgate", TTL: time.Minute})
	s := Subject{User: "alice", Session: "sess-1"}
	a1, _ := iss.Assert(s, "https", "app.example.com", now)
	if a2, _ := iss.Assert(s, "https", "app.example.com", now.Add(29*time.Second)); a2[0] != a1[0] {
		t.Fatal("re-signed before half the lifetime")
	}
	if b, _ := iss.Assert(s, "https", "wiki.example.com", now); b[0] == a1[0] {
		t.Fatal("one assertion for two audiences")
	}
	if a3, _ := iss.Assert(s, "https", "app.example.com", now.Add(31*time.Second)); a3[0] == a1[0] {
		t.Fatal("not re-signed after half the lifetime")
	}
	iss.Forget("sess-1")
	if iss.Len() != 0 {
		t.Fatalf("%d cached after Forget", iss.Len())
	}
	// Basic identities are cached under the whole identity.
	b1, _ := iss.Assert(Subject{User: "ci", Groups: []string{"a"}}, "https", "app.example.com", now)
	if b2, _ := iss.Assert(Subject{User: "ci", Groups: []string{"a", "b"}}, "https", "app.example.com", now); b2[0] == b1[0] {
		t.Fatal("a changed identity got the old assertion")
	}
}

func TestTTLBounds(t *testing.T) {
	k := mustKey(t, "ec")
	for ttl, ok := range map[time.Duration]bool{0: true, time.Second: false, 5 * time.Minute: true, 5*time.Minute + time.Second: false, 30 * time.Second: true} {
		if _, err := New(Config{Key: k, TTL: ttl}); (err == nil) != ok {
			t.Errorf("TTL %s: err %v", ttl, err)
		}
	}
}

// TestRotation: a key moved to previous is still published, after the
// current one, so assertions it signed before the swap still verify.
func TestRotation(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	oldKey, newKey := mustKey(t, "ec"), mustKey(t, "ed25519")
	before, _ := New(Config{Key: oldKey, Issuer: "authgate"})
	hv, _ := before.Assert(Subject{User: "alice", Session: "s"}, "https", "app.example.com", now)
	after, _ := New(Config{Key: newKey, Previous: oldKey, Issuer: "authgate"})
	var doc struct{ Keys []JWK }
	_ = json.Unmarshal(after.JWKS(), &doc)
	if len(doc.Keys) != 2 || doc.Keys[0].Kid != newKey.Kid() || doc.Keys[1].Kid != oldKey.Kid() {
		t.Fatalf("JWKS %s", after.JWKS())
	}
	verifyWithJWKS(t, after.JWKS(), hv[0], now)
	// And as a kept library reads the document.
	kf, err := keyfunc.NewJWKSetJSON(after.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{hv[0]} {
		if _, err := jwt.Parse(tok, kf.Keyfunc, jwt.WithTimeFunc(func() time.Time { return now })); err != nil {
			t.Fatalf("keyfunc: the previous key's assertion does not verify: %v", err)
		}
	}
	fresh, _ := after.Assert(Subject{User: "alice", Session: "s"}, "https", "app.example.com", now)
	if _, tok := verifyWithJWKS(t, after.JWKS(), fresh[0], now); tok.Header["kid"] != newKey.Kid() {
		t.Fatal("new assertions are not signed by the current key")
	}
}

func TestAudience(t *testing.T) {
	for in, want := range map[[2]string]string{
		{"https", "app.example.com"}:      "https://app.example.com",
		{"https", "App.Example.com:443"}:  "https://app.example.com",
		{"https", "app.example.com:8443"}: "https://app.example.com:8443",
		{"http", "app.example.com:80"}:    "http://app.example.com",
		{"http", "app.example.com:443"}:   "http://app.example.com:443",
		{"", "app.example.com"}:           "",
		{"https", ""}:                     "",
	} {
		if got := Audience(in[0], in[1]); got != want {
			t.Errorf("Audience(%q, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
}

func BenchmarkAssertCached(b *testing.B) {
	k, _ := ParsePEM(must(Generate("ec")))
	iss, _ := New(Config{Key: k, Issuer: "authgate"})
	now := time.Now()
	s := Subject{User: "alice", Session: "sess-1", Groups: []string{"a"}}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = iss.Assert(s, "https", "app.example.com", now)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// BenchmarkAssertSign is a cache miss: one signature per call.
func BenchmarkAssertSign(b *testing.B) {
	for _, kind := range []string{"ec", "ed25519"} {
		b.Run(kind, func(b *testing.B) {
			k, _ := ParsePEM(must(Generate(kind)))
			iss, _ := New(Config{Key: k, Issuer: "authgate"})
			s := Subject{User: "alice", Session: "sess-1", Groups: []string{"a"}}
			b.ReportAllocs()
			for b.Loop() {
				_, _ = iss.sign(s, "https://app.example.com", time.Now())
			}
		})
	}
}
