package verify

import (
	"context"
	"errors"
	"github.com/authgate/authgate/verify/forwarded"
	"github.com/authgate/authgate/verify/redirect"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
)

var (
	testSecret  = Secret("k7Vq3xZ9pL2mN8rT4wY6bC1dF5gH0jS9")
	otherSecret = Secret("Q2w9E4r7T1y8U3i6O5p0A2s4D6f8G1h3")
	testNow     = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
)

// sessions is a SessionChecker backed by a map, with an injectable error.
type sessions struct {
	mu   sync.Mutex
	live map[string]string // id -> user
	err  error
}

func (s *sessions) SessionLive(_ context.Context, id, user string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false, s.err
	}
	u, ok := s.live[id]
	return ok && u == user, nil
}

type fixture struct {
	tokens   *Tokens
	sessions *sessions
	v        *Verifier
	e        *echo.Echo
}

func newFixture(tb testing.TB, mod func(*Config)) *fixture {
	tb.Helper()
	tokens, err := NewTokens("authgate", testSecret, nil, func() time.Time { return testNow })
	if err != nil {
		tb.Fatal(err)
	}
	s := &sessions{live: map[string]string{}}
	trusted, _ := forwarded.ParseTrustedProxies(forwarded.DefaultTrustedProxies)
	cfg := Config{
		Tokens:   tokens,
		Sessions: s,
		LoginURL: "https://auth.example.com/login",
		Domains:  redirect.Domains{"example.com"},
		Trusted:  trusted,
		// As the gate is wired: the cache is on unless a test turns it off.
		TokenCacheSize: DefaultTokenCacheSize,
	}
	if mod != nil {
		mod(&cfg)
	}
	v := New(cfg)
	e := echo.New()
	e.Any("/verify", v.Handle)
	return &fixture{tokens: tokens, sessions: s, v: v, e: e}
}

// login mints a token for user with a live session and returns it.
func (f *fixture) login(tb testing.TB, user string, groups ...string) string {
	tb.Helper()
	id := "sess-" + user + "-" + time.Now().Format("150405.000000000")
	f.sessions.mu.Lock()
	f.sessions.live[id] = user
	f.sessions.mu.Unlock()
	return f.sign(tb, claimsFor(user, id, groups...))
}

func claimsFor(user, id string, groups ...string) Claims {
	c := Claims{Email: user + "@example.com", Name: "Name of " + user, Groups: groups}
	c.Subject = user
	c.ID = id
	c.IssuedAt = jwt.NewNumericDate(testNow.Add(-time.Minute))
	c.ExpiresAt = jwt.NewNumericDate(testNow.Add(time.Hour))
	return c
}

func (f *fixture) sign(tb testing.TB, c Claims) string {
	tb.Helper()
	tok, err := f.tokens.Sign(c)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func (f *fixture) do(method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	return f.doFrom("127.0.0.1:40000", method, target, hdr)
}

// doFrom sends a request from peer.
func (f *fixture) doFrom(peer, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = peer
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.e.ServeHTTP(w, r)
	return w
}

var errStoreDown = errors.New("store down")

var _ http.Handler = (*echo.Echo)(nil)
