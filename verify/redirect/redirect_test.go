package redirect

import (
	"bufio"
	"net/url"
	"os"
	"strings"
	"testing"
)

// TestOpenRedirectCorpus runs oauth2-proxy's public open-redirect payloads,
// the regression list it added with the fix for GHSA-5m6c-jp6f-2vcv
// (CVE-2020-4037); it also holds the "/\" and encoded-whitespace shapes of
// GHSA-qqxw-m5fj-f7gv (CVE-2020-5233) and GHSA-j7px-6hwj-hpjg
// (CVE-2020-11053). Every one must be refused for the allowed host they were
// written against.
func TestOpenRedirectCorpus(t *testing.T) {
	f, err := os.Open("testdata/openredirects.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	allowed := Domains{"www.whitelisteddomain.tld"}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		payload, err := url.QueryUnescape(sc.Text())
		if err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		if got, ok := Safe(payload, allowed); ok {
			t.Errorf("line %d: accepted %q as %q", n, payload, got)
		}
	}
	if n != 559 {
		t.Fatalf("read %d payloads, want 559", n)
	}
}

// TestSafe guards against open redirects through rd: "/\evil.com"
// (oauth2-proxy GHSA-qqxw-m5fj-f7gv, CVE-2020-5233), tabs and newlines inside
// the slashes (GHSA-j7px-6hwj-hpjg, CVE-2020-11053), "evilexample.com"
// passing as a subdomain of "example.com" (GHSA-4mf2-f3wh-gvf2,
// CVE-2021-21291), and the other bypass shapes browsers repair.
func TestSafe(t *testing.T) {
	allowed := Domains{"example.com", "127.0.0.1"}
	cases := []struct {
		in string
		ok bool
	}{
		{"https://example.com/", true},
		{"https://app.example.com/reports?q=1", true},
		{"http://app.example.com:8443/x#frag", true},
		{"HTTPS://App.Example.com/x", true},
		{"/reports", true},
		{"/", true},
		{"/reports/", true},
		{"/a.b/c..d/.e", true},
		{"/reports?rd=//evil.com", false},
		{"/a/../b", false},
		{"/a/./b", false},
		{"/a/..", false},
		{"http://127.0.0.1:9000/x", true},

		{"", false},
		{"//evil.com", false},
		{"///evil.com", false},
		{"/\\evil.com", false},
		{"\\\\evil.com", false},
		{"https:evil.com", false},
		{"https:/evil.com", false},
		{"https:///evil.com", false},
		{"javascript:alert(1)", false},
		{"data:text/html,x", false},
		{"ftp://example.com/", false},
		{"https://evil.com", false},
		{"https://evilexample.com", false},
		{"https://example.com.evil.com", false},
		{"https://example.com@evil.com", false},
		{"https://user:pw@example.com", false},
		{"https://evil.com\\@example.com", false},
		{"https://evil.com%2F@example.com", false},
		{"https://example%2ecom", false},
		{"https://evil.com%23.example.com", false},
		{"https://example.com./", false},
		{"https://exa\tmple.com", false},
		{"/\t/evil.com", false},
		{"/\n/evil.com", false},
		{" https://example.com", false},
		{"https://example。com", false},
		{"https://ｅxample.com", false},
		{"https://2130706433/", false},
		{"https://0x7f000001/", false},
		{"https://127.1/", false},
		{"https://[::1]/", false},
		{"https://x.127.0.0.1/", false},
		{"https://example.com:99999/", false},
		{"https://example.com:/", false},
		{"https://-example.com/", false},
		{"https://example.com" + strings.Repeat("/a", 2000), false},
	}
	for _, tc := range cases {
		got, ok := Safe(tc.in, allowed)
		if ok != tc.ok {
			t.Errorf("Safe(%q) = %q, %v; want ok=%v", tc.in, got, ok, tc.ok)
		}
	}
}

func TestWithParam(t *testing.T) {
	if got := WithParam("https://auth.example.com/login", "rd", "https://app.example.com/a?b=c&d"); got != "https://auth.example.com/login?rd=https%3A%2F%2Fapp.example.com%2Fa%3Fb%3Dc%26d" {
		t.Fatal(got)
	}
	if got := WithParam("https://auth.example.com/login?theme=x", "rd", "/a"); got != "https://auth.example.com/login?theme=x&rd=%2Fa" {
		t.Fatal(got)
	}
}

// browserHost is the host a WHATWG-conforming browser navigates to for an
// accepted target: Go's parser agrees with browsers on the inputs
// SafeRedirect lets through (printable ASCII, explicit http(s) scheme, no
// userinfo or percent signs in the authority), and relative targets stay on
// the gate's own host.
func browserHost(target string) (string, bool) {
	if strings.HasPrefix(target, "/") {
		return "", true
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", false
	}
	return strings.ToLower(u.Hostname()), true
}

// FuzzSafe checks the invariant that whatever SafeRedirect accepts
// leads, as a browser reads it, to an allowed host or stays on the gate: the
// open-redirect class, looked for beyond the known payloads.
func FuzzSafe(f *testing.F) {
	for _, s := range []string{
		"https://app.example.com/x", "/x", "//evil.com", "/\\evil.com", "https:evil.com",
		"https://example.com@evil.com", "https://evil.com#@example.com", "http://example.com:8080/",
		"https://ex\tample.com", "https://2130706433", "https://example.com./",
	} {
		f.Add(s)
	}
	allowed := Domains{"example.com"}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := Safe(in, allowed)
		if !ok {
			if out != "" {
				t.Fatalf("refused but returned %q", out)
			}
			return
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c <= ' ' || c >= 0x7f || c == '\\' {
				t.Fatalf("accepted %q with byte %#x", out, c)
			}
		}
		if strings.HasPrefix(out, "//") {
			t.Fatalf("accepted scheme-relative %q", out)
		}
		host, ok := browserHost(out)
		if !ok {
			t.Fatalf("accepted unparsable %q", out)
		}
		if host != "" && host != "example.com" && !strings.HasSuffix(host, ".example.com") {
			t.Fatalf("accepted %q leading to %q", out, host)
		}
		if host == "" && !strings.HasPrefix(out, "/") {
			t.Fatalf("accepted %q without a host", out)
		}
	})
}
