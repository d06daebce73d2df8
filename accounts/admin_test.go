package accounts

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func newAdmin(t *testing.T) (Admin, *MemoryStore) {
	t.Helper()
	h, err := NewHasher(fastParams, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := NewMemoryStore(nil)
	return Admin{Store: s, Hasher: h, Static: map[string]User{"root": {Name: "root"}}}, s
}

func TestAdminAddChecksLikeRegister(t *testing.T) {
	ctx := context.Background()
	a, _ := newAdmin(t)
	cases := []struct {
		name, user, pw, email string
		want                  error
	}{
		{"ok", "Alice", "correct horse battery", "alice@example.com", nil},
		{"taken, case-folded", "ALICE", "correct horse battery", "", ErrUserExists},
		{"users-file name", "Root", "correct horse battery", "", ErrStaticUser},
		{"bad name", "a:b", "correct horse battery", "", ErrBadUsername},
		{"common password", "bob", "password123", "", ErrPasswordCommon},
		{"short password", "bob", "short", "", ErrPasswordTooShort},
		{"bad email", "bob", "correct horse battery", "not an address", errBadEmail},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Add(ctx, tc.user, tc.pw, tc.email, "", []string{"ops"})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Add = %v, want %v", err, tc.want)
			}
		})
	}
	u, err := a.Store.User(ctx, "alice")
	if err != nil || len(u.Groups) != 1 || u.Groups[0] != "ops" || u.Hash == "correct horse battery" {
		t.Fatalf("stored %+v, %v", u, err)
	}
}

func TestAdminChangesEndSessions(t *testing.T) {
	ctx := context.Background()
	for _, change := range []struct {
		name string
		do   func(a Admin) error
	}{
		{"passwd", func(a Admin) error { return a.SetPassword(ctx, "alice", "new horse battery staple") }},
		{"groups", func(a Admin) error { return a.SetGroups(ctx, "alice", []string{"dev"}) }},
		{"delete", func(a Admin) error { return a.Delete(ctx, "alice") }},
	} {
		t.Run(change.name, func(t *testing.T) {
			a, s := newAdmin(t)
			if _, err := a.Add(ctx, "alice", "correct horse battery", "", "", nil); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			_ = s.CreateSession(ctx, Session{ID: "s1", User: "alice", Created: now, Expires: now.Add(time.Hour)}, 10)
			if err := change.do(a); err != nil {
				t.Fatal(err)
			}
			if ok, _ := s.SessionLive(ctx, "s1", "alice"); ok {
				t.Fatal("session survived the change")
			}
		})
	}
	a, _ := newAdmin(t)
	if err := a.SetGroups(ctx, "nobody", nil); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("groups of an unknown user: %v", err)
	}
	if err := a.Delete(ctx, "root"); !errors.Is(err, ErrStaticUser) {
		t.Fatalf("delete of a users-file name: %v", err)
	}
	if err := a.SetPassword(ctx, "alice", "x"); err == nil {
		t.Fatal("password change of an unknown user succeeded")
	}
}

func TestParseGroups(t *testing.T) {
	for in, want := range map[string]string{"": "", "a": "a", " Ops , dev,ops ,": "ops,dev"} {
		got, err := ParseGroups(in)
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("ParseGroups(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"a b", "a:b", "a;b", "ä"} {
		if _, err := ParseGroups(bad); err == nil {
			t.Errorf("ParseGroups(%q) accepted", bad)
		}
	}
}
