// Package regulation is the brute-force policy of sign-ins (Policy: so
// many failures per name or per client address within a window lock that
// name or address for a while), the Attempts interface that keeps its
// counters, and Local, the counter of one process. accounts applies the
// policy to every password and second-factor check; a shared store (Redis)
// implements Attempts for every replica at once.
package regulation

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Policy is the brute-force policy: past MaxFailures failed sign-ins
// for one name, or MaxFailuresPerIP from one client address, within
// Window, that name or address is refused for BanTime, even with the right
// password. The defaults follow common practice for login throttling
// (OWASP Authentication Cheat Sheet): a handful of failures, then a lock
// measured in minutes.
type Policy struct {
	MaxFailures      int           // per username; 0 turns regulation off
	MaxFailuresPerIP int           // per client address; 0: addresses are not limited
	Window           time.Duration // failures older than this are forgotten
	BanTime          time.Duration // how long a lock lasts
}

// Default: 5 failures per name or 20 per address within 10
// minutes lock that name or address for 15 minutes.
var Default = Policy{MaxFailures: 5, MaxFailuresPerIP: 20, Window: 10 * time.Minute, BanTime: 15 * time.Minute}

// On reports whether sign-ins are regulated at all.
func (r Policy) On() bool { return r.MaxFailures > 0 }

// Keys is what one attempt is counted against: the canonical name (when
// the name was valid at all) and the client address.
func (r Policy) Keys(name, ip string) []Key {
	keys := make([]Key, 0, 2)
	if name != "" {
		keys = append(keys, Key{Key: "u:" + name, Limit: r.MaxFailures})
	}
	if ip != "" {
		keys = append(keys, Key{Key: "i:" + ip, Limit: r.MaxFailuresPerIP})
	}
	return keys
}

// Key is one counter an attempt is charged to.
type Key struct {
	Key   string
	Limit int // 0: counted, never locked
}

// Attempts keeps the counters of the regulation policy. An attempt is
// reserved before its password is checked and settled after, so guesses
// sent at once are counted while they are in flight: however they arrive,
// at most Limit guesses per key are checked per window. Implementations
// shared by several gates (Redis) count for all of them together.
type Attempts interface {
	// Reserve charges one attempt in flight to every key, or none: when a
	// key is locked, wait is how long it stays locked; when a key's
	// failures plus the attempts in flight already reach its limit, wait
	// is BusyWait. A store that cannot answer wraps ErrUnavailable.
	Reserve(ctx context.Context, keys []Key, r Policy, now time.Time) (wait time.Duration, err error)
	// Settle ends a reserved attempt. A failure is counted, and locks each
	// key it brings to its limit. A success only releases its reservation:
	// it does not wipe the window's failures, or a right password among
	// guesses sent at once would buy the sender a fresh set of guesses (and
	// one valid account would launder an address's guesses at others).
	Settle(ctx context.Context, keys []Key, r Policy, now time.Time, failed bool) error
	// Locked says how long the longest lock among keys lasts (0: none),
	// reserving nothing: the check of credentials already verified.
	Locked(ctx context.Context, keys []Key, now time.Time) (time.Duration, error)
	// Clear forgets the keys' failures and locks: a password reset by an
	// administrator lets its user in at once.
	Clear(ctx context.Context, keys []Key) error
}

// BusyWait is the wait answered while a key's remaining guesses are all in
// flight: they will settle within a hash's time.
const BusyWait = time.Second

// DefaultEntries bounds the keys a Local tracks.
const DefaultEntries = 100_000

// Local counts in this process: the counter of the memory and bolt
// stores, and the fallback of Basic credentials on /verify while a shared
// counter cannot be reached. It is safe for concurrent use.
type Local struct {
	mu     sync.Mutex
	counts *simplelru.LRU[string, *attemptCount]
	// locks are kept apart so that a flood of new names, which fills
	// counts, cannot push a lock out: an attacker would need as many
	// locks as the table holds.
	locks *simplelru.LRU[string, time.Time]
}

type attemptCount struct {
	failures, inFlight int
	windowStart        time.Time
}

var _ Attempts = (*Local)(nil)

// NewLocal tracks up to entries keys (<= 0: DefaultEntries);
// past that the least recently used are forgotten.
func NewLocal(entries int) *Local {
	if entries <= 0 {
		entries = DefaultEntries
	}
	counts, _ := simplelru.NewLRU[string, *attemptCount](entries, nil)
	locks, _ := simplelru.NewLRU[string, time.Time](entries, nil)
	return &Local{counts: counts, locks: locks}
}

func (l *Local) Locked(_ context.Context, keys []Key, now time.Time) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.locked(keys, now), nil
}

// locked is the longest lock among keys; expired locks are dropped.
func (l *Local) locked(keys []Key, now time.Time) time.Duration {
	var wait time.Duration
	for _, k := range keys {
		if until, ok := l.locks.Get(k.Key); ok {
			if now.Before(until) {
				wait = max(wait, until.Sub(now))
			} else {
				l.locks.Remove(k.Key)
			}
		}
	}
	return wait
}

func (l *Local) Reserve(_ context.Context, keys []Key, r Policy, now time.Time) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if wait := l.locked(keys, now); wait > 0 {
		return wait, nil
	}
	for _, k := range keys {
		if c := l.count(k.Key, r, now, false); c != nil && k.Limit > 0 && c.failures+c.inFlight >= k.Limit {
			return BusyWait, nil
		}
	}
	for _, k := range keys {
		l.count(k.Key, r, now, true).inFlight++
	}
	return 0, nil
}

func (l *Local) Settle(_ context.Context, keys []Key, r Policy, now time.Time, failed bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		c := l.count(k.Key, r, now, true)
		c.inFlight = max(0, c.inFlight-1)
		if failed {
			c.failures++
			if k.Limit > 0 && c.failures >= k.Limit {
				l.locks.Add(k.Key, now.Add(r.BanTime))
				c.failures, c.windowStart = 0, now
			}
		}
		if c.failures == 0 && c.inFlight == 0 {
			l.counts.Remove(k.Key)
		}
	}
	return nil
}

// count returns key's counter with failures older than the window
// forgotten; create adds a missing one.
func (l *Local) count(key string, r Policy, now time.Time, create bool) *attemptCount {
	c, ok := l.counts.Get(key)
	if !ok {
		if !create {
			return nil
		}
		c = &attemptCount{windowStart: now}
		l.counts.Add(key, c)
	}
	if now.Sub(c.windowStart) > r.Window {
		// A window later, nothing reserved then is still in flight (a
		// check takes milliseconds): a reservation that was never
		// settled must not keep the key busy for good.
		c.failures, c.inFlight, c.windowStart = 0, 0, now
	}
	return c
}

func (l *Local) Clear(_ context.Context, keys []Key) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		l.counts.Remove(k.Key)
		l.locks.Remove(k.Key)
	}
	return nil
}

// Len is the number of tracked keys (counters and locks).
func (l *Local) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts.Len() + l.locks.Len()
}
