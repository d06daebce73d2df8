package assertion

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"
)

// Header is the header an allowed request's assertion travels in.
const Header = "X-Authgate-Jwt-Assertion"

// Lifetimes: the default, and the longest allowed. An assertion handed
// out stays valid until its exp whatever happens to the session, so it is
// kept short.
const (
	DefaultTTL = 60 * time.Second
	MaxTTL     = 5 * time.Minute
	MinTTL     = 2 * time.Second
)

// DefaultCacheSize bounds the sessions whose assertions are remembered.
const DefaultCacheSize = 100_000

// maxAudiences bounds the audiences remembered per session.
const maxAudiences = 16

// Config is what an Issuer needs. Key is required.
type Config struct {
	Key       *Key
	Previous  *Key // published in the JWKS, never used to sign
	Issuer    string
	TTL       time.Duration // 0: DefaultTTL
	CacheSize int           // 0: DefaultCacheSize
}

// Issuer mints assertions. It is safe for concurrent use.
type Issuer struct {
	cfg   Config
	jwks  []byte
	cache *lru.Cache[string, *Handle]
}

// Handle holds the assertions of one session (or one Basic identity), by
// origin. A caller that already holds a session's state (the verified-
// token cache) keeps its Handle there and skips the lookup.
type Handle struct {
	// last is the assertion minted last: most sessions go to one
	// application, so a hit is one atomic load and two string compares.
	last     atomic.Pointer[minted]
	mu       sync.Mutex
	byOrigin map[origin]*minted
}

// origin is the original request's scheme and host as the proxy sent
// them: the key, so a cache hit builds no string.
type origin struct{ scheme, host string }

type minted struct {
	origin origin
	header []string // the header's value, ready to set
	renew  time.Time
}

// New builds an Issuer.
func New(cfg Config) (*Issuer, error) {
	if cfg.Key == nil {
		return nil, errors.New("assertion: a key is required")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < MinTTL || cfg.TTL > MaxTTL {
		return nil, fmt.Errorf("assertion lifetime %s: want %s to %s", cfg.TTL, MinTTL, MaxTTL)
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	cache, err := lru.New[string, *Handle](cfg.CacheSize)
	if err != nil {
		return nil, err
	}
	return &Issuer{cfg: cfg, jwks: JWKS(cfg.Key, cfg.Previous), cache: cache}, nil
}

// JWKS is the keys document, built once.
func (i *Issuer) JWKS() []byte { return i.jwks }

// Subject is who an assertion names.
type Subject struct {
	User, Name, Email string
	Groups            []string
	AMR               []string
	// Session is the session id ("" for Basic credentials): only a hash
	// of it is published, as sid.
	Session string
}

// Claims is an assertion's payload. aud is one string, the origin of the
// application, as the applications compare it.
type Claims struct {
	Name   string   `json:"name"`
	Email  string   `json:"email"`
	Groups []string `json:"groups"`
	SID    string   `json:"sid,omitempty"`
	AMR    []string `json:"amr,omitempty"`
	Aud    string   `json:"aud"`
	jwt.RegisteredClaims
}

// Handle is the cache of s's assertions: under the session, or, for Basic
// credentials, under the whole identity, so a change of groups is never
// served stale.
func (i *Issuer) Handle(s Subject) *Handle {
	key := s.Session
	if key == "" {
		key = "basic\x00" + s.User + "\x00" + s.Name + "\x00" + s.Email + "\x00" + strings.Join(s.Groups, ",")
	}
	h, ok := i.cache.Get(key)
	if !ok {
		h = &Handle{byOrigin: make(map[origin]*minted, 1)}
		if prev, found, _ := i.cache.PeekOrAdd(key, h); found {
			h = prev
		}
	}
	return h
}

// Assert returns the header value of s's assertion for the application
// the original request went to (its scheme and host, as forwarded): from
// the cache while less than half its lifetime has passed, else newly
// signed, with aud = Audience(scheme, host). "" host or scheme: nil.
func (i *Issuer) Assert(s Subject, scheme, host string, now time.Time) ([]string, error) {
	return i.AssertWith(i.Handle(s), s, scheme, host, now)
}

// AssertWith is Assert on a Handle the caller kept.
func (i *Issuer) AssertWith(h *Handle, s Subject, scheme, host string, now time.Time) ([]string, error) {
	if scheme == "" || host == "" {
		return nil, nil
	}
	if m := h.last.Load(); m != nil && m.origin.host == host && m.origin.scheme == scheme && now.Before(m.renew) {
		return m.header, nil
	}
	o := origin{scheme, host}
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.byOrigin[o]; m != nil && now.Before(m.renew) {
		h.last.Store(m)
		return m.header, nil
	}
	tok, err := i.sign(s, Audience(scheme, host), now)
	if err != nil {
		return nil, err
	}
	if len(h.byOrigin) >= maxAudiences {
		clear(h.byOrigin)
	}
	o = origin{strings.Clone(scheme), strings.Clone(host)}
	m := &minted{origin: o, header: []string{tok}[:1:1], renew: now.Add(i.cfg.TTL / 2)}
	h.byOrigin[o] = m
	h.last.Store(m)
	return m.header, nil
}

// Forget drops the cached assertions of a session (it ended).
func (i *Issuer) Forget(session string) { i.cache.Remove(session) }

// Len is the number of sessions (and Basic identities) cached.
func (i *Issuer) Len() int { return i.cache.Len() }

func (i *Issuer) sign(s Subject, aud string, now time.Time) (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	groups := s.Groups
	if groups == nil {
		groups = []string{}
	}
	c := Claims{Name: s.Name, Email: s.Email, Groups: groups, AMR: s.AMR, Aud: aud}
	if s.Session != "" {
		c.SID = SessionHash(s.Session)
	}
	iat := jwt.NewNumericDate(now.Truncate(time.Second))
	c.Issuer, c.Subject, c.ID = i.cfg.Issuer, s.User, base64.RawURLEncoding.EncodeToString(jti)
	c.IssuedAt, c.NotBefore = iat, iat
	c.ExpiresAt = jwt.NewNumericDate(iat.Add(i.cfg.TTL))
	tok := jwt.NewWithClaims(i.cfg.Key.method, c)
	tok.Header["kid"] = i.cfg.Key.jwk.Kid
	return tok.SignedString(i.cfg.Key.signer)
}

// SessionHash is an assertion's sid: the first 16 bytes of SHA-256 of the
// session id, in hex. The session id itself is a credential's key and is
// never published.
func SessionHash(session string) string {
	sum := sha256.Sum256([]byte(session))
	return hex.EncodeToString(sum[:16])
}

// Audience is the origin of an original request: scheme://host, with the
// port only when it is not the scheme's default. "" when either is
// unknown: no assertion is sent then.
func Audience(scheme, host string) string {
	if scheme == "" || host == "" {
		return ""
	}
	host = strings.ToLower(host)
	switch {
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	}
	return scheme + "://" + host
}
