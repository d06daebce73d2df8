package accounts_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authgate/authgate/accounts"
)

// TestCanonicalUsername: case, width, invisible characters and padding fold
// to one name, so one account has one lock counter and one registration.
// Guards against one account being counted under two names (Authelia
// GHSA-m5mf-3963-4x26, CVE-2025-24806).
func TestCanonicalUsername(t *testing.T) {
	cases := []struct {
		in, want string
		err      bool
	}{
		{"alice", "alice", false},
		{"Alice", "alice", false},
		{"ALICE", "alice", false},
		{"  alice  ", "alice", false},
		{"ａｌｉｃｅ", "alice", false},       // fullwidth
		{"al\u200bice", "alice", false}, // zero-width space
		{"\ufeffalice", "alice", false},
		{"Straße", "strasse", false},
		{"bob.smith_1-x@example.com", "bob.smith_1-x@example.com", false},
		{"", "", true},
		{"   ", "", true},
		{"a:b", "", true},
		{"a b", "", true},
		{"a\x00b", "", true},
		{"a\nb", "", true},
		{"a/b", "", true},
		{strings.Repeat("a", 64), strings.Repeat("a", 64), false},
		{strings.Repeat("a", 65), "", true},
		{"\xff", "", true},
	}
	for _, tc := range cases {
		got, err := accounts.CanonicalUsername(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("CanonicalUsername(%q) = %q, %v; want %q, err=%v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestCheckNewUsername: new names that impersonate ("аlice" with a
// Cyrillic а beside "alice") or confuse ("..", "@", "-x" as Remote-User)
// are refused; names in one script, and Japanese or Korean mixing Han with
// their own scripts, are fine.
func TestCheckNewUsername(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"alice", true},
		{"bob.smith_1-x@example.com", true},
		{"2fa-bot", true},
		{"jürgen", true},
		{"андрей", true},
		{"ελένη", true},
		{"山田太郎", true},
		{"やまだ太郎", true},
		{"김철수", true},
		{"김金", true},
		{"андрей2", true},
		{"\u0430lice", false}, // Cyrillic а, Latin lice
		{"pаypal", false},
		{"αlice", false}, // Greek alpha
		{"..", false},
		{"@", false},
		{".alice", false},
		{"-x", false},
		{"_", false},
		{"@example.com", false},
	} {
		canon, err := accounts.CanonicalUsername(tc.name)
		if err != nil {
			t.Fatalf("%q is not even a valid name: %v", tc.name, err)
		}
		if err := accounts.CheckNewUsername(canon); (err == nil) != tc.ok {
			t.Errorf("CheckNewUsername(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestRegisterRefusesConfusableNames: registration applies the rule; a
// name that exists already (here in the users file) still signs in.
func TestRegisterRefusesConfusableNames(t *testing.T) {
	ctx := context.Background()
	f := newService(t, nil)
	if _, err := f.svc.Register(ctx, accounts.Registration{Username: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"\u0430lice", "..", "@"} {
		_, err := f.svc.Register(ctx, accounts.Registration{Username: name, Password: "correct horse battery"})
		if !errors.Is(err, accounts.ErrConfusableUsername) || accounts.ErrorCode(err) != accounts.Invalid {
			t.Errorf("Register(%q) = %v, want ErrConfusableUsername", name, err)
		}
	}
	h, _ := f.hasher.Hash(ctx, "old horse battery")
	old := newService(t, func(c *accounts.Config) { c.Static = map[string]accounts.User{"..": {Name: "..", Hash: h}} })
	if u, _, err := old.svc.SignIn(ctx, "192.0.2.1", accounts.Credentials{Username: "..", Password: "old horse battery"}); err != nil || u.Name != ".." {
		t.Fatalf("existing account %q: %v", "..", err)
	}
}
