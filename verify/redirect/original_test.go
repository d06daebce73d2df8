package redirect

import (
	"net/url"
	"strings"
	"testing"
)

// TestSafeOriginal: the parts of an original request are judged as Safe
// judges the URL they make, fast path or not, and the login URL built from
// them is WithParam's, byte for byte.
func TestSafeOriginal(t *testing.T) {
	allowed := Domains{"example.com", "127.0.0.1"}
	login := NewLoginURL("https://auth.example.com/login")
	for _, tc := range []struct {
		scheme, host, uri string
		ok                bool
	}{
		{"https", "app.example.com", "/x", true},
		{"https", "APP.Example.COM", "/x?y=1#f", true},
		{"http", "example.com:8080", "/", true},
		{"https", "example.com:0", "/", false},
		{"https", "example.com:", "/", false},
		{"https", "example.com:1:2", "/", false},
		{"https", "evilexample.com", "/", false},
		{"https", "example.com.", "/", false},
		{"https", "127.0.0.1", "/a", true},
		{"https", "127.0.0.2", "/a", false},
		{"https", "2130706433", "/", false},
		{"https", "app.example.com", "/a%2Fb", true},
		{"https", "app.example.com", "/a%zz", false},
		{"https", "app.example.com", "/a b", false},
		{"https", "app.example.com", "/a\\b", false},
		{"https", "app.example.com@evil.com", "/", false},
		{"https", "app.example.com", "/" + strings.Repeat("a", maxRedirectLength), false},
		{"https", "", "/", false},
		{"ftp", "app.example.com", "/", false},
	} {
		joined := tc.scheme + "://" + tc.host + tc.uri
		if got := SafeOriginal(tc.scheme, tc.host, tc.uri, allowed); got != tc.ok {
			t.Errorf("SafeOriginal(%q): %v, want %v", joined, got, tc.ok)
		}
		if _, ok := Safe(joined, allowed); ok != tc.ok {
			t.Errorf("Safe(%q): %v, want %v", joined, ok, tc.ok)
		}
		if tc.ok {
			if got, want := login.WithOriginal(tc.scheme, tc.host, tc.uri), WithParam(login.String(), "rd", joined); got != want {
				t.Errorf("WithOriginal(%q) = %q, want %q", joined, got, want)
			}
		}
	}
	if got := NewLoginURL("https://auth.example.com/login?theme=x").WithOriginal("https", "a.example.com", "/p"); got != "https://auth.example.com/login?theme=x&rd=https%3A%2F%2Fa.example.com%2Fp" {
		t.Errorf("login URL with a query: %q", got)
	}
}

// FuzzSafeOriginal: SafeOriginal and Safe on the joined URL always agree,
// and so do WithOriginal and WithParam.
func FuzzSafeOriginal(f *testing.F) {
	f.Add("https", "app.example.com", "/x?y=1")
	f.Add("http", "Example.com:8080", "/%41")
	f.Add("https", "127.0.0.1", "/")
	f.Add("https", "a.example.com:99999", "/")
	f.Add("https", "a..example.com", "/")
	f.Add("https", "-a.example.com", "/#frag")
	f.Add("HTTPS", "example.com", "/")
	f.Add("https", "example.com", "x")
	allowed := Domains{"example.com", "127.0.0.1"}
	login := NewLoginURL("https://auth.example.com/login")
	f.Fuzz(func(t *testing.T, scheme, host, uri string) {
		joined := scheme + "://" + host + uri
		_, want := Safe(joined, allowed)
		if got := SafeOriginal(scheme, host, uri, allowed); got != want {
			t.Fatalf("SafeOriginal(%q, %q, %q) = %v, Safe = %v", scheme, host, uri, got, want)
		}
		if want {
			if got, want := login.WithOriginal(scheme, host, uri), WithParam(login.String(), "rd", joined); got != want {
				t.Fatalf("WithOriginal = %q, WithParam = %q", got, want)
			}
		}
	})
}

// FuzzQueryEscape: the escaping the login URL is built with is
// url.QueryEscape's, for every input.
func FuzzQueryEscape(f *testing.F) {
	f.Add("https://app.example.com/a b?c=d&e=%zz#f~-._")
	f.Add("\x00\xff é")
	f.Fuzz(func(t *testing.T, s string) {
		var b strings.Builder
		appendEscaped(&b, s)
		want := url.QueryEscape(s)
		if b.String() != want || escapedLen(s) != len(want) {
			t.Fatalf("%q: %q (length %d), url.QueryEscape %q", s, b.String(), escapedLen(s), want)
		}
	})
}

// FuzzValidHostname: the label walk accepts exactly what splitting on "."
// accepted before it.
func FuzzValidHostname(f *testing.F) {
	for _, s := range []string{"example.com", "a..b", "a.", ".a", "a.1", "a.0x1f", "-a.b", "a-.b", strings.Repeat("a", 64) + ".b", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if got, want := validHostname(h), validHostnameSplit(h); got != want {
			t.Fatalf("validHostname(%q) = %v, by splitting %v", h, got, want)
		}
	})
}

func validHostnameSplit(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return !isNumeric(labels[len(labels)-1])
}

func BenchmarkLoginLocation(b *testing.B) {
	allowed := Domains{"example.com"}
	login := NewLoginURL("https://auth.example.com/login")
	b.Run("parts", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !SafeOriginal("https", "app.example.com", "/reports?page=2", allowed) {
				b.Fatal("refused")
			}
			_ = login.WithOriginal("https", "app.example.com", "/reports?page=2")
		}
	})
	b.Run("joined", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rd, ok := Safe("https"+"://"+"app.example.com"+"/reports?page=2", allowed)
			if !ok {
				b.Fatal("refused")
			}
			_ = WithParam(login.String(), "rd", rd)
		}
	})
}
