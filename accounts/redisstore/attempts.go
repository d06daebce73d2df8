package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/accounts/regulation"
)

// Attempts counts sign-in attempts in Redis, so AUTHGATE_MAX_FAILURES holds
// for every replica together: wrong passwords spread over any number of
// gates lock the name on all of them. Each key is one hash (f: failures in
// the window, s: window start, p: attempts in flight, l: locked until, in
// Unix milliseconds), changed only by the two scripts below, each one
// atomic step; they keep the rules of regulation.Local. The clock is the caller's (replicas are NTP-synchronised;
// the window is minutes long).
type Attempts struct {
	rdb    redis.UniversalClient
	prefix string

	reserve, settle *redis.Script
}

var _ regulation.Attempts = (*Attempts)(nil)

// Attempts returns the store's shared counter.
func (s *Store) Attempts() *Attempts {
	return &Attempts{
		rdb: s.rdb, prefix: s.opts.Prefix + "attempts:",
		reserve: redis.NewScript(reserveLua), settle: redis.NewScript(settleLua),
	}
}

// reserveLua: ARGV = now, window, busy, then one limit per key (ms). It
// answers the wait in ms: 0 when the attempt is reserved on every key.
const reserveLua = `
local now, window, busy = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local wait = 0
for _, k in ipairs(KEYS) do
  local l = tonumber(redis.call('HGET', k, 'l') or '0')
  if l > now and l - now > wait then wait = l - now end
end
if wait > 0 then return wait end
for i, k in ipairs(KEYS) do
  local limit = tonumber(ARGV[3 + i])
  if limit > 0 then
    local v = redis.call('HMGET', k, 'f', 's', 'p')
    local f, s, p = tonumber(v[1] or '0'), tonumber(v[2] or '0'), tonumber(v[3] or '0')
    if now - s > window then f = 0 end
    if f + p >= limit then return busy end
  end
end
for _, k in ipairs(KEYS) do
  redis.call('HINCRBY', k, 'p', 1)
  redis.call('PEXPIRE', k, ARGV[2] * 2)
end
return 0`

// settleLua: ARGV = now, window, ban, failed (1/0), then one limit per key.
const settleLua = `
local now, window, ban, failed = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
for i, k in ipairs(KEYS) do
  local limit = tonumber(ARGV[4 + i])
  if redis.call('HINCRBY', k, 'p', -1) < 0 then redis.call('HSET', k, 'p', 0) end
  local v = redis.call('HMGET', k, 'f', 's')
  local f, s = tonumber(v[1] or '0'), tonumber(v[2] or '0')
  if now - s > window then f, s = 0, now end
  if failed then
    f = f + 1
    if limit > 0 and f >= limit then
      redis.call('HSET', k, 'l', now + ban)
      f, s = 0, now
    end
  end
  redis.call('HSET', k, 'f', f, 's', s)
  local ttl = window * 2
  if ban * 2 > ttl then ttl = ban * 2 end
  redis.call('PEXPIRE', k, ttl)
end
return 0`

// Locked reads the keys' locks in one round trip, reserving nothing.
func (a *Attempts) Locked(ctx context.Context, keys []regulation.Key, now time.Time) (time.Duration, error) {
	pipe := a.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range a.keys(keys) {
		cmds[i] = pipe.HGet(ctx, k, "l")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, unavailable(err)
	}
	var wait time.Duration
	for _, c := range cmds {
		if until, err := c.Int64(); err == nil {
			wait = max(wait, time.UnixMilli(until).Sub(now))
		}
	}
	return max(wait, 0), nil
}

func (a *Attempts) keys(keys []regulation.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = a.prefix + k.Key
	}
	return out
}

func (a *Attempts) Reserve(ctx context.Context, keys []regulation.Key, r regulation.Policy, now time.Time) (time.Duration, error) {
	args := []any{now.UnixMilli(), r.Window.Milliseconds(), regulation.BusyWait.Milliseconds()}
	for _, k := range keys {
		args = append(args, k.Limit)
	}
	ms, err := a.reserve.Run(ctx, a.rdb, a.keys(keys), args...).Int64()
	if err != nil {
		return 0, unavailable(err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

func (a *Attempts) Settle(ctx context.Context, keys []regulation.Key, r regulation.Policy, now time.Time, failed bool) error {
	args := []any{now.UnixMilli(), r.Window.Milliseconds(), r.BanTime.Milliseconds(), flag(failed)}
	for _, k := range keys {
		args = append(args, k.Limit)
	}
	return unavailable(a.settle.Run(ctx, a.rdb, a.keys(keys), args...).Err())
}

// Clear forgets the keys' failures and locks (a password reset).
func (a *Attempts) Clear(ctx context.Context, keys []regulation.Key) error {
	return unavailable(a.rdb.Del(ctx, a.keys(keys)...).Err())
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}
