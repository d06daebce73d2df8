package verify

import (
	"errors"
	"sync"
	"testing"
	"time"
)

type seen struct {
	code   int
	reason Reason
}

type observed struct {
	mu  sync.Mutex
	all []seen
}

func (r *observed) Verified(code int, reason Reason, elapsed time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if elapsed < 0 {
		panic("negative duration")
	}
	r.all = append(r.all, seen{code, reason})
}

func (r *observed) last() seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all[len(r.all)-1]
}

// TestObserverSeesEveryAnswer: each way out of /verify reports its status
// and one reason of the fixed set.
func TestObserverSeesEveryAnswer(t *testing.T) {
	rec := &observed{}
	stub := &basicStub{}
	f := newFixture(t, func(c *Config) {
		withRules(t, rulesFile)(c)
		c.Observer = rec
		c.Basic = stub
	})
	staff := "Bearer " + f.login(t, "bob", "staff")
	ended := f.login(t, "carol")
	f.sessions.mu.Lock()
	for id, u := range f.sessions.live {
		if u == "carol" {
			delete(f.sessions.live, id)
		}
	}
	f.sessions.mu.Unlock()
	nav := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/x", "Accept": "text/html"}
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want seen
	}{
		{"ok", with(original("https://app.example.com/x"), "Authorization", staff), seen{200, ReasonOK}},
		{"public", original("https://app.example.com/public/a"), seen{200, ReasonPublic}},
		{"no credentials", original("https://app.example.com/x"), seen{401, ReasonNoCredentials}},
		{"redirect", nav, seen{302, ReasonNoCredentials}},
		{"bad token", with(original("https://app.example.com/x"), "Authorization", "Bearer garbage"), seen{401, ReasonBadToken}},
		{"session ended", with(original("https://app.example.com/x"), "Authorization", "Bearer "+ended), seen{401, ReasonSessionEnded}},
		{"bad basic", with(original("https://app.example.com/x"), "Authorization", "Basic !!!"), seen{401, ReasonBadCredentials}},
		{"rule denied", with(original("https://old.example.com/"), "Authorization", staff), seen{403, ReasonRuleDenied}},
		{"groups", with(original("https://app.example.com/admin/x"), "Authorization", staff), seen{403, ReasonGroups}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.do("GET", "/verify", tc.hdr)
			if got := rec.last(); got != tc.want {
				t.Fatalf("observed %d %s, want %d %s", got.code, got.reason, tc.want.code, tc.want.reason)
			}
		})
	}
	t.Run("users", func(t *testing.T) {
		f.do("GET", "/verify?users=alice", with(original("https://app.example.com/x"), "Authorization", staff))
		if got := rec.last(); got != (seen{403, ReasonUsers}) {
			t.Fatalf("observed %d %s", got.code, got.reason)
		}
	})
	t.Run("locked", func(t *testing.T) {
		stub.locked = true
		defer func() { stub.locked = false }()
		f.do("GET", "/verify", with(original("https://app.example.com/x"), "Authorization", "Basic Y2k6cHc="))
		if got := rec.last(); got != (seen{401, ReasonLocked}) { // nginx-style caller: 401 with Retry-After
			t.Fatalf("observed %d %s", got.code, got.reason)
		}
	})
	t.Run("store error", func(t *testing.T) {
		f.sessions.mu.Lock()
		f.sessions.err = errors.New("down")
		f.sessions.mu.Unlock()
		defer func() { f.sessions.mu.Lock(); f.sessions.err = nil; f.sessions.mu.Unlock() }()
		f.do("GET", "/verify", with(original("https://app.example.com/x"), "Authorization", staff))
		if got := rec.last(); got != (seen{401, ReasonStoreError}) {
			t.Fatalf("observed %d %s", got.code, got.reason)
		}
	})
	for _, r := range Reasons() {
		if r.String() == "" || (r != ReasonInternal && r.String() == "internal") {
			t.Fatalf("reason %d has no name", r)
		}
	}
}

type panickingObserver struct{}

func (panickingObserver) Verified(int, Reason, time.Duration) { panic("observer broke") }

// TestPanicWhileReporting: /verify runs without Echo's recover, so a
// panic after the decision (here in the observer) is caught by Handle
// itself: the request keeps its answer, or gets a 401, and the panic
// never reaches net/http (which would drop the connection: a 502 for
// the proxy).
func TestPanicWhileReporting(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Observer = panickingObserver{} })
	tok := f.login(t, "alice")
	if w := f.do("GET", "/verify", map[string]string{"Authorization": "Bearer " + tok}); w.Code != 200 {
		t.Errorf("allowed request with a broken observer: %d", w.Code)
	}
	if w := f.do("GET", "/verify", nil); w.Code != 401 {
		t.Errorf("refused request with a broken observer: %d", w.Code)
	}
}
