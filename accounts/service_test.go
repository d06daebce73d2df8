package accounts_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/regulation"
)

func TestRegisterChecks(t *testing.T) {
	ctx := context.Background()
	f := newService(t, nil)
	cases := []struct {
		name string
		r    accounts.Registration
		code accounts.Code
	}{
		{"taken by the users file", accounts.Registration{Username: "ROOT", Password: "correct horse battery"}, accounts.Conflict},
		{"bad email", accounts.Registration{Username: "bob", Password: "correct horse battery", Email: "bob@"}, accounts.Invalid},
		{"control character in the name", accounts.Registration{Username: "bob", Password: "correct horse battery", Name: "Bob\x07"}, accounts.Invalid},
		{"bad username", accounts.Registration{Username: "../bob", Password: "correct horse battery"}, accounts.Invalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.svc.Register(ctx, tc.r); accounts.ErrorCode(err) != tc.code {
				t.Fatalf("Register = %v (code %d), want code %d", err, accounts.ErrorCode(err), tc.code)
			}
		})
	}
	closed := newService(t, func(c *accounts.Config) { c.Registration = false })
	if _, err := closed.svc.Register(ctx, accounts.Registration{Username: "bob", Password: "correct horse battery"}); !errors.Is(err, accounts.ErrRegistrationClosed) {
		t.Fatalf("closed registration: %v", err)
	}
}

// TestSignInLockout: failures are counted per canonical name, so other
// spellings of one account share its lock; the lock holds for the right
// password; unknown names lock the same way, so a lock reveals nothing.
// Guards against one account being counted under two names, which doubled
// Authelia's attempt budget (GHSA-m5mf-3963-4x26, CVE-2025-24806).
func TestSignInLockout(t *testing.T) {
	ctx := context.Background()
	f := newService(t, nil)
	if _, err := f.svc.Register(ctx, accounts.Registration{Username: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	for i := range testRegulation.MaxFailures {
		if _, _, err := f.svc.SignIn(ctx, "192.0.2.1", accounts.Credentials{Username: "alice", Password: "guess" + strconv.Itoa(i) + "xx"}); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	for _, name := range []string{"alice", "ALICE", "ａｌｉｃｅ"} {
		_, _, err := f.svc.SignIn(ctx, "192.0.2.2", accounts.Credentials{Username: name, Password: "correct horse battery"})
		var e *accounts.Error
		if !errors.As(err, &e) || e.Code != accounts.Locked || e.RetryAfter < 14*time.Minute || e.RetryAfter > testRegulation.BanTime {
			t.Fatalf("%s with the right password while locked: %v", name, err)
		}
	}
	for range testRegulation.MaxFailures {
		_, _, _ = f.svc.SignIn(ctx, "192.0.2.3", accounts.Credentials{Username: "nobody", Password: "guess guess"})
	}
	if _, _, err := f.svc.SignIn(ctx, "192.0.2.3", accounts.Credentials{Username: "nobody", Password: "guess guess"}); accounts.ErrorCode(err) != accounts.Locked {
		t.Fatalf("unknown name after failures: %v", err)
	}
}

// TestSignInGuessesSentAtOnce: the lock cannot be beaten by sending the
// guesses together. Attempts are counted before the password is checked,
// so of 50 wrong guesses and the right password released at once, at most
// MaxFailures wrong passwords are ever checked (the right one may be
// checked too, once), and every other request is refused as locked. On the
// old code 30 wrong guesses sent at once were all checked, and the right
// password after them still passed.
func TestSignInGuessesSentAtOnce(t *testing.T) {
	ctx := context.Background()
	reg := regulation.Policy{MaxFailures: 5, MaxFailuresPerIP: 1000, Window: 10 * time.Minute, BanTime: 15 * time.Minute}
	for round := range 20 {
		f := newService(t, func(c *accounts.Config) { c.Regulation = reg })
		if _, err := f.svc.Register(ctx, accounts.Registration{Username: "alice", Password: "correct horse battery"}); err != nil {
			t.Fatal(err)
		}
		before := f.hasher.Checked()
		var ok, bad, locked atomic.Int32
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 51 {
			wg.Go(func() {
				pw := "wrong guess " + strconv.Itoa(i)
				if i == round {
					pw = "correct horse battery"
				}
				<-start
				_, _, err := f.svc.SignIn(ctx, "198.51.100."+strconv.Itoa(i%200), accounts.Credentials{Username: "alice", Password: pw})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, accounts.ErrBadCredentials):
					bad.Add(1)
				case accounts.ErrorCode(err) == accounts.Locked:
					locked.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		checked := f.hasher.Checked() - before
		if bad.Load() > int32(reg.MaxFailures) || ok.Load() > 1 || uint64(ok.Load()+bad.Load()) != checked || ok.Load()+bad.Load()+locked.Load() != 51 {
			t.Fatalf("round %d: %d passwords checked: ok %d, wrong %d, locked %d (at most %d wrong may be checked)", round, checked, ok.Load(), bad.Load(), locked.Load(), reg.MaxFailures)
		}
		if bad.Load() < int32(reg.MaxFailures) {
			continue // the right password took one of the checks
		}
		if _, _, err := f.svc.SignIn(ctx, "203.0.113.1", accounts.Credentials{Username: "alice", Password: "correct horse battery"}); accounts.ErrorCode(err) != accounts.Locked {
			t.Fatalf("round %d: after %d failures the right password gets %v, want locked", round, bad.Load(), err)
		}
	}
}

// TestSignInAddressGuessesSentAtOnce: the same holds for the per-address
// limit: 15 names guessed at once from one address with a limit of 3 get
// at most 3 passwords checked.
func TestSignInAddressGuessesSentAtOnce(t *testing.T) {
	ctx := context.Background()
	reg := regulation.Policy{MaxFailures: 5, MaxFailuresPerIP: 3, Window: 10 * time.Minute, BanTime: 15 * time.Minute}
	f := newService(t, func(c *accounts.Config) { c.Regulation = reg })
	before := f.hasher.Checked()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 15 {
		wg.Go(func() {
			<-start
			_, _, _ = f.svc.SignIn(ctx, "203.0.113.9", accounts.Credentials{Username: "user" + strconv.Itoa(i), Password: "some guess"})
		})
	}
	close(start)
	wg.Wait()
	if n := f.hasher.Checked() - before; n > uint64(reg.MaxFailuresPerIP) {
		t.Fatalf("%d passwords checked from one address, limit %d", n, reg.MaxFailuresPerIP)
	}
}

func TestStartSessionIssuesALiveToken(t *testing.T) {
	ctx := context.Background()
	f := newService(t, nil)
	u, err := f.svc.Register(ctx, accounts.Registration{Username: "alice", Password: "correct horse battery", Email: "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	tok, expires, err := f.svc.StartSession(ctx, u, []string{"pwd"})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(expires); d < accounts.DefaultSessionTTL-time.Minute || d > accounts.DefaultSessionTTL {
		t.Fatalf("expires in %v", d)
	}
	id, err := f.tokens.SessionOf(tok)
	if err != nil {
		t.Fatal(err)
	}
	if live, _ := f.store.SessionLive(ctx, id, "alice"); !live {
		t.Fatal("the token's session is not live")
	}
	if err := f.svc.EndSession(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if live, _ := f.store.SessionLive(ctx, id, "alice"); live {
		t.Fatal("session live after EndSession")
	}
	if err := f.svc.EndSession(ctx, "not a token"); err != nil {
		t.Fatalf("EndSession of garbage: %v (logout is idempotent)", err)
	}
}

// panicStore panics on a user lookup, as a buggy store might.
type panicStore struct{ accounts.Store }

func (panicStore) User(context.Context, string) (accounts.User, error) { panic("store bug") }

// TestSignInSettlesOnPanic: an attempt is settled even when its check
// panics (as a failure: fail closed), so it ends as a counted failure and
// never as a reservation that keeps the name "busy" for good.
func TestSignInSettlesOnPanic(t *testing.T) {
	ctx := context.Background()
	reg := regulation.Policy{MaxFailures: 3, MaxFailuresPerIP: 100, Window: 10 * time.Minute, BanTime: 15 * time.Minute}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f := newService(t, func(c *accounts.Config) {
		c.Regulation = reg
		c.Store = panicStore{c.Store}
		c.Now = func() time.Time { return now }
	})
	for i := range reg.MaxFailures {
		func() {
			defer func() { _ = recover() }()
			_, _, _ = f.svc.SignIn(ctx, "192.0.2.1", accounts.Credentials{Username: "alice", Password: "guess " + strconv.Itoa(i)})
		}()
	}
	_, _, err := f.svc.SignIn(ctx, "192.0.2.2", accounts.Credentials{Username: "alice", Password: "another guess"})
	var e *accounts.Error
	if !errors.As(err, &e) || e.Code != accounts.Locked || e.RetryAfter <= regulation.BusyWait {
		t.Fatalf("after %d attempts that panicked: %v, want a lock (settled failures), not a busy name (leaked reservations)", reg.MaxFailures, err)
	}
}
