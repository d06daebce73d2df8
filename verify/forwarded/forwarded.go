// Package forwarded reads what a reverse proxy says about the request it
// forwards: which peers are trusted proxies, the client's address behind
// them, the original request (method, scheme, host, path) in the two
// forward-auth dialects, and whether it is a browser navigation. Headers
// from a peer that is not trusted are never read. It imports nothing of
// authgate.
package forwarded

import (
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// TrustedProxies is the set of peers whose forwarded headers we believe.
// A request from anyone else is judged on its own connection alone: its
// X-Forwarded-*, X-Original-* and X-Real-IP headers are ignored, so a client
// that reaches the gate directly cannot claim to be someone else.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// DefaultTrustedProxies is loopback only: a proxy on the same machine.
// Trusting the private ranges by default let any pod or container on the
// network send X-Forwarded-For and pick the address its failures are
// counted against; a deployment lists its proxies' addresses instead.
var DefaultTrustedProxies = []string{"127.0.0.0/8", "::1/128"}

// ParseTrustedProxies reads CIDR prefixes or single addresses.
func ParseTrustedProxies(list []string) (*TrustedProxies, error) {
	t := &TrustedProxies{}
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, err
			}
			t.prefixes = append(t.prefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		t.prefixes = append(t.prefixes, p.Masked())
	}
	return t, nil
}

// UnmarshalText reads a comma-separated list, as configuration writes it;
// "none" trusts no proxy at all.
func (t *TrustedProxies) UnmarshalText(b []byte) error {
	if strings.TrimSpace(string(b)) == "none" {
		*t = TrustedProxies{}
		return nil
	}
	parsed, err := ParseTrustedProxies(strings.Split(string(b), ","))
	if err != nil {
		return err
	}
	*t = *parsed
	return nil
}

// Prefixes returns the configured ranges.
func (t *TrustedProxies) Prefixes() []netip.Prefix { return t.prefixes }

// Contains reports whether addr is a trusted proxy.
func (t *TrustedProxies) Contains(addr netip.Addr) bool {
	if t == nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Peer reports whether the TCP peer of r is trusted.
func (t *TrustedProxies) Peer(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	return t.Contains(ap.Addr())
}

// ClientIP is the address a request comes from, for rate limits and logs.
// From an untrusted peer it is the peer itself. From a trusted proxy it is
// read from X-Forwarded-For, right to left, skipping trusted addresses (the
// first untrusted one is the client; a client's own entries sit further
// left and are never reached), else from X-Real-IP, which proxies such as
// nginx send instead, else the peer. An entry that is not an address stops
// the walk at the peer: nothing after it can be believed.
func (t *TrustedProxies) ClientIP(r *http.Request) string {
	if a := t.ClientAddr(r); a.IsValid() {
		return a.String()
	}
	host, _, _ := strings.Cut(r.RemoteAddr, ":")
	return host
}

// ClientAddr is ClientIP as an address, without allocating; the zero Addr
// when the peer's own address cannot be read.
func (t *TrustedProxies) ClientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	peer := ap.Addr().Unmap()
	return t.ClientOf(r, peer, t.Contains(peer))
}

// ClientOf is ClientAddr for a peer already read (PeerAddr).
func (t *TrustedProxies) ClientOf(r *http.Request, peer netip.Addr, trusted bool) netip.Addr {
	if !trusted {
		return peer
	}
	if xff := r.Header["X-Forwarded-For"]; len(xff) > 0 {
		for line := len(xff) - 1; line >= 0; line-- {
			hops := xff[line]
			for hops != "" {
				var hop string
				if i := strings.LastIndexByte(hops, ','); i >= 0 {
					hops, hop = hops[:i], hops[i+1:]
				} else {
					hops, hop = "", hops
				}
				a, ok := parseIP(hop)
				if !ok {
					return peer
				}
				if !t.Contains(a) || line == 0 && hops == "" {
					return a
				}
			}
		}
	}
	if a, ok := parseIP(First(r.Header, "X-Real-Ip")); ok {
		return a
	}
	return peer
}

// PeerAddr reads the address of a RemoteAddr ("ip:port", "[ip6]:port"),
// without the port's parse, which nothing here needs.
func PeerAddr(remote string) (netip.Addr, bool) {
	i := strings.LastIndexByte(remote, ':')
	if i < 0 {
		return netip.Addr{}, false
	}
	host := remote[:i]
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parseIP reads an address as forwarding headers write it ("192.0.2.1",
// "2001:db8::1", "[2001:db8::1]").
func parseIP(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false // ParseAddr would allocate its error
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// String lists the ranges as configuration writes them.
func (t *TrustedProxies) String() string {
	parts := make([]string, len(t.prefixes))
	for i, p := range t.prefixes {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// Caller tells which forward-auth dialect described the original request.
type Caller uint8

const (
	// CallerUnknown: no usable forwarded headers (or an untrusted peer).
	CallerUnknown Caller = iota
	// CallerForwarded: X-Forwarded-Uri without X-Original-URL, as Traefik
	// and Caddy send. These proxies relay a 3xx answer to the browser.
	CallerForwarded
	// CallerOriginalURL: X-Original-URL is present, as ingress-nginx and the
	// shipped nginx config send. nginx turns a 3xx from the gate into a
	// 500, so these callers get 401 with Location instead.
	CallerOriginalURL
)

// Original is the request the proxy is asking about.
type Original struct {
	Method string
	Scheme string // "http" or "https"
	Host   string // host[:port]
	URI    string // path and query, as the client sent them
	Caller Caller
}

// OriginalRequest reconstructs the proxied request from the forward-auth
// headers. Precedence: X-Forwarded-Method/Proto/Host/Uri win over
// X-Original-URL/Method, because Traefik and Caddy overwrite the former but
// pass a client's own X-Original-URL through untouched. When trusted is
// false (the peer is not a trusted proxy) no header is believed.
//
// Malformed values never fail the request; they just leave fields empty so
// no rd is built from them.
func OriginalRequest(r *http.Request, trusted bool) Original {
	if !trusted {
		return Original{Method: r.Method, Caller: CallerUnknown}
	}
	h := r.Header
	xou := First(h, "X-Original-Url")
	if xfu := First(h, "X-Forwarded-Uri"); xfu != "" {
		o := Original{
			Method: First(h, "X-Forwarded-Method"),
			Scheme: scheme(listHead(First(h, "X-Forwarded-Proto"))),
			Host:   listHead(First(h, "X-Forwarded-Host")),
			URI:    xfu,
			Caller: CallerForwarded,
		}
		if xou != "" {
			o.Caller = CallerOriginalURL
		}
		if o.Method == "" {
			o.Method = First(h, "X-Original-Method")
		}
		if o.Method == "" {
			o.Method = r.Method
		}
		if (o.Scheme == "" || o.Host == "") && xou != "" {
			// The shipped nginx config and ingress-nginx also send a full
			// X-Original-URL; use it to fill what X-Forwarded-* left out.
			if sch, host, _, ok := SplitURL(xou); ok {
				if o.Scheme == "" {
					o.Scheme = sch
				}
				if o.Host == "" {
					o.Host = host
				}
			}
		}
		return o
	}
	if xou != "" {
		o := Original{Method: First(h, "X-Original-Method"), Caller: CallerOriginalURL}
		if o.Method == "" {
			o.Method = r.Method
		}
		if sch, host, uri, ok := SplitURL(xou); ok && host != "" {
			o.Scheme, o.Host, o.URI = sch, host, uri
		}
		return o
	}
	return Original{Method: r.Method, Caller: CallerUnknown}
}

// Describes reports whether h carries a description of the original
// request in either dialect (X-Forwarded-Uri or X-Original-URL): without
// one, OriginalRequest and Origin know nothing, whoever the peer is.
func Describes(h http.Header) bool {
	return First(h, "X-Forwarded-Uri") != "" || First(h, "X-Original-Url") != ""
}

// Origin is the scheme and host of the original request as
// OriginalRequest reads them (a trusted proxy's X-Forwarded-Proto and
// -Host when it sends X-Forwarded-Uri, filled from X-Original-URL), with
// only the lookups those two need: an identity assertion's audience is
// built from them on every allowed request. "" when unknown, and when the
// two dialects name different origins: an audience a client could choose
// is no audience.
func Origin(r *http.Request, trusted bool) (sch, host string) {
	if !trusted {
		return "", ""
	}
	h := r.Header
	xou := First(h, "X-Original-Url")
	if First(h, "X-Forwarded-Uri") != "" {
		sch, host = scheme(listHead(First(h, "X-Forwarded-Proto"))), listHead(First(h, "X-Forwarded-Host"))
		if xou != "" {
			// Both dialects: a proxy of one passes a client's headers of
			// the other through (ingress-nginx sends X-Original-URL and
			// forwards a client's X-Forwarded-Host). When they name
			// different origins, the audience is unknowable: none.
			s2, h2, _, ok := SplitURL(xou)
			if !ok || host != "" && h2 != "" && !strings.EqualFold(host, h2) || sch != "" && s2 != "" && sch != s2 {
				return "", ""
			}
			if sch == "" {
				sch = s2
			}
			if host == "" {
				host = h2
			}
		}
		return sch, host
	}
	if xou != "" {
		if s2, h2, _, ok := SplitURL(xou); ok && h2 != "" {
			return s2, h2
		}
	}
	return "", ""
}

// SplitURL reads an absolute URL as X-Original-URL carries it. The plain
// shape nginx sends ("https://host[:port]/path?query") is cut without
// allocating, on /verify's hot path; anything else goes through url.Parse.
// uri is the path and query, without a fragment.
func SplitURL(s string) (sch, host, uri string, ok bool) {
	for _, p := range [...]string{"https://", "http://"} {
		if len(s) < len(p) || s[:len(p)] != p && !strings.EqualFold(s[:len(p)], p) {
			continue
		}
		rest := s[len(p):]
		// The host ends at the first "/", "?" or "#"; a host with "@",
		// "%", "\\" or a space is not the plain shape. One pass over the
		// host only: this runs on every request when rules are in force.
		end, plain := len(rest), true
		for i := 0; i < len(rest); i++ {
			c := rest[i]
			if c == '/' || c == '?' || c == '#' {
				end = i
				break
			}
			if c == '@' || c == '%' || c == '\\' || c == ' ' {
				plain = false
				break
			}
		}
		host, uri = rest[:end], rest[end:]
		if host == "" || !plain {
			break // not the plain shape: let the parser decide
		}
		if i := strings.IndexByte(uri, '#'); i >= 0 {
			uri = uri[:i]
		}
		if uri == "" || uri[0] == '?' {
			uri = "/" + uri
		}
		return p[:len(p)-3], host, uri, true
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", "", "", false
	}
	return scheme(u.Scheme), u.Host, u.RequestURI(), true
}

// First returns the first value of a canonical header key without the
// allocation Header.Get would make for a non-canonical key.
func First(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// listHead takes the first element of a comma list ("https, http" from
// chained proxies: the first is closest to the client).
func listHead(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

func scheme(s string) string {
	switch strings.ToLower(s) {
	case "https":
		return "https"
	case "http":
		return "http"
	}
	return ""
}

// IsNavigation reports whether the original request is a browser loading a
// page, the only kind of request worth redirecting to a login page. API
// calls, XHR/fetch, WebSocket upgrades and requests that carried a bearer
// token get a 401 instead, which their clients can act on.
func IsNavigation(r *http.Request, o Original) bool {
	if o.Method != http.MethodGet && o.Method != http.MethodHead {
		return false
	}
	h := r.Header
	if First(h, "X-Requested-With") != "" {
		return false
	}
	if strings.EqualFold(First(h, "Upgrade"), "websocket") {
		return false
	}
	if HasScheme(First(h, "Authorization"), "Bearer") {
		return false
	}
	if First(h, "Sec-Fetch-Mode") == "navigate" {
		return true
	}
	return prefersHTML(strings.Join(h["Accept"], ","))
}

// prefersHTML reports whether an Accept header names text/html explicitly
// with a q-value at least as high as every other media range. "*/*" alone
// (curl, most HTTP libraries) is not a preference for HTML.
func prefersHTML(accept string) bool {
	htmlQ, best := -1.0, 0.0
	for _, part := range strings.Split(accept, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		q := 1.0
		if qs, ok := params["q"]; ok {
			q = parseQ(qs)
		}
		if mt == "text/html" || mt == "application/xhtml+xml" {
			if q > htmlQ {
				htmlQ = q
			}
		} else if q > best {
			best = q
		}
	}
	return htmlQ > 0 && htmlQ >= best
}

// parseQ reads an RFC 9110 qvalue ("0", "0.5", "1.000"); anything else is 0.
func parseQ(s string) float64 {
	if s == "" || len(s) > 5 {
		return 0
	}
	if s[0] == '1' {
		return 1
	}
	if s[0] != '0' {
		return 0
	}
	q, scale := 0.0, 0.1
	for i := 2; i < len(s); i++ {
		if s[1] != '.' || s[i] < '0' || s[i] > '9' {
			return 0
		}
		q += float64(s[i]-'0') * scale
		scale /= 10
	}
	return q
}

// HasScheme reports whether an Authorization value uses the given scheme
// (case-insensitive, RFC 9110 §11.1).
func HasScheme(auth, scheme string) bool {
	return len(auth) > len(scheme) && auth[len(scheme)] == ' ' && strings.EqualFold(auth[:len(scheme)], scheme)
}
