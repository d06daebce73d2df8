package mfa

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// A known secret and an instant in the middle of a step, so the edges are
// exactly one and two periods away.
const testSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

var mid = time.Date(2026, 12, 3, 10, 0, 15, 0, time.UTC)

func code(t *testing.T, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(testSecret, at) // the library's defaults: what apps compute
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMatchWindowEdges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset time.Duration // of the code's time from the server's clock
		ok     bool
	}{
		{"current step", 0, true},
		{"one step behind", -Period, true},
		{"one step ahead", Period, true},
		{"two steps behind", -2 * Period, false},
		{"two steps ahead", 2 * Period, false},
		{"last instant of the step before", -16 * time.Second, true},
		{"first instant two steps back", -46 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := mid.Add(tc.offset)
			step, ok := Match(testSecret, code(t, at), mid)
			if ok != tc.ok {
				t.Fatalf("Match = %v, want %v", ok, tc.ok)
			}
			if ok && step != Step(at) {
				t.Fatalf("step = %d, want %d (the code's own step)", step, Step(at))
			}
		})
	}
}

func TestMatchRefusesMalformed(t *testing.T) {
	good := code(t, mid)
	for _, c := range []string{"", "12345", "1234567", " " + good[1:], good + " ", "12345a", "١٢٣٤٥٦"} {
		if _, ok := Match(testSecret, c, mid); ok {
			t.Errorf("Match(%q) accepted", c)
		}
	}
	if _, ok := Match("not base32!", good, mid); ok {
		t.Error("a broken secret matched")
	}
}

func TestStepEnd(t *testing.T) {
	s := Step(mid)
	if got, want := StepEnd(s), time.Date(2026, 12, 3, 10, 1, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("StepEnd = %v, want %v", got, want)
	}
}

func TestNewKey(t *testing.T) {
	secret, raw, err := NewKey("My Gate", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 32 {
		t.Errorf("secret %d base32 characters, want 32 (160 bits)", len(secret))
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/My Gate:alice" ||
		q.Get("secret") != secret || q.Get("issuer") != "My Gate" ||
		q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Errorf("otpauth URL %s", raw)
	}
	c, _ := Code(secret, mid)
	if _, ok := Match(secret, c, mid); !ok {
		t.Error("a fresh key's own code does not match")
	}
	if again, err := KeyURL("My Gate", "alice", secret); err != nil || again != raw {
		t.Errorf("KeyURL = %q, %v; want %q", again, err, raw)
	}
	other, _, _ := NewKey("My Gate", "alice")
	if other == secret {
		t.Error("two keys alike")
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, err := NewRecoveryCodes()
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("%d codes, want 10", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 19 || strings.Count(c, "-") != 3 {
			t.Errorf("code %q: want xxxx-xxxx-xxxx-xxxx", c)
		}
		h, err := HashRecoveryCode("alice", c)
		if err != nil {
			t.Fatalf("%q: %v", c, err)
		}
		if seen[h] {
			t.Fatal("two codes alike")
		}
		seen[h] = true
		// Typed loosely, it is the same code.
		loose := strings.ToUpper(strings.ReplaceAll(c, "-", " "))
		if h2, _ := HashRecoveryCode("alice", loose); h2 != h {
			t.Errorf("%q read differently from %q", loose, c)
		}
		// Another user's code is another hash.
		if h3, _ := HashRecoveryCode("bob", c); h3 == h {
			t.Error("hash not bound to the user")
		}
	}
	for _, bad := range []string{"", "short", "zzzz-zzzz-zzzz-zzz", "uuuu-uuuu-uuuu-uuuu", strings.Repeat("a", 200)} {
		if _, err := HashRecoveryCode("alice", bad); err == nil {
			t.Errorf("%q accepted as a recovery code", bad)
		}
	}
}

func FuzzHashRecoveryCode(f *testing.F) {
	f.Add("alice", "abcd-efgh-jkmn-pqrs")
	f.Add("alice", "ABCD EFGH JKMN PQRS")
	f.Add("", "----")
	f.Fuzz(func(t *testing.T, user, code string) {
		h, err := HashRecoveryCode(user, code)
		if err == nil && len(h) != 64 {
			t.Fatalf("hash %q", h)
		}
	})
}

func FuzzMatch(f *testing.F) {
	f.Add("123456")
	f.Add("")
	f.Add("12345678901234567890")
	f.Fuzz(func(t *testing.T, c string) {
		if _, ok := Match(testSecret, c, mid); ok && c != code(t, mid) && c != code(t, mid.Add(Period)) && c != code(t, mid.Add(-Period)) {
			t.Fatalf("%q matched", c)
		}
	})
}
