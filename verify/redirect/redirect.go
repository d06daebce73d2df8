// Package redirect decides which return-to URLs (rd) may ever be followed
// or emitted: the allowed domains, the one strict check every rd passes
// (on /login, /logout and /verify alike), and the login URL that carries
// one. It imports nothing of authgate.
package redirect

import (
	"net"
	"net/url"
	"regexp"
	"strings"
)

// maxRedirectLength bounds an rd value; browsers and proxies cap URLs at a
// few KiB and a login redirect has no reason to be longer.
const maxRedirectLength = 2048

// Domains is the set of hosts a return-to URL may point at. Each entry allows
// the host itself and every subdomain of it ("example.com" allows
// "app.example.com" but not "evilexample.com").
type Domains []string

// ParseDomains normalises a list of host names: lower case, no trailing dot,
// no port, no empty entries. Entries must be plain ASCII host names or IP
// literals.
func ParseDomains(list []string) (Domains, error) {
	var d Domains
	for _, e := range list {
		e = strings.ToLower(strings.TrimSpace(e))
		e = strings.TrimPrefix(e, ".")
		if e == "" {
			continue
		}
		if !validHostname(e) && net.ParseIP(e) == nil {
			return nil, &url.Error{Op: "parse", URL: e, Err: errBadHost}
		}
		d = append(d, e)
	}
	return d, nil
}

// UnmarshalText reads a comma-separated list, as configuration writes it.
func (d *Domains) UnmarshalText(b []byte) error {
	parsed, err := ParseDomains(strings.Split(string(b), ","))
	if err != nil {
		return err
	}
	*d = parsed
	return nil
}

// allows reports whether host (already lower-cased and validated) is one of
// the domains or below one.
func (d Domains) allows(host string) bool {
	for _, e := range d {
		if host == e {
			return true
		}
		if len(host) > len(e) && host[len(host)-len(e)-1] == '.' && strings.HasSuffix(host, e) {
			// Subdomains only for names; "1.2.3.4" must not allow "x.1.2.3.4".
			if net.ParseIP(e) == nil {
				return true
			}
		}
	}
	return false
}

// dotSegments finds "//", "/./" and "/../" (and a trailing "/." or "/..")
// anywhere in a relative target, query included. A same-host path never
// needs them, and they are the raw material of redirect bypasses that rely
// on a later normalisation step or on an app that echoes a query parameter
// into its own redirect (oauth2-proxy's invalidRedirectRegex, same idea).
var dotSegments = regexp.MustCompile(`/(\.{1,2})?/|/\.{1,2}$`)

type hostError string

func (e hostError) Error() string { return string(e) }

const errBadHost = hostError("not a valid host name")

// Safe returns target if a browser following it would land on an
// allowed host (or on the gate's own host, for a relative path), and false
// otherwise. It is the single gate for every rd the service follows or
// emits: /login, /logout and /verify all call it (Authelia's logout endpoint
// skipped its check: GHSA-36f2-fcrx-fp4j, CVE-2021-29456).
//
// The rules are strict on purpose, because browsers repair malformed URLs in
// ways that differ from Go's parser (oauth2-proxy GHSA-qqxw-m5fj-f7gv /
// CVE-2020-5233 for "/\", GHSA-j7px-6hwj-hpjg / CVE-2020-11053 for encoded
// whitespace, GHSA-5m6c-jp6f-2vcv / CVE-2020-4037, and GHSA-4mf2-f3wh-gvf2 /
// CVE-2021-21291 for a suffix match without a dot boundary):
//   - ASCII only, no control characters, whitespace or backslashes
//     (browsers drop tabs/newlines and read "\" as "/");
//   - either a path starting with exactly one "/", or an absolute URL that
//     starts with http:// or https:// (so "https:evil.com", "///evil.com"
//     and "javascript:" are out);
//   - no userinfo and no "%" in the authority (no "allowed.com@evil.com",
//     no encoded dots or slashes in a host);
//   - a host made of letters, digits, "-" and "." only, without a trailing
//     dot, that is not a bare number (browsers read "2130706433" as an IPv4
//     address), and that equals an allowed domain or ends in "."+domain.
func Safe(target string, allowed Domains) (string, bool) {
	if target == "" || len(target) > maxRedirectLength {
		return "", false
	}
	for i := 0; i < len(target); i++ {
		c := target[i]
		if c <= ' ' || c >= 0x7f || c == '\\' {
			return "", false
		}
	}
	if target[0] == '/' {
		if len(target) > 1 && target[1] == '/' {
			return "", false
		}
		if dotSegments.MatchString(target) {
			return "", false
		}
		u, err := url.Parse(target)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			return "", false
		}
		return target, true
	}
	lower := strings.ToLower(target)
	var rest string
	switch {
	case strings.HasPrefix(lower, "https://"):
		rest = target[len("https://"):]
	case strings.HasPrefix(lower, "http://"):
		rest = target[len("http://"):]
	default:
		return "", false
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	if authority == "" || strings.ContainsAny(authority, "@%") || strings.HasSuffix(authority, ":") {
		return "", false
	}
	u, err := url.Parse(target)
	if err != nil || u.User != nil || u.Opaque != "" || u.Host != authority {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if port := u.Port(); port != "" && !validPort(port) {
		return "", false
	}
	if net.ParseIP(host) != nil {
		// IP literals only when the operator listed that exact address.
		for _, d := range allowed {
			if d == host {
				return target, true
			}
		}
		return "", false
	}
	if !validHostname(host) || !allowed.allows(host) {
		return "", false
	}
	return target, true
}

// validHostname accepts LDH host names with at least one label, no empty
// labels (so no trailing dot), and a last label that is not all digits or a
// hex number, which browsers would read as an IPv4 address.
func validHostname(h string) bool {
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
	last := labels[len(labels)-1]
	if isNumeric(last) {
		return false
	}
	return true
}

// isNumeric reports whether a label would be read as a number by the WHATWG
// URL host parser (decimal, 0x-hex or octal).
func isNumeric(l string) bool {
	if strings.HasPrefix(l, "0x") {
		l = l[2:]
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

func validPort(p string) bool {
	if len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n > 0 && n < 65536
}

// Login builds "<loginURL>?rd=<target>" with target escaped as a
// query value. target must already have passed Safe; if it is empty
// the login URL is returned alone.
func Login(loginURL, target string) string {
	if target == "" {
		return loginURL
	}
	return WithParam(loginURL, "rd", target)
}

// WithParam appends key=value (value escaped) to u's query: the one way
// the gate adds a parameter to its login URL (rd, mfa, invite).
func WithParam(u, key, value string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + key + "=" + url.QueryEscape(value)
}
