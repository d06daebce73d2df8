package forwarded

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/authgate/authgate/verify/redirect"
)

// browserAccept is what Chromium sends for a page load.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

// TestOriginalRequest: forwarded headers count only from a trusted proxy,
// and a client-added X-Original-URL cannot outrank them. Guards against
// deciding on a client-chosen X-Forwarded-* value (oauth2-proxy
// GHSA-7x63-xv5r-3p2x, CVE-2026-40575; Traefik GHSA-6384-m2mw-rf54,
// CVE-2026-35051).
func TestOriginalRequest(t *testing.T) {
	cases := []struct {
		name    string
		hdr     map[string]string
		trusted bool
		want    Original
	}{
		{"traefik", map[string]string{"X-Forwarded-Method": "POST", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/a?b=c"}, true,
			Original{Method: "POST", Scheme: "https", Host: "app.example.com", URI: "/a?b=c", Caller: CallerForwarded}},
		{"client X-Original-URL never outranks X-Forwarded-*", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/a", "X-Original-Url": "https://evil.com/x"}, true,
			Original{Method: "GET", Scheme: "https", Host: "app.example.com", URI: "/a", Caller: CallerOriginalURL}},
		{"ingress-nginx", map[string]string{"X-Original-Url": "https://app.example.com/p?q=1", "X-Original-Method": "DELETE", "X-Forwarded-Proto": ""}, true,
			Original{Method: "DELETE", Scheme: "https", Host: "app.example.com", URI: "/p?q=1", Caller: CallerOriginalURL}},
		{"chained proto list", map[string]string{"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "a.example.com", "X-Forwarded-Uri": "/"}, true,
			Original{Method: "GET", Scheme: "https", Host: "a.example.com", URI: "/", Caller: CallerForwarded}},
		{"unknown scheme left empty", map[string]string{"X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "a.example.com", "X-Forwarded-Uri": "/"}, true,
			Original{Method: "GET", Host: "a.example.com", URI: "/", Caller: CallerForwarded}},
		{"untrusted peer", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/a"}, false,
			Original{Method: "GET", Caller: CallerUnknown}},
		// No forwarded headers at all (a client can get a proxy to drop them:
		// Traefik GHSA-62c8-mh53-4cqv, CVE-2024-45410) means no original URL.
		{"nothing", nil, true, Original{Method: "GET", Caller: CallerUnknown}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/verify", nil)
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			if got := OriginalRequest(r, tc.trusted); got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestTrustedProxies: only listed peers are proxies, and an unparsable peer
// is not one. Trusting forwarded headers from any client is how oauth2-proxy's
// X-Forwarded-Uri bypass worked (GHSA-7x63-xv5r-3p2x, CVE-2026-40575).
func TestTrustedProxies(t *testing.T) {
	tp, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7", "::1/128"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "192.0.2.7": true, "192.0.2.8": false, "::1": true,
		"::ffff:10.0.0.1": true, "203.0.113.1": false, "127.0.0.1": false,
	} {
		if got := tp.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v", addr, got)
		}
	}
	if _, err := ParseTrustedProxies([]string{"10.0.0.0/33"}); err == nil {
		t.Error("accepted a bad prefix")
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "garbage"
	if tp.Peer(r) {
		t.Error("trusted an unparsable peer")
	}
}

func TestPrefersHTML(t *testing.T) {
	for accept, want := range map[string]bool{
		browserAccept:                       true,
		"text/html":                         true,
		"*/*":                               false,
		"":                                  false,
		"application/json":                  false,
		"application/json;q=0.9, text/html": true,
		"text/html;q=0.1, application/json": false,
		"text/html;q=0.5, */*;q=0.5":        true,
		"text/html;q=abc":                   false,
		"text/html;q=1.000":                 true,
		"application/xhtml+xml, */*;q=0.1":  true,
		"text/html;;;, image/png;q=0.9":     false,
		strings.Repeat("text/plain,", 100):  false,
	} {
		if got := prefersHTML(accept); got != want {
			t.Errorf("prefersHTML(%q) = %v, want %v", accept, got, want)
		}
	}
}

// FuzzOriginalRequest feeds arbitrary forwarded headers through the parts
// of /verify that read them: nothing panics, and any rd the gate would put
// into a Location points at an allowed host.
func FuzzOriginalRequest(f *testing.F) {
	f.Add("GET", "https", "app.example.com", "/a?b=c", "", "text/html")
	f.Add("", "", "", "", "https://app.example.com/x", "*/*")
	f.Add("POST", "http, https", "evil.com", "//evil.com", "::", "text/html;q=0")
	f.Add("GET", "HTTPS", "app.example.com:443", "\\evil", "%zz", "text/html;q=0.")
	allowed := redirect.Domains{"example.com"}
	f.Fuzz(func(t *testing.T, method, proto, host, uri, xou, accept string) {
		r := httptest.NewRequest("GET", "/verify", nil)
		r.RemoteAddr = "127.0.0.1:1"
		r.Header = http.Header{
			"X-Forwarded-Method": {method}, "X-Forwarded-Proto": {proto}, "X-Forwarded-Host": {host},
			"X-Forwarded-Uri": {uri}, "X-Original-Url": {xou}, "Accept": {accept},
		}
		if uri == "" {
			delete(r.Header, "X-Forwarded-Uri")
		}
		o := OriginalRequest(r, true)
		_ = IsNavigation(r, o)
		// As /verify builds its login URL's rd from the parts.
		if o.Scheme == "" || o.Host == "" {
			return
		}
		path := o.URI
		if path == "" || path[0] != '/' {
			path = "/" + path
		}
		if !redirect.SafeOriginal(o.Scheme, o.Host, path, allowed) {
			return
		}
		rd := o.Scheme + "://" + o.Host + path
		// redirect.SafeOriginal (Safe) admits only URLs that Go and browsers read alike
		// (its own fuzz target checks them with a browser's reading).
		u, err := url.Parse(rd)
		if err != nil {
			t.Fatalf("rd %q does not parse: %v", rd, err)
		}
		if h := u.Hostname(); h != "" && h != "example.com" && !strings.HasSuffix(h, ".example.com") {
			t.Fatalf("rd %q from headers leads to %q", rd, h)
		}
	})
}

// TestClientIP: the address failures are counted against. X-Real-IP was
// documented as trusted but never read, so behind a proxy that sends only
// X-Real-IP every client shared the proxy's counter and twenty failures
// from anyone locked everyone out.
func TestClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"127.0.0.0/8", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		hdr        map[string][]string
		want       string
	}{
		{"untrusted peer, headers ignored", "198.51.100.7:4000", map[string][]string{"X-Forwarded-For": {"203.0.113.1"}, "X-Real-Ip": {"203.0.113.2"}}, "198.51.100.7"},
		{"trusted peer, no headers", "127.0.0.1:4000", nil, "127.0.0.1"},
		{"X-Real-IP alone", "127.0.0.1:4000", map[string][]string{"X-Real-Ip": {"203.0.113.2"}}, "203.0.113.2"},
		{"X-Real-IP in brackets", "127.0.0.1:4000", map[string][]string{"X-Real-Ip": {"[2001:db8::2]"}}, "2001:db8::2"},
		{"X-Forwarded-For wins over X-Real-IP", "127.0.0.1:4000", map[string][]string{"X-Forwarded-For": {"203.0.113.1"}, "X-Real-Ip": {"203.0.113.2"}}, "203.0.113.1"},
		{"client's own entries are never reached", "127.0.0.1:4000", map[string][]string{"X-Forwarded-For": {"1.2.3.4, 203.0.113.1, 10.0.0.5"}}, "203.0.113.1"},
		{"several header lines", "127.0.0.1:4000", map[string][]string{"X-Forwarded-For": {"1.2.3.4", "203.0.113.1"}}, "203.0.113.1"},
		{"every hop trusted", "127.0.0.1:4000", map[string][]string{"X-Forwarded-For": {"10.0.0.9, 10.0.0.5"}}, "10.0.0.9"},
		{"garbage stops at the peer", "127.0.0.1:4000", map[string][]string{"X-Forwarded-For": {"203.0.113.1, nonsense"}}, "127.0.0.1"},
		{"garbage X-Real-IP", "127.0.0.1:4000", map[string][]string{"X-Real-Ip": {"nonsense"}}, "127.0.0.1"},
		{"IPv4-mapped peer", "[::ffff:127.0.0.1]:4000", map[string][]string{"X-Real-Ip": {"203.0.113.2"}}, "203.0.113.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for k, v := range tc.hdr {
				r.Header[k] = v
			}
			if got := trusted.ClientIP(r); got != tc.want {
				t.Fatalf("ClientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDefaultTrustedProxiesLoopbackOnly: by default only a proxy on the
// same machine is believed; a pod or container on a private network is not.
func TestDefaultTrustedProxiesLoopbackOnly(t *testing.T) {
	trusted, _ := ParseTrustedProxies(DefaultTrustedProxies)
	for addr, want := range map[string]bool{"127.0.0.1": true, "::1": true, "10.1.2.3": false, "172.17.0.2": false, "192.168.1.10": false, "fd00::1": false} {
		if got := trusted.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("default trusts %s: %v, want %v", addr, got, want)
		}
	}
}

// FuzzOrigin: a complete origin Origin reads is the one OriginalRequest
// reads, whatever the headers say; and one dialect alone is read alike.
func FuzzOrigin(f *testing.F) {
	f.Add("https", "app.example.com", "/x", "")
	f.Add("", "", "", "https://app.example.com:8443/a?b")
	f.Add("ftp", "h", "/", "http://other.example.com/")
	f.Add("HTTPS, http", "a.example.com, b", "/p", "")
	f.Add("", "", "", "https://user@host/x")
	f.Add("", "payroll.example.com", "/x", "https://app.example.com/x")
	f.Fuzz(func(t *testing.T, proto, host, uri, original string) {
		r, _ := http.NewRequest("GET", "/verify", nil)
		for k, v := range map[string]string{"X-Forwarded-Proto": proto, "X-Forwarded-Host": host, "X-Forwarded-Uri": uri, "X-Original-Url": original} {
			if v != "" {
				r.Header[k] = []string{v}
			}
		}
		for _, trusted := range []bool{true, false} {
			o := OriginalRequest(r, trusted)
			sch, h := Origin(r, trusted)
			complete := o.Scheme != "" && o.Host != ""
			oneDialect := original == "" || uri == ""
			if sch != "" && h != "" && (sch != o.Scheme || h != o.Host) || oneDialect && complete != (sch != "" && h != "") {
				t.Fatalf("trusted %v: Origin = %q %q, OriginalRequest = %q %q", trusted, sch, h, o.Scheme, o.Host)
			}
		}
	})
}
