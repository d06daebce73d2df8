package verify

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func bearerHdr(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

// TestTokenCacheKeepsEveryLiveRule: a token answered from the cache is
// still subject to logout, expiry and the location's rules.
func TestTokenCacheKeepsEveryLiveRule(t *testing.T) {
	var now atomic.Int64
	now.Store(testNow.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	f := newFixture(t, nil)
	tokens, _ := NewTokens("authgate", testSecret, nil, clock)
	f.tokens = tokens
	f.v = New(Config{Tokens: tokens, Sessions: f.sessions, Trusted: f.v.cfg.Trusted, TokenCacheSize: DefaultTokenCacheSize})
	f.e.Router().Add("GET", "/verify", f.v.Handle)

	tok := f.login(t, "alice", "dev")
	for i := range 3 {
		if w := f.do("GET", "/verify", bearerHdr(tok)); w.Code != 200 || w.Header().Get("Remote-Groups") != "dev" {
			t.Fatalf("request %d: %d %v", i, w.Code, w.Header())
		}
	}
	if f.v.tokens.len() != 1 {
		t.Fatalf("cache holds %d tokens, want 1", f.v.tokens.len())
	}
	t.Run("policy applies to the cached identity", func(t *testing.T) {
		if w := f.do("GET", "/verify?groups=admins", bearerHdr(tok)); w.Code != 403 {
			t.Fatalf("non-member with a cached token: %d, want 403", w.Code)
		}
		if w := f.do("GET", "/verify?groups=dev", bearerHdr(tok)); w.Code != 200 {
			t.Fatalf("member with a cached token: %d", w.Code)
		}
	})
	t.Run("a different string is not the cached token", func(t *testing.T) {
		// The signature's last character carries unused bits: strict
		// decoding refuses any other value, so this is no alias.
		last := tok[len(tok)-1]
		for _, c := range "AEIMQUYcgkosw048" {
			if byte(c) == last {
				continue
			}
			if w := f.do("GET", "/verify", bearerHdr(tok[:len(tok)-1]+string(c))); w.Code != 401 {
				t.Fatalf("token with its last character changed to %c: %d", c, w.Code)
			}
		}
		if w := f.do("GET", "/verify", bearerHdr(tok+"A")); w.Code != 401 {
			t.Fatalf("token with a character appended: %d", w.Code)
		}
	})
	t.Run("expiry is checked on every hit", func(t *testing.T) {
		now.Store(testNow.Add(time.Hour + Leeway + time.Second).UnixNano())
		defer now.Store(testNow.UnixNano())
		if w := f.do("GET", "/verify", bearerHdr(tok)); w.Code != 401 {
			t.Fatalf("expired cached token: %d, want 401", w.Code)
		}
	})
	t.Run("logout takes effect at once", func(t *testing.T) {
		tok := f.login(t, "bob")
		if w := f.do("GET", "/verify", bearerHdr(tok)); w.Code != 200 {
			t.Fatal(w.Code)
		}
		f.sessions.mu.Lock()
		for id, u := range f.sessions.live {
			if u == "bob" {
				delete(f.sessions.live, id)
			}
		}
		f.sessions.mu.Unlock()
		if w := f.do("GET", "/verify", bearerHdr(tok)); w.Code != 401 {
			t.Fatalf("logged-out cached token: %d, want 401", w.Code)
		}
		if w := f.do("GET", "/verify", map[string]string{"Cookie": "authgate_session=" + tok}); w.Code != 401 {
			t.Fatalf("logged-out cached token as a cookie: %d, want 401", w.Code)
		}
	})
}

// TestTokenCacheBounded: refused tokens are never stored, and verified
// ones never exceed the configured size.
func TestTokenCacheBounded(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TokenCacheSize = 128 })
	forger, _ := NewTokens("authgate", otherSecret, nil, func() time.Time { return testNow })
	for i := range 500 {
		forged, _ := forger.Sign(claimsFor("mallory", fmt.Sprint("s", i)))
		if w := f.do("GET", "/verify", bearerHdr(forged)); w.Code != 401 {
			t.Fatalf("forged token: %d", w.Code)
		}
		if w := f.do("GET", "/verify", bearerHdr(strings.Repeat("x", i))); w.Code != 401 {
			t.Fatalf("garbage token: %d", w.Code)
		}
	}
	if n := f.v.tokens.len(); n != 0 {
		t.Fatalf("refused tokens took %d cache entries", n)
	}
	for i := range 1000 {
		tok := f.login(t, fmt.Sprint("u", i))
		if w := f.do("GET", "/verify", bearerHdr(tok)); w.Code != 200 {
			t.Fatalf("token %d: %d", i, w.Code)
		}
	}
	if n := f.v.tokens.len(); n > 128 || n == 0 {
		t.Fatalf("cache holds %d tokens, want 1..128", n)
	}
}

// TestTokenCacheConcurrent runs hits, misses and logouts at once under
// -race; every answer must match the session's state.
func TestTokenCacheConcurrent(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TokenCacheSize = 64 })
	toks := make([]string, 32)
	for i := range toks {
		toks[i] = f.login(t, fmt.Sprint("u", i))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 400 {
				tok := toks[(g*7+i)%len(toks)]
				w := f.do("GET", "/verify", bearerHdr(tok))
				if w.Code != 200 && w.Code != 401 {
					t.Errorf("status %d", w.Code)
					return
				}
				if w.Code == 200 && w.Header().Get("Remote-User") == "" {
					t.Error("200 without Remote-User")
					return
				}
			}
		}()
	}
	// End half the sessions while the readers run.
	f.sessions.mu.Lock()
	n := 0
	for id := range f.sessions.live {
		if n%2 == 0 {
			delete(f.sessions.live, id)
		}
		n++
	}
	f.sessions.mu.Unlock()
	wg.Wait()
	for _, tok := range toks {
		c, _ := f.tokens.Parse(tok)
		f.sessions.mu.Lock()
		_, live := f.sessions.live[c.ID]
		f.sessions.mu.Unlock()
		if w := f.do("GET", "/verify", bearerHdr(tok)); (w.Code == 200) != live {
			t.Fatalf("%s: status %d, session live %v", c.Subject, w.Code, live)
		}
	}
}

func TestTokenCacheStats(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.login(t, "alice")
	for range 3 {
		f.do("GET", "/verify", bearerHdr(tok))
	}
	hits, misses, entries := f.v.TokenCacheStats()
	if hits != 2 || misses != 1 || entries != 1 {
		t.Fatalf("hits %d, misses %d, entries %d; want 2, 1, 1", hits, misses, entries)
	}
	off := newFixture(t, func(c *Config) { c.TokenCacheSize = 0 })
	if h, m, e := off.v.TokenCacheStats(); h != 0 || m != 0 || e != 0 {
		t.Fatalf("no cache: %d %d %d", h, m, e)
	}
}
