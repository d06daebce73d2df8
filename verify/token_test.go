package verify

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokensRoundTrip(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.sign(t, claimsFor("alice", "s1", "admins"))
	c, err := f.tokens.Parse(tok)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Subject != "alice" || c.ID != "s1" || c.Issuer != "authgate" || len(c.Groups) != 1 || c.Groups[0] != "admins" {
		t.Fatalf("claims = %+v", c)
	}
}

// forge builds a token by hand so tests can produce what an attacker would.
func forge(header, payload string, sig []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig)
}

// TestTokensRejectForgeries: alg none, algorithm confusion, a wrong key or
// issuer, bad time claims and tampering are each an error from Parse itself,
// so no caller has to sort a bad signature from an expired token (golang-jwt
// GHSA-29wx-vh33-7x7r, CVE-2024-51744). The "too long" case checks the length
// cap, which guards against allocation while splitting an attacker-sized
// token (golang-jwt GHSA-mh63-6h87-95cp, CVE-2025-30204).
func TestTokensRejectForgeries(t *testing.T) {
	f := newFixture(t, nil)
	valid := f.sign(t, claimsFor("alice", "s1"))
	parts := strings.Split(valid, ".")

	wrongKey, _ := NewTokens("authgate", otherSecret, nil, func() time.Time { return testNow })
	wrongKeyTok, _ := wrongKey.Sign(claimsFor("alice", "s1"))
	otherIssuer, _ := NewTokens("someone-else", testSecret, nil, func() time.Time { return testNow })
	otherIssuerTok, _ := otherIssuer.Sign(claimsFor("alice", "s1"))

	expired := claimsFor("alice", "s1")
	expired.ExpiresAt = jwt.NewNumericDate(testNow.Add(-time.Hour))
	noExp := claimsFor("alice", "s1")
	noExp.ExpiresAt = nil
	futureIat := claimsFor("alice", "s1")
	futureIat.IssuedAt = jwt.NewNumericDate(testNow.Add(time.Hour))
	noJTI := claimsFor("alice", "")
	noSub := claimsFor("", "s1")

	// A token whose payload was edited after signing (alice -> admin).
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), "alice", "admin", 1))) + "." + parts[2]

	kid := KeyID(testSecret)
	body := `{"iss":"authgate","sub":"admin","jti":"s1","iat":1795860000,"exp":1895860000}`
	cases := []struct {
		name string
		tok  string
	}{
		{"alg none", forge(`{"alg":"none","typ":"JWT","kid":"`+kid+`"}`, body, nil)},
		{"alg none upper", forge(`{"alg":"NONE","typ":"JWT","kid":"`+kid+`"}`, body, nil)},
		{"alg HS512", forge(`{"alg":"HS512","typ":"JWT","kid":"`+kid+`"}`, body, []byte("x"))},
		{"alg RS256 confusion", forge(`{"alg":"RS256","typ":"JWT","kid":"`+kid+`"}`, body, []byte("x"))},
		{"wrong key", wrongKeyTok},
		{"wrong issuer", otherIssuerTok},
		{"expired", f.sign(t, expired)},
		{"no exp", f.sign(t, noExp)},
		{"iat in the future", f.sign(t, futureIat)},
		{"no jti", f.sign(t, noJTI)},
		{"no sub", f.sign(t, noSub)},
		{"tampered payload", tampered},
		{"signature stripped", parts[0] + "." + parts[1] + "."},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2]},
		{"two parts", parts[0] + "." + parts[1]},
		{"garbage", "not-a-token"},
		{"empty", ""},
		{"too long", valid + strings.Repeat("A", MaxTokenLength)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := f.tokens.Parse(tc.tok); err == nil {
				t.Fatalf("Parse accepted a forged token: %+v", c)
			}
		})
	}
}

func TestCheckSecret(t *testing.T) {
	cases := []struct {
		secret string
		ok     bool
	}{
		{"short", false},
		{"secret", false},
		{strings.Repeat("a", 40), false},
		{"changemechangemechangemechangeme", false},
		{string(testSecret), true},
	}
	for _, tc := range cases {
		err := CheckSecret([]byte(tc.secret))
		if (err == nil) != tc.ok {
			t.Errorf("CheckSecret(%q) = %v, want ok=%v", tc.secret, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrWeakSecret) {
			t.Errorf("error %v is not ErrWeakSecret", err)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	if s := testSecret.String(); s != "REDACTED" {
		t.Fatalf("String() = %q", s)
	}
}
