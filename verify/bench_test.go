package verify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Benchmarks of /verify through the Echo router, as the gate serves it:
//
//	go test -run '^$' -bench . -benchmem ./verify/
//
// Compare two runs with benchstat. The response writer is reused (net/http
// builds its own per request in production; that is not our cost).

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// liveSessions is a lock-free SessionChecker, so the numbers are the
// verifier's, not a test double's.
type liveSessions struct{ m sync.Map }

func (s *liveSessions) SessionLive(_ context.Context, id, user string) (bool, error) {
	u, ok := s.m.Load(id)
	return ok && u.(string) == user, nil
}

func benchVerifier(b *testing.B, cacheSize int, mods ...func(*Config)) (*fixture, *liveSessions, string) {
	b.Helper()
	ls := &liveSessions{}
	f := newFixture(b, func(c *Config) {
		c.Sessions = ls
		c.TokenCacheSize = cacheSize
		c.Tokens, _ = NewTokens("authgate", testSecret, nil, nil)
		for _, m := range mods {
			m(c)
		}
	})
	f.tokens = f.v.cfg.Tokens
	ls.m.Store("sess-1", "alice")
	c := claimsFor("alice", "sess-1", "admins", "dev")
	c.AMR = []string{MethodPassword, MethodOTP}
	c.IssuedAt.Time = time.Now().Add(-time.Minute)
	c.ExpiresAt.Time = time.Now().Add(time.Hour)
	return f, ls, f.sign(b, c)
}

func runVerify(b *testing.B, f *fixture, r *http.Request, want int) {
	b.Helper()
	b.ReportAllocs()
	w := &discardWriter{h: make(http.Header, 8)}
	f.e.ServeHTTP(w, r) // warm the cache where there is one
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		f.e.ServeHTTP(w, r)
	}
	if w.code != want {
		b.Fatalf("status %d, want %d", w.code, want)
	}
}

func verifyReq(target string, hdr ...string) *http.Request {
	r := httptest.NewRequest("GET", target, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("X-Original-URL", "https://app.example.com/reports?q=1")
	r.Header.Set("X-Original-Method", "GET")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

func BenchmarkVerify(b *testing.B) {
	b.Run("bearer-cache-hit", func(b *testing.B) {
		f, _, tok := benchVerifier(b, DefaultTokenCacheSize)
		runVerify(b, f, verifyReq("/verify", "Authorization", "Bearer "+tok), 200)
	})
	b.Run("bearer-cache-miss", func(b *testing.B) {
		f, _, tok := benchVerifier(b, 0)
		runVerify(b, f, verifyReq("/verify", "Authorization", "Bearer "+tok), 200)
	})
	b.Run("cookie", func(b *testing.B) {
		f, _, tok := benchVerifier(b, DefaultTokenCacheSize)
		runVerify(b, f, verifyReq("/verify", "Cookie", "theme=dark; authgate_session="+tok), 200)
	})
	b.Run("groups-policy", func(b *testing.B) {
		f, _, tok := benchVerifier(b, DefaultTokenCacheSize)
		runVerify(b, f, verifyReq("/verify?groups=admins", "Authorization", "Bearer "+tok), 200)
	})
	b.Run("bearer-cache-hit-assertion", func(b *testing.B) {
		f, _, tok := benchVerifier(b, DefaultTokenCacheSize, func(c *Config) { c.Assertions = newAssertions(b) })
		runVerify(b, f, verifyReq("/verify", "Authorization", "Bearer "+tok), 200)
	})
	b.Run("mfa-policy", func(b *testing.B) {
		f, _, tok := benchVerifier(b, DefaultTokenCacheSize)
		runVerify(b, f, verifyReq("/verify?mfa=1", "Authorization", "Bearer "+tok), 200)
	})
	b.Run("no-credentials", func(b *testing.B) {
		f, _, _ := benchVerifier(b, DefaultTokenCacheSize)
		runVerify(b, f, verifyReq("/verify"), 401)
	})
	b.Run("forged", func(b *testing.B) {
		f, _, _ := benchVerifier(b, DefaultTokenCacheSize)
		forger, _ := NewTokens("authgate", otherSecret, nil, nil)
		c := claimsFor("alice", "sess-1")
		c.IssuedAt.Time = time.Now().Add(-time.Minute)
		c.ExpiresAt.Time = time.Now().Add(time.Hour)
		forged, _ := forger.Sign(c)
		runVerify(b, f, verifyReq("/verify", "Authorization", "Bearer "+forged), 401)
	})
	b.Run("bearer-cache-hit-parallel", func(b *testing.B) {
		f, _, tok := benchVerifier(b, DefaultTokenCacheSize)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := verifyReq("/verify", "Authorization", "Bearer "+tok)
			w := &discardWriter{h: make(http.Header, 8)}
			for pb.Next() {
				clear(w.h)
				f.e.ServeHTTP(w, r)
				if w.code != 200 {
					b.Errorf("status %d", w.code)
					return
				}
			}
		})
	})
}
