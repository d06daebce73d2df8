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
			if !ipLiteral(e) {
				return true
			}
		}
	}
	return false
}

// ipLiteral is net.ParseIP(s) != nil, without its allocation for the
// host names it is asked about on every login redirect: an address is
// made of digits and dots, or has a colon.
func ipLiteral(s string) bool {
	if strings.IndexByte(s, ':') < 0 && strings.Trim(s, "0123456789.") != "" {
		return false
	}
	return net.ParseIP(s) != nil
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
	var rest string
	switch {
	case len(target) >= 8 && strings.EqualFold(target[:8], "https://"):
		rest = target[len("https://"):]
	case len(target) >= 7 && strings.EqualFold(target[:7], "http://"):
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
	last := ""
	for rest := h; ; {
		l, more, found := strings.Cut(rest, ".")
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
		if !found {
			last = l
			break
		}
		rest = more
	}
	return !isNumeric(last)
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

// WithParam appends key=value (value escaped) to u's query: the one way
// the gate adds a parameter to its login URL (rd, mfa, invite).
func WithParam(u, key, value string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + key + "=" + url.QueryEscape(value)
}

// SafeOriginal is Safe(scheme + "://" + host + uri) != "" for an original
// request's parts (scheme "http" or "https", uri starting with "/"), as
// /verify asks it on every refusal that carries a login URL: in the usual
// case (a plain host name, no "%" anywhere) without building the URL or
// parsing it again. Anything else goes through Safe itself;
// FuzzSafeOriginal checks the two agree.
func SafeOriginal(scheme, host, uri string, allowed Domains) bool {
	if scheme != "https" && scheme != "http" || uri == "" || uri[0] != '/' {
		return safeJoined(scheme, host, uri, allowed)
	}
	if len(scheme)+3+len(host)+len(uri) > maxRedirectLength {
		return false
	}
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c >= 0x7f || c == '\\' || c == '%' {
			return safeJoined(scheme, host, uri, allowed)
		}
	}
	// A plain host: letters, digits, "-" and "." with at least one letter
	// (so no IP literal, which Safe treats apart), then at most one
	// ":port". Safe's url.Parse cannot fail on such a URL, and finds this
	// host and port.
	name, port, hasPort := strings.Cut(host, ":")
	letter := false
	for i := 0; i < len(name); i++ {
		c := name[i] | 0x20 // ASCII lower case for letters
		switch {
		case c >= 'a' && c <= 'z':
			letter = true
		case name[i] >= '0' && name[i] <= '9', name[i] == '-', name[i] == '.':
		default:
			return safeJoined(scheme, host, uri, allowed)
		}
	}
	if !letter || hasPort && (port == "" || strings.IndexByte(port, ':') >= 0) {
		return safeJoined(scheme, host, uri, allowed)
	}
	if hasPort && !validPort(port) {
		return false
	}
	name = strings.ToLower(name)
	return validHostname(name) && allowed.allows(name)
}

func safeJoined(scheme, host, uri string, allowed Domains) bool {
	_, ok := Safe(scheme+"://"+host+uri, allowed)
	return ok
}

// LoginURL is a login page's URL, ready to carry a parameter: the prefix
// is built once, each URL in one allocation.
type LoginURL struct {
	base string // the login URL
	sep  string // "?" or "&"
}

// NewLoginURL prepares u.
func NewLoginURL(u string) LoginURL {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return LoginURL{base: u, sep: sep}
}

// String is the login URL alone.
func (l LoginURL) String() string { return l.base }

// WithOriginal is WithParam(l, "rd", scheme+"://"+host+uri) for parts
// SafeOriginal accepted, built in one allocation.
func (l LoginURL) WithOriginal(scheme, host, uri string) string {
	const sepEsc = "%3A%2F%2F" // "://", query-escaped
	n := len(l.base) + len(l.sep) + len("rd=") + escapedLen(scheme) + len(sepEsc) + escapedLen(host) + escapedLen(uri)
	var b strings.Builder
	b.Grow(n)
	b.WriteString(l.base)
	b.WriteString(l.sep)
	b.WriteString("rd=")
	appendEscaped(&b, scheme)
	b.WriteString(sepEsc)
	appendEscaped(&b, host)
	appendEscaped(&b, uri)
	return b.String()
}

// escapedLen and appendEscaped are url.QueryEscape's length and output
// (unreserved bytes as they are, space as "+", every other byte as %XX),
// written into a buffer sized once; FuzzQueryEscape checks them against
// url.QueryEscape.
func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && s[i] != ' ' {
			n += 2
		}
	}
	return n
}

func appendEscaped(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case unreserved(c):
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
}

// unreserved are the bytes RFC 3986 leaves unescaped in a query value.
func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}
