package accounts_test

import (
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
