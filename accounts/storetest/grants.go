package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
)

// runGrants is the part of Run about invites and reset links.
func runGrants(t *testing.T, newStore func(t *testing.T, now *time.Time) accounts.Store, base time.Time) {
	ctx := context.Background()
	invite := func(id, hash string, uses int, expires time.Time) accounts.Grant {
		return accounts.Grant{Kind: accounts.GrantInvite, ID: id, Hash: hash, Note: "for " + id, Groups: []string{"family"},
			Uses: uses, Expires: expires, CreatedBy: "root", Created: base}
	}

	t.Run("grants kept and listed", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		g := invite("i1", "h1", 2, base.Add(time.Hour))
		if err := s.PutGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
		_ = s.PutGrant(ctx, invite("i2", "h2", 1, base.Add(time.Hour)))
		_ = s.PutGrant(ctx, accounts.Grant{Kind: accounts.GrantReset, ID: "r1", Hash: "hr", User: "alice", Uses: 1, Expires: base.Add(time.Hour), Created: base})
		list, err := s.Grants(ctx, accounts.GrantInvite)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 {
			t.Fatalf("Grants(invite) = %+v, want 2", list)
		}
		got := list[0]
		if list[0].ID != "i1" {
			got = list[1]
		}
		if got.ID != "i1" || got.Hash != "h1" || got.Note != "for i1" || len(got.Groups) != 1 || got.Groups[0] != "family" ||
			got.Uses != 2 || !got.Expires.Equal(base.Add(time.Hour)) || got.CreatedBy != "root" || got.Kind != accounts.GrantInvite {
			t.Fatalf("grant stored as %+v", got)
		}
		if resets, _ := s.Grants(ctx, accounts.GrantReset); len(resets) != 1 || resets[0].User != "alice" {
			t.Fatalf("Grants(reset) = %+v", resets)
		}
	})

	t.Run("uses spent, then gone", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		_ = s.PutGrant(ctx, invite("i1", "h1", 2, base.Add(time.Hour)))
		for i := 0; i < 2; i++ {
			g, err := s.UseGrant(ctx, accounts.GrantInvite, "h1", base)
			if err != nil || g.ID != "i1" || len(g.Groups) != 1 {
				t.Fatalf("use %d: %+v, %v", i, g, err)
			}
		}
		if _, err := s.UseGrant(ctx, accounts.GrantInvite, "h1", base); !errors.Is(err, accounts.ErrGrantNotFound) {
			t.Fatalf("a used-up grant: %v", err)
		}
		if list, _ := s.Grants(ctx, accounts.GrantInvite); len(list) != 0 {
			t.Fatalf("a used-up grant still listed: %+v", list)
		}
		if _, err := s.UseGrant(ctx, accounts.GrantInvite, "nope", base); !errors.Is(err, accounts.ErrGrantNotFound) {
			t.Fatalf("an unknown grant: %v", err)
		}
		_ = s.PutGrant(ctx, accounts.Grant{Kind: accounts.GrantReset, ID: "r", Hash: "h1", User: "alice", Uses: 1, Expires: base.Add(time.Hour), Created: base})
		if _, err := s.UseGrant(ctx, accounts.GrantInvite, "h1", base); !errors.Is(err, accounts.ErrGrantNotFound) {
			t.Fatal("a reset link used as an invite")
		}
		if g, err := s.UseGrant(ctx, accounts.GrantReset, "h1", base); err != nil || g.User != "alice" {
			t.Fatalf("reset link: %+v %v", g, err)
		}
	})

	t.Run("expired grants refused", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		_ = s.PutGrant(ctx, invite("i1", "h1", 5, base.Add(time.Hour)))
		if _, err := s.UseGrant(ctx, accounts.GrantInvite, "h1", base.Add(time.Hour)); !errors.Is(err, accounts.ErrGrantNotFound) {
			t.Fatalf("at its expiry: %v", err)
		}
		if _, err := s.UseGrant(ctx, accounts.GrantInvite, "h1", base.Add(time.Hour-time.Second)); err != nil {
			t.Fatalf("a second before: %v", err)
		}
	})

	t.Run("revoked grants refused", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		_ = s.PutGrant(ctx, invite("i1", "h1", 5, base.Add(time.Hour)))
		if err := s.DeleteGrant(ctx, accounts.GrantInvite, "i1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseGrant(ctx, accounts.GrantInvite, "h1", base); !errors.Is(err, accounts.ErrGrantNotFound) {
			t.Fatalf("a revoked grant: %v", err)
		}
		if err := s.DeleteGrant(ctx, accounts.GrantInvite, "i1"); !errors.Is(err, accounts.ErrGrantNotFound) {
			t.Fatalf("revoking twice: %v", err)
		}
	})

	t.Run("racing for the last use", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		_ = s.PutGrant(ctx, invite("i1", "h1", 3, base.Add(time.Hour)))
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.UseGrant(ctx, accounts.GrantInvite, "h1", base)
				if err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				} else if !errors.Is(err, accounts.ErrGrantNotFound) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok != 3 {
			t.Fatalf("%d uses of a 3-use grant succeeded", ok)
		}
	})

	t.Run("sessions counted", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		for i := 0; i < 3; i++ {
			_ = s.CreateSession(ctx, accounts.Session{ID: fmt.Sprint("a", i), User: "alice", Created: base, Expires: base.Add(time.Hour)}, 10)
		}
		_ = s.DeleteSession(ctx, "a1")
		if n, err := s.UserSessions(ctx, "alice"); err != nil || n != 2 {
			t.Fatalf("UserSessions = %d, %v; want 2", n, err)
		}
		if n, _ := s.UserSessions(ctx, "bob"); n != 0 {
			t.Fatalf("UserSessions(bob) = %d", n)
		}
	})
}
