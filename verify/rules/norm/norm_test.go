package norm

import (
	"strings"
	"testing"
)

func TestPath(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		safe     bool
	}{
		{"/", "/", true},
		{"", "/", true},
		{"/a/b", "/a/b", true},
		{"/a/b/", "/a/b/", true},
		{"/a//b", "/a/b", true},
		{"/a/./b", "/a/b", true},
		{"/a/../b", "/b", true},
		{"/a/b/..", "/a/", true},
		{"/%61%7E", "/a~", true},
		{"/a%20b", "/a%20b", true},
		{"/a%2fb", "/a%2Fb", false},
		{"/a%5Cb", "/a%5Cb", false},
		{"/a\\b", "/a%5Cb", false},
		{"/a%00", "/a%00", false},
		{"/a%zz", "/a%25zz", false},
		{"/a%", "/a%25", false},
		{"/%0%61", "/%250a", false},
		{"/../a", "/a", false},
		{"/a?b=/../c", "/a", true},
		{"/a#frag", "/a", true},
	} {
		got, safe := Path(tc.in)
		if got != tc.want || safe != tc.safe {
			t.Errorf("Path(%q) = %q, %v; want %q, %v", tc.in, got, safe, tc.want, tc.safe)
		}
	}
}

func TestHost(t *testing.T) {
	for in, want := range map[string]string{
		"App.Example.COM": "app.example.com", "app.example.com:8443": "app.example.com", "app.example.com.": "app.example.com",
		"[2001:db8::1]:443": "2001:db8::1", "2001:db8::1": "2001:db8::1", "app.example.com.:80": "app.example.com",
	} {
		if got := Host(in); got != want {
			t.Errorf("Host(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzPath: the result is always absolute, without a query,
// without "//" or dot segments, and normalising it again changes nothing;
// a safe result carries no encoded slash.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"/", "/public/../admin", "/public/%2e%2e/admin", "//admin", "/%61dmin", "/public%2fadmin", "/a\\b", "/%zz", "/../x", "/a?b#c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, safe := Path(raw)
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.ContainsAny(p, "?#") {
			t.Fatalf("Path(%q) = %q", raw, p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("Path(%q) = %q keeps a dot segment", raw, p)
			}
		}
		if again, _ := Path(p); again != p {
			t.Fatalf("not idempotent: %q -> %q -> %q", raw, p, again)
		}
		if safe && (strings.Contains(strings.ToUpper(p), "%2F") || strings.Contains(strings.ToUpper(p), "%5C")) {
			t.Fatalf("safe path %q carries an encoded slash", p)
		}
		r := Reading(raw)
		if !strings.HasPrefix(r, "/") || strings.Contains(r, "//") {
			t.Fatalf("Reading(%q) = %q", raw, r)
		}
	})
}
