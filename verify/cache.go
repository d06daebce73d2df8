package verify

import (
	"hash/maphash"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/verify/assertion"
	"github.com/authgate/authgate/verify/forwarded"
)

// tokenCache remembers tokens that passed full validation (signature,
// issuer, algorithm, times, shape), keyed by the exact token string, so a
// client presenting the same token again skips HMAC and JSON decoding.
// Only what cannot change is cached: the session is still asked on every
// request, the expiry is checked on every request, and the location's
// policy is applied to the cached identity each time.
//
// Two different strings never share an entry, and strict base64 decoding
// means one token has one string; a cache hit is exactly "this string was
// verified before". Nothing is cached for a refused token, so refused
// traffic cannot grow it.
type tokenCache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard
}

const cacheShards = 64

type cacheShard struct {
	mu           sync.RWMutex
	m            map[string]*verifiedToken
	hits, misses atomic.Uint64 // per shard, so cores do not fight over one line
	_            [16]byte      // 24 (RWMutex) + 8 (map) + 16 + 16 = one 64-byte cache line per shard
}

// verifiedToken is a validated token with its answer prepared: the header
// values are built once, not per request. Their slices have cap == len, so
// an append anywhere copies instead of writing into the shared array.
type verifiedToken struct {
	session, user string
	// until is exp plus the leeway the parser allows.
	until   time.Time
	expires time.Time // exp itself
	amr     []string
	otp     bool // amr names a second factor
	// assertions holds this session's identity assertions, once asked
	// for: kept here, a cache hit skips the issuer's own lookup.
	assertions atomic.Pointer[assertion.Handle]
	// peer remembers whether the last connection this token came over
	// (a proxy's keep-alive connection, as a rule) is a trusted proxy,
	// so an assertion does not parse the same address on every request.
	peer   atomic.Pointer[peerTrust]
	id     Identity
	header [4][]string // Remote-User, Remote-Email, Remote-Name, Remote-Groups
}

func newVerifiedToken(c *Claims) *verifiedToken {
	id := Identity{User: c.Subject, Email: c.Email, Name: c.Name, Groups: c.Groups}
	return &verifiedToken{
		session: c.ID,
		user:    c.Subject,
		until:   c.ExpiresAt.Time.Add(Leeway),
		expires: c.ExpiresAt.Time,
		amr:     c.AMR,
		otp:     HasOTP(c.AMR),
		id:      id,
		header:  identityHeader(id),
	}
}

type peerTrust struct {
	host    string // RemoteAddr without its port
	trusted bool
}

// trustedPeer is Trusted.Peer(r), remembered for r's peer address. The
// address without the port: a proxy opens many connections from one
// address, and trust depends on the address alone.
func (t *verifiedToken) trustedPeer(r *http.Request, trusted *forwarded.TrustedProxies) bool {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if p := t.peer.Load(); p != nil && p.host == host {
		return p.trusted
	}
	ok := trusted.Peer(r)
	t.peer.Store(&peerTrust{host: strings.Clone(host), trusted: ok})
	return ok
}

// identityHeader is the value of each identity header for id, in the
// order of verifiedToken.header.
func identityHeader(id Identity) [4][]string {
	one := func(s string) []string { return []string{s}[:1:1] }
	return [4][]string{one(id.User), one(id.Email), one(id.Name), one(strings.Join(id.Groups, ","))}
}

// newTokenCache holds up to size tokens (at least one per shard).
func newTokenCache(size int) *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed(), perShard: max(1, size/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*verifiedToken)
	}
	return c
}

func (c *tokenCache) shard(raw string) *cacheShard {
	return &c.shards[maphash.String(c.seed, raw)%cacheShards]
}

// Known reports whether raw is in the cache, expired or not: it passed
// full validation, so it is made of base64url characters and dots
// (cookie.Known).
func (c *tokenCache) Known(raw string) bool {
	if c == nil {
		return false
	}
	s := c.shard(raw)
	s.mu.RLock()
	_, ok := s.m[raw]
	s.mu.RUnlock()
	return ok
}

// get returns the entry for raw if it is there and not expired at now.
func (c *tokenCache) get(raw string, now time.Time) *verifiedToken {
	s := c.shard(raw)
	s.mu.RLock()
	t := s.m[raw]
	s.mu.RUnlock()
	if t == nil {
		s.misses.Add(1)
		return nil
	}
	if !now.Before(t.until) {
		s.mu.Lock()
		delete(s.m, raw)
		s.mu.Unlock()
		s.misses.Add(1)
		return nil
	}
	s.hits.Add(1)
	return t
}

// put adds a verified token. A full shard first drops its expired entries,
// then, if still full, an arbitrary one (map order is random): the cache
// is a shortcut, and a dropped token is simply verified in full again.
func (c *tokenCache) put(raw string, t *verifiedToken, now time.Time) {
	s := c.shard(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.perShard {
		for k, e := range s.m {
			if !now.Before(e.until) {
				delete(s.m, k)
			}
		}
		for k := range s.m {
			if len(s.m) < c.perShard {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[strings.Clone(raw)] = t
}

// forget drops raw (its session was found ended), so a dead token does not
// keep a slot.
func (c *tokenCache) forget(raw string) {
	s := c.shard(raw)
	s.mu.Lock()
	delete(s.m, raw)
	s.mu.Unlock()
}

// stats adds up the shards' counters.
func (c *tokenCache) stats() (hits, misses uint64) {
	for i := range c.shards {
		hits += c.shards[i].hits.Load()
		misses += c.shards[i].misses.Load()
	}
	return hits, misses
}

func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
