package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/verify"
)

// Brute force and credential stuffing: these tests walk through each way
// around the login limiter (another spelling of the name, many names from
// one address, Basic credentials, a full table).

// TestLimiterLocksAfterMaxFailures: a name locks after its failures whatever
// address the guesses came from, and locks no other name.
func TestLimiterLocksAfterMaxFailures(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(Regulation{MaxFailures: 3, MaxFailuresPerIP: 100, Window: 10 * time.Minute, BanTime: 15 * time.Minute}, func() time.Time { return now })
	for i := 0; i < 2; i++ {
		l.Fail("alice", "10.0.0.1")
		if l.Locked("alice", "10.0.0.2") != 0 {
			t.Fatalf("locked after %d failures", i+1)
		}
	}
	l.Fail("alice", "10.0.0.1")
	if got := l.Locked("alice", "10.0.0.2"); got != 15*time.Minute {
		t.Fatalf("after 3 failures: locked for %v, want 15m (from any address)", got)
	}
	if l.Locked("bob", "10.0.0.2") != 0 {
		t.Fatal("another user is locked")
	}
	now = now.Add(15*time.Minute + time.Second)
	if l.Locked("alice", "10.0.0.2") != 0 {
		t.Fatal("still locked after the ban time")
	}
}

func TestLimiterWindowForgets(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(Regulation{MaxFailures: 3, MaxFailuresPerIP: 100, Window: 10 * time.Minute, BanTime: time.Minute}, func() time.Time { return now })
	l.Fail("alice", "")
	l.Fail("alice", "")
	now = now.Add(11 * time.Minute)
	l.Fail("alice", "")
	if l.Locked("alice", "") != 0 {
		t.Fatal("failures outside the window counted")
	}
}

// TestLimiterPerIP: a spray of names locks the address it came from and no
// other, so bogus names cannot lock out everyone (tinyauth
// GHSA-9xhm-w3wj-xhqh, CVE-2026-77561).
func TestLimiterPerIP(t *testing.T) {
	l := NewLimiter(Regulation{MaxFailures: 100, MaxFailuresPerIP: 4, Window: time.Minute, BanTime: time.Minute}, nil)
	for i := 0; i < 4; i++ {
		l.Fail(fmt.Sprintf("user%d", i), "203.0.113.7") // spraying many names
	}
	if l.Locked("fresh", "203.0.113.7") == 0 {
		t.Fatal("address not locked after spraying names")
	}
	if l.Locked("fresh", "203.0.113.8") != 0 {
		t.Fatal("another address is locked")
	}
}

// TestLimiterSuccessResetsOnlyTheName: one account the attacker owns cannot
// wipe the address's count of guesses at others. No public advisory cited.
func TestLimiterSuccessResetsOnlyTheName(t *testing.T) {
	l := NewLimiter(Regulation{MaxFailures: 3, MaxFailuresPerIP: 3, Window: time.Minute, BanTime: time.Minute}, nil)
	l.Fail("alice", "1.1.1.1")
	l.Fail("alice", "1.1.1.1")
	l.Succeed("alice")
	l.Fail("alice", "2.2.2.2")
	if l.Locked("alice", "") != 0 {
		t.Fatal("name failures survived a success")
	}
	l.Fail("bob", "1.1.1.1")
	if l.Locked("", "1.1.1.1") == 0 {
		t.Fatal("a success laundered the address's failures")
	}
}

// TestLimiterBoundedMemory: memory stays bounded however many names are
// tried. This checks only the bound; what a full table must not do is lock
// everyone out, as tinyauth's did (GHSA-9xhm-w3wj-xhqh, CVE-2026-77561).
func TestLimiterBoundedMemory(t *testing.T) {
	l := NewLimiter(Regulation{MaxFailures: 5, MaxFailuresPerIP: 1000, Window: time.Hour, BanTime: time.Hour, MaxEntries: 1000}, nil)
	for i := 0; i < 50_000; i++ {
		l.Fail(fmt.Sprintf("name%d", i), "")
	}
	if n := l.Len(); n > 1000 {
		t.Fatalf("%d entries tracked, cap is 1000", n)
	}
}

func regulated(mod func(*Config)) func(*Config) {
	return func(c *Config) {
		c.Limiter = NewLimiter(Regulation{MaxFailures: 3, MaxFailuresPerIP: 50, Window: 10 * time.Minute, BanTime: 15 * time.Minute}, nil)
		if mod != nil {
			mod(c)
		}
	}
}

// TestLoginLockout: failures are counted per canonical name, so other
// spellings of one account share its lock. Guards against one account being
// counted under two names, which doubled Authelia's attempt budget
// (GHSA-m5mf-3963-4x26, CVE-2025-24806).
func TestLoginLockout(t *testing.T) {
	f := newFixture(t, regulated(nil))
	f.register(t, "alice", "correct horse battery")
	for i := 0; i < 3; i++ {
		if w := f.do("POST", "/login", "application/json", `{"username":"alice","password":"guess`+strconv.Itoa(i)+`xx"}`, nil); w.Code != 401 {
			t.Fatalf("guess %d: %d", i, w.Code)
		}
	}
	// Locked now, even with the right password and another spelling of
	// the name (the counter is per canonical name).
	for _, name := range []string{"alice", "ALICE", "ａｌｉｃｅ"} {
		w := f.do("POST", "/login", "application/json", `{"username":"`+name+`","password":"correct horse battery"}`, nil)
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("%s with the right password while locked: %d", name, w.Code)
		}
		ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
		if err != nil || ra < 890 || ra > 901 {
			t.Fatalf("Retry-After = %q", w.Header().Get("Retry-After"))
		}
		if len(w.Result().Cookies()) != 0 {
			t.Fatal("locked login set a cookie")
		}
	}
	// Basic credentials at /login go through the same regulation.
	if w := f.do("POST", "/login", "", "", map[string]string{"Authorization": basic("alice", "correct horse battery")}); w.Code != 429 {
		t.Fatalf("basic while locked: %d", w.Code)
	}
	// The form shows a message people understand.
	w := f.do("POST", "/login", "application/x-www-form-urlencoded", url.Values{"username": {"alice"}, "password": {"correct horse battery"}}.Encode(), nil)
	if w.Code != 429 || !strings.Contains(w.Body.String(), "too many failed attempts; try again in 15 minutes") {
		t.Fatalf("form while locked: %d %s", w.Code, w.Body)
	}
	// Unknown names lock the same way, so a lock reveals nothing.
	for i := 0; i < 3; i++ {
		f.do("POST", "/login", "application/json", `{"username":"nobody","password":"guess guess"}`, nil)
	}
	if w := f.do("POST", "/login", "application/json", `{"username":"nobody","password":"guess guess"}`, nil); w.Code != 429 {
		t.Fatalf("unknown name after failures: %d", w.Code)
	}
}

// TestCheckBasic drives CheckBasic as /verify does: the credential cache
// never answers for a wrong password and never skips the lock, so Basic on
// /verify is no way around regulation. No public advisory cited.
func TestCheckBasic(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, regulated(func(c *Config) { c.BasicCacheTTL = time.Minute }))
	f.register(t, "ci", "correct horse battery")

	id, ok, err := f.svc.CheckBasic(ctx, "10.0.0.1", "CI", "correct horse battery")
	if err != nil || !ok || id.User != "ci" {
		t.Fatalf("right password: %+v %v %v", id, ok, err)
	}
	// Served from the cache: no hash is computed even with every hashing
	// slot taken (a real hash would block until ctx ends).
	for i := 0; i < cap(f.svc.cfg.Hasher.sem); i++ {
		f.svc.cfg.Hasher.sem <- struct{}{}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if _, ok, err := f.svc.CheckBasic(short, "10.0.0.1", "ci", "correct horse battery"); !ok || err != nil {
		t.Fatalf("cached credentials not served from the cache: %v %v", ok, err)
	}
	// A wrong password is never served from the cache: it needs a hash,
	// which cannot run now.
	if _, ok, _ := f.svc.CheckBasic(short, "10.0.0.1", "ci", "wrong password"); ok {
		t.Fatal("wrong password accepted")
	}
	cancel()
	for i := 0; i < cap(f.svc.cfg.Hasher.sem); i++ {
		<-f.svc.cfg.Hasher.sem
	}

	// A password change takes effect at once.
	u, _ := f.store.User(ctx, "ci")
	newHash, _ := f.svc.cfg.Hasher.Hash(ctx, "a brand new secret")
	u.Hash = newHash
	_ = f.store.UpdateUser(ctx, u)
	if _, ok, _ := f.svc.CheckBasic(ctx, "10.0.0.1", "ci", "correct horse battery"); ok {
		t.Fatal("old password served from the cache after a change")
	}
	if _, ok, _ := f.svc.CheckBasic(ctx, "10.0.0.1", "ci", "a brand new secret"); !ok {
		t.Fatal("new password refused")
	}

	// Regulation: after the failures, even cached right credentials get
	// a lock.
	for i := 0; i < 3; i++ {
		f.svc.CheckBasic(ctx, "10.0.0.1", "ci", "bad"+strconv.Itoa(i))
	}
	_, ok, err = f.svc.CheckBasic(ctx, "10.0.0.1", "ci", "a brand new secret")
	var locked *verify.LockedError
	if ok || err == nil || !asLocked(err, &locked) || locked.RetryAfter <= 0 {
		t.Fatalf("locked account: ok=%v err=%v", ok, err)
	}
}

func asLocked(err error, target **verify.LockedError) bool {
	l, ok := err.(*verify.LockedError)
	if ok {
		*target = l
	}
	return ok
}

func TestLoginExpiresIn(t *testing.T) {
	f := newFixture(t, nil)
	f.register(t, "alice", "correct horse battery")
	w := f.do("POST", "/login", "application/json", `{"username":"alice","password":"correct horse battery"}`, nil)
	var resp map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &resp)
	if resp["expires_in"] != float64(3600) {
		t.Fatalf("expires_in = %v", resp["expires_in"])
	}
}
