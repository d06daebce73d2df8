package accounts_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/memstore"
)

// newGrantService is a Service on a store and clock the test moves, in the
// registration mode mod sets.
func newGrantService(t *testing.T, mod func(*accounts.Config)) (*fixture, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	store := memstore.New(c.now)
	f := newService(t, func(cfg *accounts.Config) {
		cfg.Store, cfg.Now = store, c.now
		cfg.ResetURL = "https://auth.example.com/reset"
		if mod != nil {
			mod(cfg)
		}
	})
	f.store = store
	return f, c
}

func TestRegistrationModes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name             string
		open, inviteOnly bool
		invite           bool // the registration carries a good invite
		want             error
	}{
		{"open, no invite", true, false, false, nil},
		{"open, an invite", true, false, true, nil},
		{"invite mode, no invite", false, true, false, accounts.ErrInvalidInvite},
		{"invite mode, an invite", false, true, true, nil},
		{"closed, no invite", false, false, false, accounts.ErrRegistrationClosed},
		{"closed, an invite", false, false, true, accounts.ErrRegistrationClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := newGrantService(t, func(c *accounts.Config) { c.Registration, c.InviteOnly = tc.open, tc.inviteOnly })
			r := accounts.Registration{Username: "newcomer", Password: "a good passphrase"}
			if tc.invite {
				code, _, err := f.svc.CreateInvite(ctx, accounts.InviteRequest{Groups: []string{"family"}, By: "root"})
				if err != nil {
					t.Fatal(err)
				}
				r.Invite = code
			}
			u, err := f.svc.Register(ctx, r)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Register = %v, want %v", err, tc.want)
			}
			if tc.want == nil && tc.invite != slices.Equal(u.Groups, []string{"family"}) {
				t.Fatalf("groups %v: only an invite grants groups", u.Groups)
			}
			if tc.want != nil {
				if _, err := f.store.User(ctx, "newcomer"); !errors.Is(err, accounts.ErrUserNotFound) {
					t.Fatal("a refused registration created the account")
				}
			}
		})
	}
}

func TestInvites(t *testing.T) {
	ctx := context.Background()
	f, clk := newGrantService(t, func(c *accounts.Config) { c.Registration, c.InviteOnly = false, true })
	reg := func(name, code string) error {
		_, err := f.svc.Register(ctx, accounts.Registration{Username: name, Password: "a good passphrase", Invite: code})
		return err
	}
	code, g, err := f.svc.CreateInvite(ctx, accounts.InviteRequest{Groups: []string{"Family", "friends"}, Uses: 2, TTL: time.Hour, Note: "cousins", By: "root"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(code)
	if len(raw) < 16 || g.Hash == code || strings.Contains(g.Hash, code) {
		t.Fatalf("code %q (%d bytes), stored hash %q: want >= 128 bits and only a hash stored", code, raw, g.Hash)
	}
	if list, _ := f.svc.Invites(ctx); len(list) != 1 || list[0].Note != "cousins" || list[0].CreatedBy != "root" || list[0].Uses != 2 {
		t.Fatalf("Invites = %+v", list)
	}
	if err := reg("one", code); err != nil {
		t.Fatal(err)
	}
	// A taken name does not spend a use.
	if err := reg("one", code); !errors.Is(err, accounts.ErrUserExists) {
		t.Fatalf("taken name: %v", err)
	}
	if err := reg("two", code); err != nil {
		t.Fatalf("second use: %v", err)
	}
	if err := reg("three", code); !errors.Is(err, accounts.ErrInvalidInvite) {
		t.Fatalf("used up: %v", err)
	}
	if err := reg("four", "not-a-code"); !errors.Is(err, accounts.ErrInvalidInvite) {
		t.Fatalf("unknown: %v", err)
	}

	expiring, _, _ := f.svc.CreateInvite(ctx, accounts.InviteRequest{TTL: time.Hour})
	revoked, rg, _ := f.svc.CreateInvite(ctx, accounts.InviteRequest{})
	if err := f.svc.RevokeInvite(ctx, rg.ID, "root"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RevokeInvite(ctx, rg.ID, "root"); !errors.Is(err, accounts.ErrInviteNotFound) {
		t.Fatalf("revoking twice: %v", err)
	}
	if err := reg("five", revoked); !errors.Is(err, accounts.ErrInvalidInvite) {
		t.Fatalf("revoked: %v", err)
	}
	clk.advance(time.Hour)
	if err := reg("six", expiring); !errors.Is(err, accounts.ErrInvalidInvite) {
		t.Fatalf("expired: %v", err)
	}
	if list, _ := f.svc.Invites(ctx); len(list) != 0 {
		t.Fatalf("used-up, revoked and expired invites listed: %+v", list)
	}
	for _, bad := range []accounts.InviteRequest{{Uses: -1}, {Uses: accounts.MaxInviteUses + 1}, {TTL: time.Second}, {TTL: accounts.MaxInviteTTL + time.Hour},
		{Groups: []string{"bad group!"}}, {Note: strings.Repeat("x", 201)}, {Note: "a\nb"}} {
		if _, _, err := f.svc.CreateInvite(ctx, bad); accounts.ErrorCode(err) != accounts.Invalid {
			t.Errorf("CreateInvite(%+v) = %v, want Invalid", bad, err)
		}
	}
	if got := accounts.InviteURL("https://auth.example.com/login", "abc"); got != "https://auth.example.com/login?invite=abc" {
		t.Errorf("InviteURL = %q", got)
	}
}

func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	f, _ := newGrantService(t, nil)
	u, _ := f.svc.Register(ctx, accounts.Registration{Username: "alice", Password: "the old passphrase"})
	var ids []string
	for i := 0; i < 3; i++ {
		tok, _, _ := f.svc.StartSession(ctx, u, []string{"pwd"})
		id, _ := f.tokens.SessionOf(tok)
		ids = append(ids, id)
	}
	if err := f.svc.ChangePassword(ctx, "192.0.2.1", "alice", "wrong one", "a new passphrase", ids[0]); !errors.Is(err, accounts.ErrBadPassword) {
		t.Fatalf("wrong current password: %v", err)
	}
	if err := f.svc.ChangePassword(ctx, "192.0.2.1", "alice", "the old passphrase", "short", ids[0]); accounts.ErrorCode(err) != accounts.Invalid {
		t.Fatalf("a refused new password: %v", err)
	}
	if err := f.svc.ChangePassword(ctx, "192.0.2.1", "alice", "the old passphrase", "a new passphrase", ids[0]); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if live, _ := f.store.SessionLive(ctx, id, "alice"); live != (i == 0) {
			t.Errorf("session %d live = %v; only the asking one stays", i, live)
		}
	}
	if _, _, err := f.svc.SignIn(ctx, "192.0.2.2", accounts.Credentials{Username: "alice", Password: "the old passphrase"}); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatal("the old password still works")
	}
	if _, _, err := f.svc.SignIn(ctx, "192.0.2.2", accounts.Credentials{Username: "alice", Password: "a new passphrase"}); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if err := f.svc.ChangePassword(ctx, "192.0.2.1", "root", "x", "a new passphrase", ""); !errors.Is(err, accounts.ErrStaticUser) || accounts.ErrorCode(err) != accounts.Conflict {
		t.Fatalf("users-file account: %v", err)
	}
	// Wrong current passwords count toward the lockout.
	for range testRegulation.MaxFailures {
		_ = f.svc.ChangePassword(ctx, "192.0.2.1", "alice", "wrong again", "another passphrase", "")
	}
	if err := f.svc.ChangePassword(ctx, "192.0.2.1", "alice", "a new passphrase", "another passphrase", ""); accounts.ErrorCode(err) != accounts.Locked {
		t.Fatalf("after %d wrong passwords: %v, want Locked", testRegulation.MaxFailures, err)
	}
}

func TestResetLinks(t *testing.T) {
	ctx := context.Background()
	f, clk := newGrantService(t, nil)
	u, _ := f.svc.Register(ctx, accounts.Registration{Username: "alice", Password: "the old passphrase"})
	tok, _, _ := f.svc.StartSession(ctx, u, []string{"pwd"})
	sid, _ := f.tokens.SessionOf(tok)
	// Locked out by guesses, as people who forgot a password are.
	for range testRegulation.MaxFailures {
		_, _, _ = f.svc.SignIn(ctx, "192.0.2.9", accounts.Credentials{Username: "alice", Password: "a guess"})
	}
	link, expires, err := f.svc.ResetLink(ctx, "alice", 0, "root")
	if err != nil {
		t.Fatal(err)
	}
	lu, _ := url.Parse(link)
	token := lu.Query().Get("token")
	if lu.Scheme != "https" || lu.Host != "auth.example.com" || lu.Path != "/reset" || len(token) < 22 || !expires.Equal(clk.now().Add(30*time.Minute)) {
		t.Fatalf("link %q expires %v", link, expires)
	}
	if _, err := f.svc.ResetPassword(ctx, token, "short"); accounts.ErrorCode(err) != accounts.Invalid || errors.Is(err, accounts.ErrInvalidReset) {
		t.Fatalf("a refused password: %v (and it must not spend the link)", err)
	}
	if name, err := f.svc.ResetPassword(ctx, token, "a brand new passphrase"); err != nil || name != "alice" {
		t.Fatalf("reset: %q %v", name, err)
	}
	if live, _ := f.store.SessionLive(ctx, sid, "alice"); live {
		t.Fatal("a session outlived the reset")
	}
	if _, _, err := f.svc.SignIn(ctx, "192.0.2.3", accounts.Credentials{Username: "alice", Password: "a brand new passphrase"}); err != nil {
		t.Fatalf("the new password after the reset (the lockout must be cleared): %v", err)
	}
	if _, err := f.svc.ResetPassword(ctx, token, "yet another passphrase"); !errors.Is(err, accounts.ErrInvalidReset) {
		t.Fatalf("a spent link: %v", err)
	}
	if _, err := f.svc.ResetPassword(ctx, "unknown", "yet another passphrase"); !errors.Is(err, accounts.ErrInvalidReset) {
		t.Fatalf("an unknown link: %v", err)
	}
	old, _, _ := f.svc.ResetLink(ctx, "alice", time.Hour, "root")
	clk.advance(time.Hour)
	ou, _ := url.Parse(old)
	if _, err := f.svc.ResetPassword(ctx, ou.Query().Get("token"), "yet another passphrase"); !errors.Is(err, accounts.ErrInvalidReset) {
		t.Fatalf("an expired link: %v", err)
	}
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		want accounts.Code
	}{{"root", 0, accounts.Conflict}, {"nobody", 0, accounts.NotFound}, {"alice", 25 * time.Hour, accounts.Invalid}} {
		if _, _, err := f.svc.ResetLink(ctx, tc.name, tc.ttl, "root"); accounts.ErrorCode(err) != tc.want {
			t.Errorf("ResetLink(%s, %s) = %v, want code %v", tc.name, tc.ttl, err, tc.want)
		}
	}
	if got := accounts.ResetURL(""); got != "/reset" {
		t.Errorf("ResetURL without a login URL = %q", got)
	}
}

func TestAccountsOverview(t *testing.T) {
	ctx := context.Background()
	f, _ := newGrantService(t, nil)
	u, _ := f.svc.Register(ctx, accounts.Registration{Username: "alice", Password: "a good passphrase", Email: "a@example.com"})
	_, _, _ = f.svc.StartSession(ctx, u, []string{"pwd"})
	_, _, _ = f.svc.StartSession(ctx, u, []string{"pwd"})
	for range testRegulation.MaxFailures {
		_, _, _ = f.svc.SignIn(ctx, "192.0.2.1", accounts.Credentials{Username: "bob", Password: "guess"})
	}
	_, _ = f.svc.Register(ctx, accounts.Registration{Username: "bob", Password: "a good passphrase"})
	list, err := f.svc.Accounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Username != "alice" || list[1].Username != "bob" || list[2].Username != "root" {
		t.Fatalf("Accounts = %+v", list)
	}
	if a := list[0]; a.Sessions != 2 || a.Email != "a@example.com" || a.Locked || a.Static || a.Groups == nil {
		t.Errorf("alice: %+v", a)
	}
	if b := list[1]; !b.Locked || b.Sessions != 0 {
		t.Errorf("bob: %+v", b)
	}
	if r := list[2]; !r.Static {
		t.Errorf("root: %+v", r)
	}
	if err := f.svc.EndSessions(ctx, "alice", "root"); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.store.UserSessions(ctx, "alice"); n != 0 {
		t.Fatalf("%d sessions after EndSessions", n)
	}
	if err := f.svc.EndSessions(ctx, "root", "root"); err != nil {
		t.Fatalf("ending a users-file account's sessions: %v", err)
	}
	if err := f.svc.EndSessions(ctx, "nobody", "root"); !errors.Is(err, accounts.ErrUserNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}

// TestReviewFixes: what a review of this feature found, each held.
func TestReviewFixes(t *testing.T) {
	ctx := context.Background()
	t.Run("a bogus invite learns nothing about names", func(t *testing.T) {
		f, _ := newGrantService(t, func(c *accounts.Config) { c.Registration, c.InviteOnly = false, true })
		_, _ = f.svc.AddUser(ctx, accounts.Registration{Username: "taken", Password: "a good passphrase"}, nil)
		for _, name := range []string{"taken", "free"} {
			if _, err := f.svc.Register(ctx, accounts.Registration{Username: name, Password: "a good passphrase", Invite: "bogus"}); !errors.Is(err, accounts.ErrInvalidInvite) {
				t.Errorf("%s with a bogus invite: %v, want invalid invite", name, err)
			}
		}
	})
	t.Run("a reset link dies with the password it was made for", func(t *testing.T) {
		f, _ := newGrantService(t, nil)
		_, _ = f.svc.Register(ctx, accounts.Registration{Username: "alice", Password: "the old passphrase"})
		link, _, _ := f.svc.ResetLink(ctx, "alice", 0, "root")
		if err := f.svc.SetPassword(ctx, "alice", "changed meanwhile"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ResetPassword(ctx, tokenOf(t, link), "a brand new passphrase"); !errors.Is(err, accounts.ErrInvalidReset) {
			t.Fatalf("a link from before a password change: %v", err)
		}
	})
	t.Run("a newer reset link voids the older one", func(t *testing.T) {
		f, _ := newGrantService(t, nil)
		_, _ = f.svc.Register(ctx, accounts.Registration{Username: "alice", Password: "the old passphrase"})
		_, _ = f.svc.Register(ctx, accounts.Registration{Username: "bob", Password: "the old passphrase"})
		first, _, _ := f.svc.ResetLink(ctx, "alice", 0, "root")
		bobs, _, _ := f.svc.ResetLink(ctx, "bob", 0, "root")
		second, _, _ := f.svc.ResetLink(ctx, "alice", 0, "root")
		if _, err := f.svc.ResetPassword(ctx, tokenOf(t, first), "a brand new passphrase"); !errors.Is(err, accounts.ErrInvalidReset) {
			t.Fatalf("the older link: %v", err)
		}
		for _, l := range []string{second, bobs} {
			if _, err := f.svc.ResetPassword(ctx, tokenOf(t, l), "a brand new passphrase"); err != nil {
				t.Fatalf("%s: %v", l, err)
			}
		}
	})
	t.Run("a reset link dies with its account", func(t *testing.T) {
		f, _ := newGrantService(t, nil)
		_, _ = f.svc.Register(ctx, accounts.Registration{Username: "alice", Password: "the old passphrase"})
		link, _, _ := f.svc.ResetLink(ctx, "alice", 0, "root")
		_ = f.svc.DeleteUser(ctx, "alice")
		_, _ = f.svc.Register(ctx, accounts.Registration{Username: "alice", Password: "someone else entirely"})
		if _, err := f.svc.ResetPassword(ctx, tokenOf(t, link), "a brand new passphrase"); !errors.Is(err, accounts.ErrInvalidReset) {
			t.Fatalf("a link for a deleted account used on its namesake: %v", err)
		}
	})
	t.Run("a password change keeps a group change made meanwhile", func(t *testing.T) {
		mem := memstore.New(nil)
		racing := &changeAfterRead{Store: mem}
		f := newService(t, func(c *accounts.Config) { c.Store = racing })
		_, _ = f.svc.Register(ctx, accounts.Registration{Username: "alice", Password: "the old passphrase"})
		_ = f.svc.SetGroups(ctx, "alice", []string{"admins"})
		// The change reads alice, an admin; while its hashes run, an
		// admin demotes her. The write must not bring "admins" back.
		racing.after = func() {
			u, _ := mem.User(ctx, "alice")
			u.Groups = nil
			_ = mem.UpdateUser(ctx, u)
		}
		if err := f.svc.ChangePassword(ctx, "192.0.2.1", "alice", "the old passphrase", "a new passphrase", ""); err != nil {
			t.Fatal(err)
		}
		u, _ := mem.User(ctx, "alice")
		if len(u.Groups) != 0 {
			t.Fatalf("groups %v: the password change wrote back an older copy", u.Groups)
		}
		if _, _, err := f.svc.SignIn(ctx, "192.0.2.2", accounts.Credentials{Username: "alice", Password: "a new passphrase"}); err != nil {
			t.Fatalf("the new password: %v", err)
		}
	})
}

// changeAfterRead runs after once, right after the next read of a user:
// a change landing between a read and a write.
type changeAfterRead struct {
	*memstore.Store
	after func()
}

func (c *changeAfterRead) User(ctx context.Context, name string) (accounts.User, error) {
	u, err := c.Store.User(ctx, name)
	if f := c.after; f != nil {
		c.after = nil
		f()
	}
	return u, err
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}
