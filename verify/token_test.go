package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

// TestSecretNeverLogs logs a configuration holding secrets through both of
// slog's handlers, as an attribute, inside a struct and as a list: the
// key's bytes appear in no form (raw, hex, base64). A LogValue method
// returning string instead of slog.Value is not a slog.LogValuer, and the
// text handler printed the key in clear, the JSON one in base64.
func TestSecretNeverLogs(t *testing.T) {
	type config struct {
		Listen   string
		Secret   Secret
		Previous []Secret
	}
	cfg := config{Listen: ":8080", Secret: testSecret, Previous: []Secret{otherSecret}}
	for _, h := range []struct {
		name string
		new  func(io.Writer) slog.Handler
	}{
		{"text", func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) }},
		{"json", func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) }},
	} {
		t.Run(h.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(h.new(&buf))
			log.Info("config", "config", cfg)
			log.Info("secret", "secret", testSecret, "previous", cfg.Previous)
			log.Info("group", slog.Group("g", "secret", testSecret))
			log.Info("formatted", "v", fmt.Sprintf("%v %+v %#v %s", cfg, cfg, testSecret, testSecret))
			out := buf.String()
			for _, s := range []Secret{testSecret, otherSecret} {
				for _, form := range []string{string(s), hex.EncodeToString(s), base64.StdEncoding.EncodeToString(s), base64.RawURLEncoding.EncodeToString(s)} {
					if strings.Contains(out, form) {
						t.Fatalf("a secret appears in the log:\n%s", out)
					}
				}
			}
			if !strings.Contains(out, "REDACTED") {
				t.Fatalf("secrets not shown as REDACTED:\n%s", out)
			}
		})
	}
}

// TestIssue: the token of a session carries its identity, session and
// times, and reads back as it was issued.
func TestIssue(t *testing.T) {
	tokens, _ := NewTokens("authgate", testSecret, nil, func() time.Time { return testNow })
	id := Identity{User: "alice", Email: "alice@example.com", Name: "Alice", Groups: []string{"admins", "dev"}}
	raw, err := tokens.Issue("sess-1", id, []string{MethodPassword, MethodOTP}, testNow.Add(-time.Minute+time.Millisecond*300), testNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tokens.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.ID != "sess-1" || c.Email != id.Email || c.Name != id.Name || strings.Join(c.Groups, ",") != "admins,dev" || c.Issuer != "authgate" || strings.Join(c.AMR, ",") != "pwd,otp" {
		t.Fatalf("claims %+v", c)
	}
	if !c.IssuedAt.Equal(testNow.Add(-time.Minute)) || !c.ExpiresAt.Equal(testNow.Add(time.Hour)) {
		t.Fatalf("times %v %v: want whole seconds", c.IssuedAt, c.ExpiresAt)
	}
	if s, err := tokens.SessionOf(raw); err != nil || s != "sess-1" {
		t.Fatalf("SessionOf = %q, %v", s, err)
	}
	if _, err := tokens.SessionOf(raw + "x"); err == nil {
		t.Fatal("SessionOf accepted a forged token")
	}
	for _, bad := range []struct{ session, user string }{{"", "alice"}, {"s", ""}} {
		if _, err := tokens.Issue(bad.session, Identity{User: bad.user}, nil, testNow, testNow.Add(time.Hour)); err == nil {
			t.Fatalf("issued a token without session or user: %+v", bad)
		}
	}
}

// FuzzTokenParse: arbitrary strings in the token slot never panic and are
// never accepted (the fuzzer cannot know the key).
func FuzzTokenParse(f *testing.F) {
	tokens, _ := NewTokens("authgate", testSecret, nil, nil)
	c := claimsFor("alice", "s1")
	c.IssuedAt = jwt.NewNumericDate(time.Now())
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	good, _ := tokens.Sign(c)
	if _, err := tokens.Parse(good); err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		claims, err := tokens.Parse(raw)
		if err == nil && raw != good {
			// A different string decoding to a valid token would break the
			// one-string-one-token rule the token cache relies on.
			t.Fatalf("accepted %q as %+v", raw, claims)
		}
	})
}
