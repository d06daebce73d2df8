// Package norm puts the parts of a request that access rules look at into
// the one form rules compare: the path (with the lenient reading some
// backends give it) and the host. It imports nothing of authgate.
package norm

import (
	"net/netip"
	"regexp"
	"strings"
)

// Path returns the path a rule is matched against: the query and
// fragment dropped, percent-escapes of unreserved characters decoded (and
// the hex of the others upper-cased), "." and ".." segments resolved,
// repeated slashes collapsed. safe is false when the path cannot be read
// one way only: an encoded "/" or "\", a raw "\", a NUL, a bad escape, or
// ".." above the root. Such a path never matches a rule that allows; it
// is matched against the other rules in both readings (see Reading).
func Path(raw string) (path string, safe bool) {
	raw = cutQuery(raw)
	if raw == "" || raw[0] != '/' {
		raw = "/" + raw
	}
	if isClean(raw) {
		return raw, true // the usual case: no allocation
	}
	return normalize(raw, false)
}

// Reading is how the most lenient backend reads a path: every escape
// decoded ("%C3%A9" is "é", "%3A" is ":", "%2f" is "/"), "\\" taken for
// "/", ";parameters" dropped from every segment (as Tomcat, Jetty and
// Spring do: "/x/..;/admin" is "/admin"), then resolved. A rule that
// protects a path (authenticated, deny) matches this reading too, and an
// allow rule must cover it as well, so no spelling of a path reaches a
// backend as something the rules did not decide on.
func Reading(raw string) string {
	raw = cutQuery(raw)
	if raw == "" || raw[0] != '/' {
		raw = "/" + raw
	}
	p, _ := normalize(raw, true)
	if strings.IndexByte(p, ';') >= 0 {
		segs := strings.Split(p, "/")
		for i, seg := range segs {
			if j := strings.IndexByte(seg, ';'); j >= 0 {
				segs[i] = seg[:j]
			}
		}
		p, _ = resolve(strings.Join(segs, "/"))
	}
	return p
}

// NeedsReading reports whether a path may read differently to a lenient
// backend: it has an escape, a backslash or a segment parameter.
func NeedsReading(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%', '\\', ';':
			return true
		case '?', '#':
			return false
		}
	}
	return false
}

// ValidHost reports whether a normalised host is a DNS name or an IP
// literal. Anything else ("a,b", "x?y", "a@b") is read differently by
// proxies and backends, so rules never take it for a name they list.
func ValidHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	return IsIP(h) || hostName.MatchString(h)
}

// hostName is a DNS name as rules write one: lower case, dot-separated
// labels of letters, digits and inner hyphens.
var hostName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)

// IsIP reports whether s is an IP literal.
func IsIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

func cutQuery(s string) string {
	// A loop, not strings.IndexAny, which builds its byte set per call:
	// this runs for every request when rules are in force.
	for i := 0; i < len(s); i++ {
		if s[i] == '?' || s[i] == '#' {
			return s[:i]
		}
	}
	return s
}

// isClean reports whether p needs no normalisation at all.
func isClean(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%', '\\', 0:
			return false
		case '/':
			if i+1 < len(p) && p[i+1] == '/' {
				return false
			}
			if i+1 < len(p) && p[i+1] == '.' {
				// "/." or "/.." as a whole segment
				rest := p[i+1:]
				if rest == "." || rest == ".." || strings.HasPrefix(rest, "./") || strings.HasPrefix(rest, "../") {
					return false
				}
			}
		}
	}
	return true
}

func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// normalize decodes and resolves p. With all, every escape is decoded and
// "\" is a "/" (the reading of a lenient backend).
func normalize(p string, all bool) (string, bool) {
	safe := true
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == 0:
			safe = false
			if all {
				continue
			}
			b.WriteString("%00")
		case c == '\\':
			safe = false
			if all {
				b.WriteByte('/')
			} else {
				b.WriteString("%5C")
			}
		case c == '%':
			var hi, lo byte
			ok := i+2 < len(p)
			if ok {
				var ok1, ok2 bool
				hi, ok1 = unhex(p[i+1])
				lo, ok2 = unhex(p[i+2])
				ok = ok1 && ok2
			}
			if !ok {
				// A bad escape. Written as "%25", so decoding what
				// follows can never make a new escape of it ("%0%61"
				// must not become "%0a").
				safe = false
				if all {
					b.WriteByte('%')
				} else {
					b.WriteString("%25")
				}
				continue
			}
			d := hi<<4 | lo
			i += 2
			switch {
			case d == '/' || d == '\\' || d == 0:
				safe = false
				if all && d != 0 {
					b.WriteByte('/')
				} else if !all {
					b.WriteByte('%')
					b.WriteByte("0123456789ABCDEF"[d>>4])
					b.WriteByte("0123456789ABCDEF"[d&15])
				}
			case unreserved(d) || all:
				b.WriteByte(d)
			default:
				b.WriteByte('%')
				b.WriteByte("0123456789ABCDEF"[d>>4])
				b.WriteByte("0123456789ABCDEF"[d&15])
			}
		default:
			b.WriteByte(c)
		}
	}
	out, above := resolve(b.String())
	return out, safe && !above
}

// resolve collapses repeated slashes and resolves "." and ".." segments;
// above reports a ".." that tried to climb over the root.
func resolve(p string) (string, bool) {
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	above := false
	for _, s := range segs {
		switch s {
		case "", ".":
		case "..":
			if len(out) == 0 {
				above = true
				continue
			}
			out = out[:len(out)-1]
		default:
			out = append(out, s)
		}
	}
	res := "/" + strings.Join(out, "/")
	if len(out) > 0 {
		if last := segs[len(segs)-1]; last == "" || last == "." || last == ".." {
			res += "/" // "/a/b/" and "/a/b/." keep saying "a directory"
		}
	}
	return res, above
}

// Host returns a host as rules compare it: lower case, without a
// port and a trailing dot.
func Host(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}
