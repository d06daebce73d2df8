package cookie

import (
	"net/http"
	"strings"
	"testing"
)

func cookieRequest(lines ...string) *http.Request {
	r, _ := http.NewRequest("GET", "http://gate/verify", nil)
	for _, l := range lines {
		r.Header.Add("Cookie", l)
	}
	return r
}

// TestValue: what the scan finds, case by case, and that net/http
// finds the same.
func TestValue(t *testing.T) {
	many := strings.Repeat("x=1; ", maxCookies) + "s=v"
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"s", nil, ""},
		{"s", []string{"s=v"}, "v"},
		{"s", []string{"a=1; s=v; b=2"}, "v"},
		{"s", []string{"  a=1 ;  s=v  ; b=2 "}, "v"},
		{"s", []string{"s = v"}, " v"}, // the key is trimmed, the value is not (then checked)
		{"s", []string{`s="v"`}, "v"},
		{"s", []string{`s="v`}, ""},
		{"s", []string{`s=a"b; s=ok`}, "ok"}, // an invalid value is skipped, the next one counts
		{"s", []string{"s=a\\b", "s=second"}, "second"},
		{"s", []string{"s=first; s=second"}, "first"},
		{"s", []string{"S=v"}, ""}, // names are case-sensitive
		{"s", []string{"ss=v; s"}, ""},
		{"s", []string{"s"}, ""}, // no "=": an empty value, as net/http reads it
		{"s", []string{"s="}, ""},
		{"s", []string{"a=1", "s=v2"}, "v2"},
		{"s", []string{many}, ""}, // past the cookie limit, none at all
		{"s", []string{"s=v\x7f"}, ""},
		{"s", []string{"s=é"}, ""},
		{"authgate_session", []string{"authgate_session=eyJ.a.b; other=1"}, "eyJ.a.b"},
		{"bad name", []string{"bad name=v"}, ""}, // not a token: never matched
	} {
		got := NewReader(tc.name).Value(cookieRequest(tc.lines...), nil)
		if got != tc.want {
			t.Errorf("%s in %q: %q, want %q", tc.name, tc.lines, got, tc.want)
		}
		ref := ""
		if ck, err := cookieRequest(tc.lines...).Cookie(tc.name); err == nil {
			ref = ck.Value
		}
		if got != ref {
			t.Errorf("%s in %q: %q, net/http %q", tc.name, tc.lines, got, ref)
		}
	}
}

// FuzzValue: the scan agrees with net/http's Request.Cookie on
// every input, one or two Cookie lines, for token and non-token names.
func FuzzValue(f *testing.F) {
	f.Add("authgate_session=abc", "", uint8(0))
	f.Add(`a=1; authgate_session="q"; b=2`, "", uint8(0))
	f.Add("authgate_session=a;b", "authgate_session=c", uint8(0))
	f.Add(" \tauthgate_session \t= v\r", "", uint8(0))
	f.Add("x=\"; authgate_session=\\", "authgate_session=ok", uint8(0))
	f.Add("s=1;;s=2", "s", uint8(1))
	f.Add("Ü=1; s=\x01", "", uint8(2))
	f.Add(strings.Repeat(";", maxCookies)+"s=1", "", uint8(1))
	f.Fuzz(func(t *testing.T, l1, l2 string, which uint8) {
		names := []string{"authgate_session", "s", "Ü", "a b", "x=y", "!#$%&'*+-.^_`|~"}
		name := names[int(which)%len(names)]
		lines := []string{l1}
		if l2 != "" {
			lines = append(lines, l2)
		}
		got := NewReader(name).Value(cookieRequest(lines...), nil)
		// With a cache that knows the valid values it was shown: the
		// same answer.
		if withKnown := NewReader(name).Value(cookieRequest(lines...), knownSet{got: true}); withKnown != got {
			t.Fatalf("%q in %q: %q, with known values %q", name, lines, got, withKnown)
		}
		want := ""
		if ck, err := cookieRequest(lines...).Cookie(name); err == nil {
			want = ck.Value
		}
		if got != want {
			t.Fatalf("%q in %q: scan %q, net/http %q", name, lines, got, want)
		}
	})
}

func BenchmarkValue(b *testing.B) {
	// A browser's Cookie line on a busy site: analytics, consent,
	// preferences, then the session.
	line := "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; consent=yes; theme=dark; lang=en; " +
		"authgate_session=eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlc2lnbmF0dXJl; _hjid=abc"
	r := cookieRequest(line)
	c := NewReader("authgate_session")
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if c.Value(r, nil) == "" {
				b.Fatal("no cookie")
			}
		}
	})
	b.Run("net-http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if ck, err := r.Cookie("authgate_session"); err != nil || ck.Value == "" {
				b.Fatal("no cookie")
			}
		}
	})
}

type knownSet map[string]bool

func (k knownSet) Known(v string) bool { return k[v] }
