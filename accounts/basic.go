package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"github.com/authgate/authgate/accounts/regulation"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/authgate/authgate/accounts/password"
	"github.com/authgate/authgate/verify"
)

var _ verify.BasicChecker = (*Service)(nil)

// CheckBasic implements verify.BasicChecker: Basic credentials sent to
// /verify by curl, CI clients or registries. Successful checks are cached
// briefly so a client that sends Basic on every request does not cost an
// argon2 hash per request. The cache key is an HMAC of the name and the
// password, so a wrong password never hits, and a hit is used only while
// the account's stored hash is the one that was checked, so a password
// change takes effect at once. The cache holds no identity: a hit answers
// with the account as the store has it now, so a change of groups or name
// data, a deletion, or a second factor turned on takes effect at once on
// every replica. Locks apply to cached credentials too. A user with a
// second factor is refused (ErrSecondFactorRequired): Basic cannot carry
// the code.
func (s *Service) CheckBasic(ctx context.Context, ip, username, pw string) (verify.Identity, bool, error) {
	canon, err := CanonicalUsername(username)
	if err != nil || len(pw) > password.MaxLength {
		canon = "" // the address is still charged
	}
	if canon != "" {
		if id, ok := s.cachedBasic(ctx, canon, ip, pw); ok {
			return id, true, nil
		}
	}
	check := func() (User, error) {
		if canon == "" {
			return User{}, ErrBadCredentials
		}
		return s.authenticate(ctx, canon, pw)
	}
	u, err := s.regulated(ctx, s.cfg.Attempts, canon, ip, check)
	if ErrorCode(err) == Unavailable && s.cfg.Attempts != regulation.Attempts(s.local) {
		// The shared counter is down. Logins answer 503 meanwhile, but
		// /verify keeps serving Basic clients, counted here alone.
		s.log.Warn("verify: failed-attempt counter unavailable; Basic credentials counted in this process only", "err", err)
		u, err = s.regulated(ctx, s.local, canon, ip, check)
	}
	var e *Error
	switch {
	case err == nil:
	case errors.Is(err, ErrBadCredentials):
		return verify.Identity{}, false, nil
	case errors.As(err, &e) && e.Code == Locked:
		return verify.Identity{}, false, &verify.LockedError{RetryAfter: e.RetryAfter}
	default:
		return verify.Identity{}, false, err
	}
	if u.TOTPEnabled() {
		// Basic cannot carry the code: the right password alone does not
		// pass (nor count as a failure).
		return verify.Identity{}, false, verify.ErrSecondFactorRequired
	}
	s.basic.put(s.basic.key(canon, pw), basicEntry{hash: u.Hash, expires: s.now().Add(s.cfg.BasicCacheTTL)})
	return u.Identity(), true, nil
}

// cachedBasic answers from the cache when these exact credentials passed
// recently, the account's hash is still the one checked, and neither the
// name nor the address is locked.
func (s *Service) cachedBasic(ctx context.Context, canon, ip, pw string) (verify.Identity, bool) {
	key := s.basic.key(canon, pw)
	e, ok := s.basic.get(key, s.now())
	if !ok {
		return verify.Identity{}, false
	}
	u, err := s.lookup(ctx, canon)
	if err != nil || u.Hash != e.hash || u.TOTPEnabled() {
		s.basic.drop(key)
		return verify.Identity{}, false
	}
	if s.cfg.Regulation.On() && !s.passesLock(ctx, canon, ip) {
		// A lock set since (by failures elsewhere) holds for cached
		// credentials too.
		return verify.Identity{}, false
	}
	return u.Identity(), true
}

// passesLock reports whether neither name nor ip is locked now. A cache
// hit is no guess: it reserves nothing, and clears nothing.
func (s *Service) passesLock(ctx context.Context, name, ip string) bool {
	keys := s.cfg.Regulation.Keys(name, ip)
	wait, err := s.cfg.Attempts.Locked(ctx, keys, s.now())
	if err != nil {
		wait, _ = s.local.Locked(ctx, keys, s.now())
	}
	return wait == 0
}

// basicCache remembers recently verified Basic credentials; the library's
// LRU bounds it, and each entry's own expiry (on the injected clock) ends
// it.
type basicCache struct {
	secret  []byte // per process: keys are useless outside it
	entries *lru.Cache[[32]byte, basicEntry]
}

type basicEntry struct {
	hash    string // the stored hash the password was checked against
	expires time.Time
}

func newBasicCache(size int) *basicCache {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	entries, _ := lru.New[[32]byte, basicEntry](size)
	return &basicCache{secret: secret, entries: entries}
}

func (c *basicCache) key(name, pw string) [32]byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(pw))
	var k [32]byte
	m.Sum(k[:0])
	return k
}

func (c *basicCache) get(k [32]byte, now time.Time) (basicEntry, bool) {
	e, ok := c.entries.Get(k)
	if ok && !now.Before(e.expires) {
		c.entries.Remove(k)
		return basicEntry{}, false
	}
	return e, ok
}

func (c *basicCache) put(k [32]byte, e basicEntry) { c.entries.Add(k, e) }
func (c *basicCache) drop(k [32]byte)              { c.entries.Remove(k) }
