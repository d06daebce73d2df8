package accounts_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/password"
)

func TestAddUserChecksLikeRegister(t *testing.T) {
	ctx := context.Background()
	f := newService(t, nil)
	cases := []struct {
		name, user, pw, email string
		want                  error
		code                  accounts.Code
	}{
		{"ok", "Alice", "correct horse battery", "alice@example.com", nil, accounts.Internal},
		{"taken, case-folded", "ALICE", "correct horse battery", "", accounts.ErrUserExists, accounts.Conflict},
		{"users-file name", "Root", "correct horse battery", "", accounts.ErrStaticUser, accounts.Conflict},
		{"bad name", "a:b", "correct horse battery", "", accounts.ErrBadUsername, accounts.Invalid},
		{"common password", "bob", "password123", "", password.ErrCommon, accounts.Invalid},
		{"short password", "bob", "short", "", password.ErrTooShort, accounts.Invalid},
		{"bad email", "bob", "correct horse battery", "not an address", nil, accounts.Invalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.AddUser(ctx, accounts.Registration{Username: tc.user, Password: tc.pw, Email: tc.email}, []string{"ops"})
			if tc.name == "ok" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("AddUser = %v, want %v", err, tc.want)
			}
			if got := accounts.ErrorCode(err); got != tc.code {
				t.Fatalf("AddUser = %v with code %d, want code %d", err, got, tc.code)
			}
		})
	}
	u, err := f.store.User(ctx, "alice")
	if err != nil || len(u.Groups) != 1 || u.Groups[0] != "ops" || u.Hash == "correct horse battery" {
		t.Fatalf("stored %+v, %v", u, err)
	}
}

func TestAdminChangesEndSessions(t *testing.T) {
	ctx := context.Background()
	for _, change := range []struct {
		name string
		do   func(s *accounts.Service) error
	}{
		{"passwd", func(s *accounts.Service) error { return s.SetPassword(ctx, "alice", "new horse battery staple") }},
		{"groups", func(s *accounts.Service) error { return s.SetGroups(ctx, "alice", []string{"dev"}) }},
		{"delete", func(s *accounts.Service) error { return s.DeleteUser(ctx, "alice") }},
	} {
		t.Run(change.name, func(t *testing.T) {
			f := newService(t, nil)
			if _, err := f.svc.AddUser(ctx, accounts.Registration{Username: "alice", Password: "correct horse battery"}, nil); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			_ = f.store.CreateSession(ctx, accounts.Session{ID: "s1", User: "alice", Created: now, Expires: now.Add(time.Hour)}, 10)
			if err := change.do(f.svc); err != nil {
				t.Fatal(err)
			}
			if ok, _ := f.store.SessionLive(ctx, "s1", "alice"); ok {
				t.Fatal("session survived the change")
			}
		})
	}
	f := newService(t, nil)
	if err := f.svc.SetGroups(ctx, "nobody", nil); !errors.Is(err, accounts.ErrUserNotFound) {
		t.Fatalf("groups of an unknown user: %v", err)
	}
	if err := f.svc.DeleteUser(ctx, "root"); !errors.Is(err, accounts.ErrStaticUser) {
		t.Fatalf("delete of a users-file name: %v", err)
	}
	if err := f.svc.SetPassword(ctx, "alice", "x"); err == nil {
		t.Fatal("password change of an unknown user succeeded")
	}
}
