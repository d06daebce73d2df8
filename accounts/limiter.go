package accounts

import (
	"sync"
	"time"
)

// Regulation settings. The defaults follow common practice for login
// throttling (OWASP Authentication Cheat Sheet): a handful of failures,
// then a lock measured in minutes.
type Regulation struct {
	MaxFailures      int           // per username; 0 disables regulation
	MaxFailuresPerIP int           // per client address
	Window           time.Duration // failures older than this are forgotten
	BanTime          time.Duration // how long a lock lasts
	// MaxEntries bounds memory however many distinct names an attacker
	// tries; a full table forgets unlocked entries first.
	MaxEntries int
}

// DefaultRegulation: 5 failures per name or 20 per address within 10
// minutes lock that name or address for 15 minutes.
var DefaultRegulation = Regulation{MaxFailures: 5, MaxFailuresPerIP: 20, Window: 10 * time.Minute, BanTime: 15 * time.Minute, MaxEntries: 100_000}

// Limiter counts failed sign-ins per canonical username and per client
// address, and locks either once it passes its limit, even for the right
// password (brute force and credential stuffing through /login or through
// Basic credentials on /verify). It is safe for concurrent use.
type Limiter struct {
	cfg Regulation
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*failures
}

type failures struct {
	count       int
	windowStart time.Time
	lockedUntil time.Time
}

// NewLimiter returns a Limiter; now may be nil for time.Now.
func NewLimiter(cfg Regulation, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultRegulation.MaxEntries
	}
	return &Limiter{cfg: cfg, now: now, entries: map[string]*failures{}}
}

func userKey(name string) string { return "u\x00" + name }
func ipKey(ip string) string     { return "i\x00" + ip }

// Locked reports how long the username or the address stays locked; zero
// means the attempt may go ahead.
func (l *Limiter) Locked(name, ip string) time.Duration {
	if l == nil || l.cfg.MaxFailures <= 0 {
		return 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range [...]string{userKey(name), ipKey(ip)} {
		if f, ok := l.entries[k]; ok && now.Before(f.lockedUntil) {
			wait = max(wait, f.lockedUntil.Sub(now))
		}
	}
	return wait
}

// Fail records a failed attempt. name may be empty when the username was
// not even valid; the address is still charged.
func (l *Limiter) Fail(name, ip string) {
	if l == nil || l.cfg.MaxFailures <= 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if name != "" {
		l.fail(userKey(name), l.cfg.MaxFailures, now)
	}
	if ip != "" {
		l.fail(ipKey(ip), l.cfg.MaxFailuresPerIP, now)
	}
}

func (l *Limiter) fail(key string, limit int, now time.Time) {
	f, ok := l.entries[key]
	if !ok {
		if len(l.entries) >= l.cfg.MaxEntries {
			l.evict(now)
		}
		f = &failures{windowStart: now}
		l.entries[key] = f
	}
	if now.Sub(f.windowStart) > l.cfg.Window {
		f.count, f.windowStart = 0, now
	}
	f.count++
	if limit > 0 && f.count >= limit {
		f.lockedUntil = now.Add(l.cfg.BanTime)
		f.count, f.windowStart = 0, now
	}
}

// Succeed clears the failures of a username after a right password. The
// address keeps its count: one valid account must not launder an
// attacker's guesses at others.
func (l *Limiter) Succeed(name string) {
	if l == nil || l.cfg.MaxFailures <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.entries[userKey(name)]; ok && !l.now().Before(f.lockedUntil) {
		delete(l.entries, userKey(name))
	}
}

// evict makes room: first everything stale, then, if still full, unlocked
// entries. Locks are kept as long as possible; if the table is full of
// locks, the new failure evicts one arbitrary entry.
func (l *Limiter) evict(now time.Time) {
	for k, f := range l.entries {
		if !now.Before(f.lockedUntil) && now.Sub(f.windowStart) > l.cfg.Window {
			delete(l.entries, k)
		}
	}
	if len(l.entries) < l.cfg.MaxEntries {
		return
	}
	n := len(l.entries) / 10
	for k, f := range l.entries {
		if n <= 0 {
			break
		}
		if !now.Before(f.lockedUntil) {
			delete(l.entries, k)
			n--
		}
	}
	if len(l.entries) >= l.cfg.MaxEntries {
		for k := range l.entries {
			delete(l.entries, k)
			break
		}
	}
}

// Len is the number of tracked names and addresses.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
