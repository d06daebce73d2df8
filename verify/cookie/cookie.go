// Package cookie reads one cookie's value from a request exactly as
// net/http would, without building a Cookie for every cookie the browser
// sends: /verify wants the session cookie, on every request a proxy passes
// on. It imports nothing of authgate.
package cookie

import (
	"net/http"
	"os"
	"strings"
)

// maxCookies is net/http's default limit on the cookies of a request
// (GODEBUG httpcookiemaxnum): past it, Request.Cookie finds none.
const maxCookies = 3000

// Reader reads one cookie's value from requests.
type Reader struct {
	name string
	// slow leaves every request to net/http: when GODEBUG changes its
	// cookie-count limit (net/http reads the setting, the scan does not),
	// or when the name is not a token (net/http matches no such name).
	slow bool
}

// NewReader reads the cookie called name.
func NewReader(name string) Reader {
	return Reader{name: name, slow: strings.Contains(os.Getenv("GODEBUG"), "httpcookiemaxnum") || !isToken(name)}
}

// Known recognises values already known to be valid cookie values (for
// /verify, tokens in the verified-token cache, which are base64url and
// dots), so their bytes need not be checked again.
type Known interface {
	Known(v string) bool
}

// Value is r.Cookie(name).Value, or "" when there is none, without
// building a Cookie for every cookie the browser sends: a request to a
// busy site carries dozens, and /verify wants one. It reads the Cookie
// lines exactly as net/http's readCookies does (same splitting, trimming,
// quote stripping, byte checks and cookie-count limit), which
// FuzzValue checks against net/http on every input. A value that
// known recognises (known may be nil) skips the byte check: it would pass.
func (c Reader) Value(r *http.Request, known Known) string {
	lines := r.Header["Cookie"]
	if len(lines) == 0 {
		return ""
	}
	if c.slow {
		if ck, err := r.Cookie(c.name); err == nil {
			return ck.Value
		}
		return ""
	}
	name := c.name
	n := 0
	for _, line := range lines {
		n += strings.Count(line, ";") + 1
	}
	if n > maxCookies {
		return ""
	}
	for _, line := range lines {
		line = trimSpace(line)
		var part string
		for len(line) > 0 {
			part, line, _ = strings.Cut(line, ";")
			part = trimSpace(part)
			if part == "" {
				continue
			}
			key, val, _ := strings.Cut(part, "=")
			// A key equal to name is a token, as name is: net/http's
			// token check on the key holds for it.
			if trimSpace(key) != name {
				continue
			}
			if len(val) > 1 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			if (known == nil || !known.Known(val)) && !validCookieValue(val) {
				continue // net/http skips it and reads on
			}
			return val
		}
	}
	return ""
}

// isToken reports whether s is an RFC 9110 token, the names net/http
// accepts for cookies.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// trimSpace is textproto.TrimString: ASCII space, tab, CR and LF.
func trimSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// validCookieValue is net/http's check of a cookie-value's bytes, by
// table: a session cookie is a few hundred bytes long.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if !cookieValueByte[v[i]] {
			return false
		}
	}
	return true
}

var cookieValueByte = func() (t [256]bool) {
	for b := 0x20; b < 0x7f; b++ {
		t[b] = b != '"' && b != ';' && b != '\\'
	}
	return t
}()
