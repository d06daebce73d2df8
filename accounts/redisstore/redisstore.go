// Package redisstore is the accounts.Store in Redis, shared by every
// replica: accounts, sessions with their TTLs, the revocation channel that
// keeps each replica's session cache honest, and the failed-attempt
// counters of the regulation policy, so a lockout holds across replicas.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/accounts"
)

// DefaultGrace is Options.Grace unless configured.
const DefaultGrace = 30 * time.Second

// Options tune a Store. Zero values take the defaults.
type Options struct {
	// Grace is how long /verify keeps honouring sessions it already knows
	// while Redis is unreachable (default 30s). Unknown sessions are refused
	// at once: the gate fails closed.
	Grace time.Duration
	// Prefix namespaces every key and the revocation channel.
	Prefix string
	// CacheSize bounds the local session cache (default 1,048,576).
	CacheSize int
	Logger    *slog.Logger
	Now       func() time.Time
}

// Store keeps accounts and sessions in Redis, shared by every replica.
// Sessions carry Redis TTLs equal to their expiry. /verify does not make a
// round trip per request: each replica caches the sessions it has seen and
// learns of logouts and evictions through pub/sub, so a logout on one
// replica is refused by every other within milliseconds. When the
// subscription drops, revocations may have been missed: the cache is
// trusted for at most Grace and flushed when the subscription returns.
type Store struct {
	rdb    redis.UniversalClient
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	cancel context.CancelFunc
	done   chan struct{}
	// ps is the live subscription; Close closes it so the reader stops at
	// once instead of at its next read timeout.
	ps atomic.Pointer[redis.PubSub]

	createSession *redis.Script
	deleteSession *redis.Script

	// downSince is the unix-nano time the subscription was lost, or 0
	// while it is up (and revocations are flowing).
	downSince atomic.Int64
	cache     *sessionCache
}

var _ accounts.Store = (*Store)(nil)

// Open connects to the Redis that spec names (redis://, rediss://, or
// redis-sentinel://[:password@]sentinel:port/db?master_name=NAME&addr=...)
// and starts the revocation subscription. It fails if Redis does not answer.
func Open(ctx context.Context, spec string, o Options) (*Store, error) {
	rdb, err := redisClient(spec)
	if err != nil {
		return nil, err
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Prefix == "" {
		o.Prefix = "authgate:"
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis: %w", err)
	}
	s := &Store{
		rdb: rdb, opts: o, log: o.Logger, now: o.Now, done: make(chan struct{}),
		createSession: redis.NewScript(createSessionLua),
		deleteSession: redis.NewScript(deleteSessionLua),
		cache:         newSessionCache(o.CacheSize),
	}
	s.downSince.Store(o.Now().UnixNano())
	sctx, scancel := context.WithCancel(context.Background())
	s.cancel = scancel
	ready := make(chan struct{})
	go s.subscribe(sctx, ready)
	select {
	case <-ready:
	case <-time.After(3 * time.Second):
		s.log.Warn("redis: revocation subscription not up yet; unknown sessions are refused until it is")
	}
	return s, nil
}

func redisClient(spec string) (redis.UniversalClient, error) {
	tune := func(dial, rw *time.Duration, retries, dialRetries *int) {
		// Fail fast: a request waiting on a dead Redis is worse than a
		// quick 503 (or, on /verify, the local cache). go-redis also
		// retries each failed dial (5 times, 100 ms apart, by default),
		// which made every call to a dead Redis take about 0.4 s.
		*dial, *rw, *retries, *dialRetries = time.Second, time.Second, 1, 1
	}
	if rest, ok := strings.CutPrefix(spec, "redis-sentinel://"); ok {
		fo, err := redis.ParseFailoverURL("redis://" + rest)
		if err != nil {
			return nil, err
		}
		if fo.MasterName == "" {
			return nil, errors.New("redis-sentinel:// needs ?master_name=NAME")
		}
		tune(&fo.DialTimeout, &fo.ReadTimeout, &fo.MaxRetries, &fo.DialerRetries)
		fo.WriteTimeout = fo.ReadTimeout
		return redis.NewFailoverClient(fo), nil
	}
	o, err := redis.ParseURL(spec)
	if err != nil {
		return nil, err
	}
	tune(&o.DialTimeout, &o.ReadTimeout, &o.MaxRetries, &o.DialerRetries)
	o.WriteTimeout = o.ReadTimeout
	return redis.NewClient(o), nil
}

func (s *Store) userKey(name string) string      { return s.opts.Prefix + "user:" + name }
func (s *Store) sessionKey(id string) string     { return s.opts.Prefix + "session:" + id }
func (s *Store) userSessions(name string) string { return s.opts.Prefix + "user_sessions:" + name }
func (s *Store) channel() string                 { return s.opts.Prefix + "revoked" }

// unavailable marks network failures so handlers can answer 503.
func unavailable(err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		return err
	}
	return fmt.Errorf("%w: %w", accounts.ErrUnavailable, err)
}

// CreateUser stores a new account. SET NX is the atomic step: of two
// replicas registering one name at once, exactly one succeeds.
func (s *Store) CreateUser(ctx context.Context, u accounts.User) error {
	return s.setUser(ctx, u, "NX", accounts.ErrUserExists)
}

// setUser writes u under SET's condition mode (NX: new, XX: existing),
// answering missed when the condition does not hold.
func (s *Store) setUser(ctx context.Context, u accounts.User, mode string, missed error) error {
	v, err := json.Marshal(u)
	if err != nil {
		return err
	}
	err = s.rdb.SetArgs(ctx, s.userKey(u.Name), v, redis.SetArgs{Mode: mode}).Err()
	switch {
	case errors.Is(err, redis.Nil):
		return missed
	case err != nil:
		return unavailable(err)
	}
	return nil
}

func (s *Store) User(ctx context.Context, name string) (accounts.User, error) {
	v, err := s.rdb.Get(ctx, s.userKey(name)).Bytes()
	if errors.Is(err, redis.Nil) {
		return accounts.User{}, accounts.ErrUserNotFound
	}
	if err != nil {
		return accounts.User{}, unavailable(err)
	}
	var u accounts.User
	return u, json.Unmarshal(v, &u)
}

func (s *Store) UpdateUser(ctx context.Context, u accounts.User) error {
	return s.setUser(ctx, u, "XX", accounts.ErrUserNotFound)
}

func (s *Store) DeleteUser(ctx context.Context, name string) error {
	n, err := s.rdb.Del(ctx, s.userKey(name)).Result()
	if err != nil {
		return unavailable(err)
	}
	if n == 0 {
		return accounts.ErrUserNotFound
	}
	return s.DeleteUserSessions(ctx, name, "")
}

func (s *Store) Users(ctx context.Context) ([]accounts.User, error) {
	var out []accounts.User
	iter := s.rdb.Scan(ctx, 0, s.userKey("*"), 500).Iterator()
	for iter.Next(ctx) {
		u, err := s.User(ctx, strings.TrimPrefix(iter.Val(), s.userKey("")))
		if errors.Is(err, accounts.ErrUserNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if err := iter.Err(); err != nil {
		return nil, unavailable(err)
	}
	slices.SortFunc(out, func(a, b accounts.User) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// createSessionLua stores a session with its TTL, indexes it under its
// user, drops index entries whose sessions are gone, and evicts (and
// announces) the oldest sessions beyond the cap, all in one atomic step.
const createSessionLua = `
local sess, zset = KEYS[1], KEYS[2]
local id, user, ttl, created, max = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local prefix, chan = ARGV[6], ARGV[7]
redis.call('SET', sess, user, 'PX', ttl)
redis.call('ZADD', zset, created, id)
if redis.call('PTTL', zset) < ttl then redis.call('PEXPIRE', zset, ttl) end
for _, m in ipairs(redis.call('ZRANGE', zset, 0, -1)) do
  if redis.call('EXISTS', prefix .. m) == 0 then redis.call('ZREM', zset, m) end
end
local n = redis.call('ZCARD', zset)
local evicted = {}
while max > 0 and n > max do
  local old = redis.call('ZPOPMIN', zset)
  redis.call('DEL', prefix .. old[1])
  redis.call('PUBLISH', chan, old[1])
  evicted[#evicted + 1] = old[1]
  n = n - 1
end
return evicted`

// deleteSessionLua deletes a session and announces it, so every replica
// drops it from its cache.
const deleteSessionLua = `
local user = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
if user then redis.call('ZREM', ARGV[2] .. user, ARGV[1]) end
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1`

func (s *Store) CreateSession(ctx context.Context, sess accounts.Session, maxPerUser int) error {
	ttl := sess.Expires.Sub(s.now())
	if ttl <= 0 {
		return nil
	}
	evicted, err := s.createSession.Run(ctx, s.rdb,
		[]string{s.sessionKey(sess.ID), s.userSessions(sess.User)},
		sess.ID, sess.User, ttl.Milliseconds(), sess.Created.UnixNano(), maxPerUser,
		s.sessionKey(""), s.channel()).StringSlice()
	if err != nil {
		return unavailable(err)
	}
	// The announcement reaches this replica too, but later: drop the
	// evicted sessions here at once, so this replica never lags itself.
	for _, id := range evicted {
		s.cache.markDead(id)
	}
	s.cache.put(sess.ID, sess.User, sess.Expires)
	return nil
}

// SessionLive answers from the local cache when it can. A session not yet
// seen by this replica costs one round trip, once; a known-dead one costs
// nothing.
func (s *Store) SessionLive(ctx context.Context, id, user string) (bool, error) {
	now := s.now()
	down := s.downSince.Load()
	if e, ok := s.cache.get(id); ok {
		if e.dead {
			return false, nil
		}
		if e.user != user || !now.Before(e.expires) {
			return false, nil
		}
		if down == 0 || now.Sub(time.Unix(0, down)) < s.opts.Grace {
			return true, nil
		}
		return false, nil // revocations may have been missed for too long
	}
	if down != 0 {
		return false, nil // fail closed: nothing we can confirm
	}
	gen := s.cache.generation()
	pipe := s.rdb.Pipeline()
	get := pipe.Get(ctx, s.sessionKey(id))
	pttl := pipe.PTTL(ctx, s.sessionKey(id))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, unavailable(err)
	}
	owner, err := get.Result()
	if errors.Is(err, redis.Nil) {
		s.cache.markDead(id)
		return false, nil
	}
	if err != nil {
		return false, unavailable(err)
	}
	ttl := pttl.Val()
	if ttl <= 0 {
		return false, nil
	}
	s.cache.putIf(gen, id, owner, now.Add(ttl))
	return owner == user, nil
}

func (s *Store) DeleteSession(ctx context.Context, id string) error {
	s.cache.markDead(id)
	err := s.deleteSession.Run(ctx, s.rdb, []string{s.sessionKey(id)}, id, s.userSessions(""), s.channel()).Err()
	return unavailable(err)
}

func (s *Store) DeleteUserSessions(ctx context.Context, user, keep string) error {
	ids, err := s.rdb.ZRange(ctx, s.userSessions(user), 0, -1).Result()
	if err != nil {
		return unavailable(err)
	}
	for _, id := range ids {
		if id == keep {
			continue
		}
		if err := s.DeleteSession(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// UseOnce is SET NX with a TTL: Redis decides which of two replicas
// asking at once is first. The TTL is counted on the gate's clock, like a
// session's.
func (s *Store) UseOnce(ctx context.Context, key string, until time.Time) (bool, error) {
	ttl := until.Sub(s.now())
	if ttl < time.Millisecond {
		return true, nil // over already: nothing to remember
	}
	err := s.rdb.SetArgs(ctx, s.opts.Prefix+"once:"+key, 1, redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	switch {
	case errors.Is(err, redis.Nil):
		return false, nil
	case err != nil:
		return false, unavailable(err)
	}
	return true, nil
}

// Ping reports whether Redis answers and revocations are flowing; /readyz
// uses it.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	if s.downSince.Load() != 0 {
		return fmt.Errorf("%w: revocation subscription is down", accounts.ErrUnavailable)
	}
	return nil
}

func (s *Store) Close() error {
	s.cancel()
	if ps := s.ps.Load(); ps != nil {
		_ = ps.Close()
	}
	<-s.done
	return s.rdb.Close()
}

// Sweep drops expired entries from the local cache.
func (s *Store) Sweep() int { return s.cache.sweep(s.now()) }

// subscribe keeps the revocation subscription up. Each time it (re)starts,
// the cache is flushed first: messages sent while it was down are lost.
func (s *Store) subscribe(ctx context.Context, ready chan struct{}) {
	defer close(s.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		ps := s.rdb.Subscribe(ctx, s.channel())
		s.ps.Store(ps)
		if ctx.Err() != nil { // Close ran between the check and the Store
			_ = ps.Close()
			return
		}
		if _, err := ps.Receive(ctx); err != nil {
			_ = ps.Close()
			s.markDown(err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		s.cache.flush()
		s.downSince.Store(0)
		s.log.Info("redis: revocation subscription up")
		if ready != nil {
			close(ready)
			ready = nil
		}
		err := s.listen(ctx, ps)
		_ = ps.Close()
		if ctx.Err() == nil {
			s.markDown(err)
		}
	}
}

func (s *Store) markDown(err error) {
	if s.downSince.CompareAndSwap(0, s.now().UnixNano()) {
		s.log.Warn("redis: revocation subscription lost; known sessions honoured for the grace period, unknown ones refused", "grace", s.opts.Grace.String(), "err", err)
	}
}

// listen applies revocations until the connection fails. A ping every
// second finds a silent, dead connection.
func (s *Store) listen(ctx context.Context, ps *redis.PubSub) error {
	lastSeen := time.Now()
	for {
		// The socket read does not watch ctx; Close cancels it and waits
		// here, so look at it before each read.
		if err := ctx.Err(); err != nil {
			return err
		}
		msg, err := ps.ReceiveTimeout(ctx, time.Second)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if time.Since(lastSeen) > 3*time.Second {
					return errors.New("no answer to pings")
				}
				if err := ps.Ping(ctx); err != nil {
					return err
				}
				continue
			}
			return err
		}
		lastSeen = time.Now()
		switch m := msg.(type) {
		case *redis.Message:
			s.cache.markDead(m.Payload)
		case *redis.Subscription:
			// A resubscription after a silent reconnect: flush, as at start.
			if m.Kind == "subscribe" {
				s.cache.flush()
			}
		}
	}
}

// sessionCache is the replica's view of sessions: live ones with their
// owner and expiry, and ids known to be dead (logged out, evicted, never
// existed). The library's LRU bounds it; an evicted entry only costs a
// round trip later. Lookups take only the LRU's read lock; writers also
// hold mu, so a generation check and the insert it guards are one step.
type sessionCache struct {
	mu      sync.Mutex
	gen     uint64
	entries *lru.Cache[string, cacheEntry]
}

type cacheEntry struct {
	user    string
	expires time.Time
	dead    bool
}

func newSessionCache(size int) *sessionCache {
	entries, _ := lru.New[string, cacheEntry](size)
	return &sessionCache{entries: entries}
}

func (c *sessionCache) get(id string) (cacheEntry, bool) { return c.entries.Peek(id) }

func (c *sessionCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *sessionCache) put(id, user string, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries.Add(id, cacheEntry{user: user, expires: expires})
}

// putIf caches a lookup result unless a revocation or flush happened since
// the lookup started (gen changed): a logout racing a lookup must win.
func (c *sessionCache) putIf(gen uint64, id, user string, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if e, ok := c.entries.Peek(id); ok && e.dead {
		return
	}
	c.entries.Add(id, cacheEntry{user: user, expires: expires})
}

func (c *sessionCache) markDead(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries.Add(id, cacheEntry{dead: true, expires: time.Now().Add(48 * time.Hour)})
}

func (c *sessionCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries.Purge()
}

func (c *sessionCache) sweep(now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.entries.Keys() {
		if e, ok := c.entries.Peek(k); ok && !now.Before(e.expires) {
			c.entries.Remove(k)
			n++
		}
	}
	return n
}
