package accounts_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/verify"
)

// TestCheckBasic drives CheckBasic as /verify does: the credential cache
// never answers for a wrong password and never skips the lock, so Basic on
// /verify is no way around regulation. No public advisory cited.
func TestCheckBasic(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f := newService(t, func(c *accounts.Config) {
		c.BasicCacheTTL = time.Minute
		c.Now = func() time.Time { return now }
	})
	if _, err := f.svc.Register(ctx, accounts.Registration{Username: "ci", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}

	id, ok, err := f.svc.CheckBasic(ctx, "10.0.0.1", "CI", "correct horse battery")
	if err != nil || !ok || id.User != "ci" {
		t.Fatalf("right password: %+v %v %v", id, ok, err)
	}
	// Served from the cache: no password is checked.
	checked := f.hasher.Checked()
	if _, ok, err := f.svc.CheckBasic(ctx, "10.0.0.1", "ci", "correct horse battery"); !ok || err != nil {
		t.Fatalf("cached credentials: %v %v", ok, err)
	}
	if f.hasher.Checked() != checked {
		t.Fatal("cached credentials were hashed again")
	}
	// A wrong password is never served from the cache.
	if _, ok, _ := f.svc.CheckBasic(ctx, "10.0.0.1", "ci", "wrong password"); ok || f.hasher.Checked() != checked+1 {
		t.Fatalf("wrong password: ok=%v, %d checks", ok, f.hasher.Checked()-checked)
	}
	// The entry ends with its time to live.
	now = now.Add(time.Minute)
	checked = f.hasher.Checked()
	if _, ok, _ := f.svc.CheckBasic(ctx, "10.0.0.1", "ci", "correct horse battery"); !ok || f.hasher.Checked() != checked+1 {
		t.Fatalf("after the TTL: ok=%v, %d checks (want a fresh check)", ok, f.hasher.Checked()-checked)
	}

	// A password change takes effect at once.
	if err := f.svc.SetPassword(ctx, "ci", "a brand new secret"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := f.svc.CheckBasic(ctx, "10.0.0.1", "ci", "correct horse battery"); ok {
		t.Fatal("old password served from the cache after a change")
	}
	if _, ok, _ := f.svc.CheckBasic(ctx, "10.0.0.1", "ci", "a brand new secret"); !ok {
		t.Fatal("new password refused")
	}

	// Regulation: after the failures, even cached right credentials get
	// a lock.
	for i := range testRegulation.MaxFailures {
		_, _, _ = f.svc.CheckBasic(ctx, "10.0.0.1", "ci", "bad"+strconv.Itoa(i))
	}
	_, ok, err = f.svc.CheckBasic(ctx, "10.0.0.1", "ci", "a brand new secret")
	var locked *verify.LockedError
	if ok || !errors.As(err, &locked) || locked.RetryAfter <= 0 {
		t.Fatalf("locked account: ok=%v err=%v", ok, err)
	}
	// An invalid name is refused and still charged to the address.
	if _, ok, err := f.svc.CheckBasic(ctx, "10.0.0.9", "a b", "whatever pw"); ok || err != nil {
		t.Fatalf("invalid name: %v %v", ok, err)
	}
}

// TestCheckBasicCacheHitsDoNotClearFailures: a client whose credentials
// are cached must not wipe the failures an attacker piles up on the same
// name between its requests, or the attacker would get fresh guesses
// after each of them.
func TestCheckBasicCacheHitsDoNotClearFailures(t *testing.T) {
	ctx := context.Background()
	f := newService(t, nil)
	if _, err := f.svc.Register(ctx, accounts.Registration{Username: "ci", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := f.svc.CheckBasic(ctx, "10.0.0.1", "ci", "correct horse battery"); !ok {
		t.Fatal("right password refused")
	}
	for i := range testRegulation.MaxFailures {
		_, _, _ = f.svc.CheckBasic(ctx, "203.0.113.5", "ci", "guess"+strconv.Itoa(i))
		_, _, _ = f.svc.CheckBasic(ctx, "10.0.0.1", "ci", "correct horse battery") // cached
	}
	if _, _, err := f.svc.SignIn(ctx, "203.0.113.5", accounts.Credentials{Username: "ci", Password: "one more guess"}); accounts.ErrorCode(err) != accounts.Locked {
		t.Fatalf("after %d failures interleaved with cache hits: %v, want locked", testRegulation.MaxFailures, err)
	}
}

// TestCheckBasicIdentityIsCurrent: cached Basic credentials answer with
// the account as the store has it now. A groups change took effect for
// tokens at once but not for cached Basic credentials, which kept
// Remote-Groups: admins for up to AUTHGATE_BASIC_CACHE_TTL.
func TestCheckBasicIdentityIsCurrent(t *testing.T) {
	ctx := context.Background()
	f := newService(t, nil)
	if _, err := f.svc.AddUser(ctx, accounts.Registration{Username: "bob", Password: "correct horse battery", Email: "bob@example.com"}, []string{"admins"}); err != nil {
		t.Fatal(err)
	}
	if id, ok, _ := f.svc.CheckBasic(ctx, "10.0.0.1", "bob", "correct horse battery"); !ok || strings.Join(id.Groups, ",") != "admins" {
		t.Fatalf("first check: %+v %v", id, ok)
	}
	if err := f.svc.SetGroups(ctx, "bob", nil); err != nil {
		t.Fatal(err)
	}
	checked := f.hasher.Checked()
	id, ok, _ := f.svc.CheckBasic(ctx, "10.0.0.1", "bob", "correct horse battery")
	if !ok || len(id.Groups) != 0 || id.Email != "bob@example.com" {
		t.Fatalf("after the groups change: %+v %v, want no groups", id, ok)
	}
	if f.hasher.Checked() != checked {
		t.Fatal("the cache was not used (the test must show the cache answers current data)")
	}
	if err := f.svc.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if id, ok, _ := f.svc.CheckBasic(ctx, "10.0.0.1", "bob", "correct horse battery"); ok {
		t.Fatalf("deleted account passed: %+v", id)
	}
}
