package policy

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want Policy
	}{
		{"", Policy{}},
		{"groups=Admins,%20ops&users=alice", Policy{Groups: [][]string{{"admins", "ops"}}, Users: [][]string{{"alice"}}}},
		{"groups=a&groups=b", Policy{Groups: [][]string{{"a"}, {"b"}}}},
		{"groups=", Policy{Groups: [][]string{{}}}},
		{"mfa=1&on_fail=redirect", Policy{MFA: true, OnFail: Redirect}},
		{"on_fail=401&on_fail=redirect", Policy{OnFail: Force401}},
		{"proxy=caddy", Policy{}},
		{"group=admins", Policy{Invalid: true}},
		{"mfa=otp", Policy{Invalid: true}},
		{"groups=a;b", Policy{Invalid: true}},
	} {
		got := Parse(tc.q)
		if got.Invalid != tc.want.Invalid || got.MFA != tc.want.MFA || got.OnFail != tc.want.OnFail ||
			len(got.Groups) != len(tc.want.Groups) || len(got.Users) != len(tc.want.Users) {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.q, got, tc.want)
			continue
		}
		for i := range got.Groups {
			if len(got.Groups[i]) != len(tc.want.Groups[i]) || len(got.Groups[i]) > 0 && got.Groups[i][0] != tc.want.Groups[i][0] {
				t.Errorf("Parse(%q).Groups = %q", tc.q, got.Groups)
			}
		}
	}
}

func TestCheck(t *testing.T) {
	p := Parse("groups=admins,ops&users=alice,bob")
	for _, tc := range []struct {
		user   string
		groups []string
		want   Refusal
	}{
		{"alice", []string{"OPS"}, None},
		{"carol", []string{"ops"}, Users},
		{"bob", []string{"dev"}, Groups},
		{"bob", nil, Groups},
	} {
		if got := p.Check(tc.user, tc.groups); got != tc.want {
			t.Errorf("Check(%s, %v) = %v, want %v", tc.user, tc.groups, got, tc.want)
		}
	}
	if Parse("group=x").Check("alice", nil) != Unreadable || !Parse("group=x").Narrows() || Parse("on_fail=401").Narrows() {
		t.Error("an unreadable query must refuse everyone and narrow; on_fail alone must not narrow")
	}
}

// FuzzPolicyMFA: appending mfa=1 to a readable query that asks for no
// second factor makes it ask for one (or makes it unreadable): a client
// appending parameters can only narrow; and nothing appended makes an
// unreadable query readable or drops a requirement.
func FuzzPolicyMFA(f *testing.F) {
	for _, s := range []string{"", "mfa=0", "mfa=off&mfa=no", "groups=admins", "proxy=caddy", "on_fail=401",
		"x=1&", "&", "mfa=1", "mfa=", "mfa", "a=%", "a=1;b=2", "mfa=0&", "users=a,b&mfa=false", "%6dfa=0", "mfa=%30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		p, appended := Parse(q), Parse(q+"&mfa=1")
		if !p.Invalid && !p.MFA && !appended.MFA && !appended.Invalid {
			t.Fatalf("%q + &mfa=1 does not require a second factor: %+v", q, appended)
		}
		if p.Invalid && !appended.Invalid || p.MFA && !appended.MFA && !appended.Invalid {
			t.Fatalf("appending widened %q: %+v -> %+v", q, p, appended)
		}
	})
}
