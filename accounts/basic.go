package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/authgate/authgate/verify"
)

// signIn checks credentials under brute-force regulation. It returns the
// user, or ErrBadCredentials, or a *verify.LockedError, or a store error.
func (s *Service) signIn(ctx context.Context, ip, username, password string) (User, error) {
	canon, _ := CanonicalUsername(username)
	if wait := s.cfg.Limiter.Locked(canon, ip); wait > 0 {
		return User{}, &verify.LockedError{RetryAfter: wait}
	}
	u, ok, err := s.Authenticate(ctx, username, password)
	if err != nil {
		return User{}, err
	}
	if !ok {
		s.cfg.Limiter.Fail(canon, ip)
		return User{}, ErrBadCredentials
	}
	s.cfg.Limiter.Succeed(canon)
	return u, nil
}

// CheckBasic implements verify.BasicChecker: Basic credentials sent to
// /verify by curl, CI clients or registries. Successful checks are cached
// briefly so a client that sends Basic on every request does not cost an
// argon2 hash per request. The cache key is an HMAC of the name and the
// password, so a wrong password never hits, and a hit is used only while
// the account's stored hash is the one that was checked, so a password
// change takes effect at once. Locks apply to cached credentials too.
func (s *Service) CheckBasic(ctx context.Context, ip, username, password string) (verify.Identity, bool, error) {
	canon, err := CanonicalUsername(username)
	if err != nil || len(password) > MaxPasswordLength {
		s.cfg.Limiter.Fail("", ip)
		return verify.Identity{}, false, nil
	}
	if wait := s.cfg.Limiter.Locked(canon, ip); wait > 0 {
		return verify.Identity{}, false, &verify.LockedError{RetryAfter: wait}
	}
	key := s.basic.key(canon, password)
	if e, ok := s.basic.get(key, s.now()); ok {
		u, err := s.lookup(ctx, canon)
		if err == nil && u.Hash == e.hash {
			return e.id, true, nil
		}
		s.basic.drop(key)
	}
	u, err := s.signIn(ctx, ip, username, password)
	switch {
	case errors.Is(err, ErrBadCredentials):
		return verify.Identity{}, false, nil
	case err != nil:
		return verify.Identity{}, false, err
	}
	id := verify.Identity{User: u.Name, Email: u.Email, Name: u.Display, Groups: u.Groups}
	s.basic.put(key, basicEntry{id: id, hash: u.Hash, expires: s.now().Add(s.cfg.BasicCacheTTL)})
	return id, true, nil
}

// basicCache remembers recently verified Basic credentials.
type basicCache struct {
	secret []byte // per process: keys are useless outside it
	max    int

	mu      sync.Mutex
	entries map[[32]byte]basicEntry
}

type basicEntry struct {
	id      verify.Identity
	hash    string
	expires time.Time
}

func newBasicCache(max int) *basicCache {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return &basicCache{secret: secret, max: max, entries: map[[32]byte]basicEntry{}}
}

func (c *basicCache) key(name, password string) [32]byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var k [32]byte
	m.Sum(k[:0])
	return k
}

func (c *basicCache) get(k [32]byte, now time.Time) (basicEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if ok && !now.Before(e.expires) {
		delete(c.entries, k)
		return basicEntry{}, false
	}
	return e, ok
}

func (c *basicCache) put(k [32]byte, e basicEntry) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for old, oe := range c.entries {
			if !e.expires.After(oe.expires) || len(c.entries) >= c.max {
				delete(c.entries, old)
			}
			if len(c.entries) < c.max {
				break
			}
		}
	}
	c.entries[k] = e
}

func (c *basicCache) drop(k [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, k)
}
