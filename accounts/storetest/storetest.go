// Package storetest is the conformance suite every accounts.Store passes
// (and every regulation.Attempts): each store package's tests call Run with
// a constructor for a fresh, empty store. It is imported by tests only.
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

// Run is the suite every Store implementation must pass. Each
// implementation's test calls it with a constructor for a fresh, empty
// store whose clock is *now.
func Run(t *testing.T, newStore func(t *testing.T, now *time.Time) accounts.Store) {
	ctx := context.Background()
	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

	t.Run("users", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		u := accounts.User{Name: "alice", Hash: "$argon2id$x", Email: "a@example.com", Display: "Alice", Groups: []string{"admins"}, Created: base}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, accounts.User{Name: "alice", Hash: "other"}); !errors.Is(err, accounts.ErrUserExists) {
			t.Fatalf("second CreateUser = %v, want ErrUserExists", err)
		}
		got, err := s.User(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != u.Name || got.Hash != u.Hash || got.Email != u.Email || got.Display != u.Display || len(got.Groups) != 1 || got.Groups[0] != "admins" || !got.Created.Equal(base) {
			t.Fatalf("User = %+v, want %+v", got, u)
		}
		if _, err := s.User(ctx, "bob"); !errors.Is(err, accounts.ErrUserNotFound) {
			t.Fatalf("User(bob) = %v, want ErrUserNotFound", err)
		}
		u.Hash, u.Groups = "$argon2id$new", []string{"ops", "dev"}
		if err := s.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.User(ctx, "alice"); got.Hash != "$argon2id$new" || len(got.Groups) != 2 {
			t.Fatalf("after UpdateUser: %+v", got)
		}
		if err := s.UpdateUser(ctx, accounts.User{Name: "bob"}); !errors.Is(err, accounts.ErrUserNotFound) {
			t.Fatalf("UpdateUser(bob) = %v, want ErrUserNotFound", err)
		}
	})

	t.Run("concurrent create of one name", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				err := s.CreateUser(ctx, accounts.User{Name: "carol", Hash: fmt.Sprint(i)})
				if err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				} else if !errors.Is(err, accounts.ErrUserExists) {
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%d creations succeeded, want exactly 1", ok)
		}
	})

	t.Run("sessions", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		sess := accounts.Session{ID: "s1", User: "alice", Created: base, Expires: base.Add(time.Hour)}
		if err := s.CreateSession(ctx, sess, 10); err != nil {
			t.Fatal(err)
		}
		live := func(id, user string) bool {
			t.Helper()
			ok, err := s.SessionLive(ctx, id, user)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !live("s1", "alice") {
			t.Fatal("new session not live")
		}
		if live("s1", "bob") {
			t.Fatal("session live for another user")
		}
		if live("nope", "alice") {
			t.Fatal("unknown session live")
		}
		now = base.Add(time.Hour)
		if live("s1", "alice") {
			t.Fatal("session live at its expiry")
		}
		now = base
		if err := s.DeleteSession(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
		if live("s1", "alice") {
			t.Fatal("deleted session live")
		}
		if err := s.DeleteSession(ctx, "s1"); err != nil {
			t.Fatalf("deleting twice: %v", err)
		}
	})

	t.Run("logout ends only that session", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		for _, id := range []string{"a", "b"} {
			if err := s.CreateSession(ctx, accounts.Session{ID: id, User: "alice", Created: base, Expires: base.Add(time.Hour)}, 10); err != nil {
				t.Fatal(err)
			}
		}
		_ = s.DeleteSession(ctx, "a")
		if ok, _ := s.SessionLive(ctx, "b", "alice"); !ok {
			t.Fatal("other session ended too")
		}
	})

	t.Run("per-user cap ends the oldest", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		for i := 0; i < 5; i++ {
			now = base.Add(time.Duration(i) * time.Second)
			id := fmt.Sprintf("s%d", i)
			if err := s.CreateSession(ctx, accounts.Session{ID: id, User: "alice", Created: now, Expires: now.Add(time.Hour)}, 3); err != nil {
				t.Fatal(err)
			}
		}
		for i, want := range []bool{false, false, true, true, true} {
			if ok, _ := s.SessionLive(ctx, fmt.Sprintf("s%d", i), "alice"); ok != want {
				t.Errorf("s%d live = %v, want %v", i, ok, want)
			}
		}
		if err := s.CreateSession(ctx, accounts.Session{ID: "bob1", User: "bob", Created: now, Expires: now.Add(time.Hour)}, 3); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.SessionLive(ctx, "s4", "alice"); !ok {
			t.Error("another user's login ended alice's session")
		}
	})

	t.Run("list and delete users", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		for _, n := range []string{"carol", "alice", "bob"} {
			if err := s.CreateUser(ctx, accounts.User{Name: n, Hash: "h-" + n, Created: base}); err != nil {
				t.Fatal(err)
			}
		}
		_ = s.CreateSession(ctx, accounts.Session{ID: "bob-1", User: "bob", Created: base, Expires: base.Add(time.Hour)}, 10)
		_ = s.CreateSession(ctx, accounts.Session{ID: "alice-1", User: "alice", Created: base, Expires: base.Add(time.Hour)}, 10)
		users, err := s.Users(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range users {
			names = append(names, u.Name)
		}
		if fmt.Sprint(names) != "[alice bob carol]" {
			t.Fatalf("Users = %v", names)
		}
		if err := s.DeleteUser(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.User(ctx, "bob"); !errors.Is(err, accounts.ErrUserNotFound) {
			t.Fatalf("deleted user still there: %v", err)
		}
		if ok, _ := s.SessionLive(ctx, "bob-1", "bob"); ok {
			t.Fatal("deleted user's session still live")
		}
		if ok, _ := s.SessionLive(ctx, "alice-1", "alice"); !ok {
			t.Fatal("another user's session ended")
		}
		if err := s.DeleteUser(ctx, "bob"); !errors.Is(err, accounts.ErrUserNotFound) {
			t.Fatalf("deleting twice = %v", err)
		}
		if err := s.CreateUser(ctx, accounts.User{Name: "bob", Hash: "again"}); err != nil {
			t.Fatalf("re-creating a deleted name: %v", err)
		}
	})

	t.Run("end all sessions of a user", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		for _, id := range []string{"a1", "a2"} {
			_ = s.CreateSession(ctx, accounts.Session{ID: id, User: "alice", Created: base, Expires: base.Add(time.Hour)}, 10)
		}
		_ = s.CreateSession(ctx, accounts.Session{ID: "b1", User: "bob", Created: base, Expires: base.Add(time.Hour)}, 10)
		if err := s.DeleteUserSessions(ctx, "alice", ""); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]bool{"a1": false, "a2": false} {
			if ok, _ := s.SessionLive(ctx, id, "alice"); ok != want {
				t.Errorf("%s live = %v", id, ok)
			}
		}
		if ok, _ := s.SessionLive(ctx, "b1", "bob"); !ok {
			t.Error("bob's session ended")
		}
	})

	t.Run("end every other session of a user", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		for _, id := range []string{"a1", "a2", "a3"} {
			_ = s.CreateSession(ctx, accounts.Session{ID: id, User: "alice", Created: base, Expires: base.Add(time.Hour)}, 10)
		}
		if err := s.DeleteUserSessions(ctx, "alice", "a2"); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]bool{"a1": false, "a2": true, "a3": false} {
			if ok, _ := s.SessionLive(ctx, id, "alice"); ok != want {
				t.Errorf("%s live = %v, want %v", id, ok, want)
			}
		}
		// The kept session is still indexed: ending them all ends it.
		if err := s.DeleteUserSessions(ctx, "alice", ""); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.SessionLive(ctx, "a2", "alice"); ok {
			t.Error("the kept session outlived ending them all")
		}
	})

	t.Run("second factor kept", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		u := accounts.User{Name: "alice", Hash: "h", Created: base}
		_ = s.CreateUser(ctx, u)
		u.TOTP = accounts.TOTP{Pending: "v1.k.pending"}
		if err := s.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.User(ctx, "alice"); got.TOTP.Pending != "v1.k.pending" || got.TOTPEnabled() {
			t.Fatalf("pending TOTP stored as %+v", got.TOTP)
		}
		u.TOTP = accounts.TOTP{Secret: "v1.k.secret", Recovery: []string{"h1", "h2"}}
		_ = s.UpdateUser(ctx, u)
		got, _ := s.User(ctx, "alice")
		if !got.TOTPEnabled() || got.TOTP.Secret != "v1.k.secret" || got.TOTP.Pending != "" ||
			len(got.TOTP.Recovery) != 2 || got.TOTP.Recovery[1] != "h2" {
			t.Fatalf("TOTP stored as %+v", got.TOTP)
		}
		got.TOTP.Recovery[0] = "changed by the caller"
		if again, _ := s.User(ctx, "alice"); again.TOTP.Recovery[0] != "h1" {
			t.Fatal("a caller's change to a returned user reached the store")
		}
		if all, _ := s.Users(ctx); len(all) != 1 || all[0].TOTP.Secret != "v1.k.secret" {
			t.Fatalf("Users = %+v", all)
		}
		u.TOTP = accounts.TOTP{}
		_ = s.UpdateUser(ctx, u)
		if got, _ := s.User(ctx, "alice"); got.TOTPEnabled() || len(got.TOTP.Recovery) != 0 {
			t.Fatalf("TOTP off stored as %+v", got.TOTP)
		}
	})

	t.Run("use once", func(t *testing.T) {
		now := base
		s := newStore(t, &now)
		until := base.Add(90 * time.Second)
		if first, err := s.UseOnce(ctx, "totp:alice:1", until); err != nil || !first {
			t.Fatalf("first use = %v, %v", first, err)
		}
		if first, _ := s.UseOnce(ctx, "totp:alice:1", until); first {
			t.Fatal("second use accepted")
		}
		if first, _ := s.UseOnce(ctx, "totp:alice:2", until); !first {
			t.Fatal("another key refused")
		}
		// Many replicas, one key: exactly one is first.
		var wg sync.WaitGroup
		var firsts sync.Map
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				first, err := s.UseOnce(ctx, "challenge:x", until)
				if err != nil {
					t.Error(err)
				}
				if first {
					firsts.Store(i, true)
				}
			}(i)
		}
		wg.Wait()
		n := 0
		firsts.Range(func(any, any) bool { n++; return true })
		if n != 1 {
			t.Fatalf("%d concurrent uses were first, want 1", n)
		}
	})

	runGrants(t, newStore, base)

	t.Run("ping", func(t *testing.T) {
		now := base
		if err := newStore(t, &now).Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
