package accounts_test

import (
	"strings"
	"testing"

	"github.com/authgate/authgate/accounts"
)

func TestParseGroups(t *testing.T) {
	for in, want := range map[string]string{"": "", "a": "a", " Ops , dev,ops ,": "ops,dev"} {
		got, err := accounts.ParseGroups(in)
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("ParseGroups(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"a b", "a:b", "a;b", "ä", strings.Repeat("g", 65)} {
		_, err := accounts.ParseGroups(bad)
		if err == nil {
			t.Errorf("ParseGroups(%q) accepted", bad)
		} else if accounts.ErrorCode(err) != accounts.Invalid {
			t.Errorf("ParseGroups(%q) = %v, not an Invalid error", bad, err)
		}
	}
}
