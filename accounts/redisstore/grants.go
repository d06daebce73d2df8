package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/accounts"
)

// Grants (invites, reset links) are kept by kind and the hash of their
// code in three keys that live and die together:
//
//	<prefix>grant:<kind>:<hash>      the grant's JSON, never rewritten
//	<prefix>grant_uses:<kind>:<hash> uses left, an integer
//	<prefix>grant_exp:<kind>:<hash>  its expiry, "<unix seconds>:<nanoseconds>"
//
// and the hash <prefix>grants:<kind> indexes them by id (id -> code hash)
// for listing and revocation. Every key carries a TTL up to the grant's
// expiry, counted on the gate's clock, so Redis forgets expired grants.
// The expiry is kept apart from the JSON so the scripts compare it
// without decoding, and the JSON is only ever decoded in Lua (to read an
// id), never re-encoded: cjson would turn an empty array into an object.

func (s *Store) grantKey(kind, hash string) string { return s.grantPrefix(kind) + hash }
func (s *Store) grantPrefix(kind string) string    { return s.opts.Prefix + "grant:" + kind + ":" }
func (s *Store) grantUsesPrefix(kind string) string {
	return s.opts.Prefix + "grant_uses:" + kind + ":"
}
func (s *Store) grantExpPrefix(kind string) string { return s.opts.Prefix + "grant_exp:" + kind + ":" }
func (s *Store) grantIndex(kind string) string     { return s.opts.Prefix + "grants:" + kind }

// The scripts hold only their source and its SHA, so every Store shares
// them.
var (
	putGrantScript    = redis.NewScript(putGrantLua)
	useGrantScript    = redis.NewScript(useGrantLua)
	deleteGrantScript = redis.NewScript(deleteGrantLua)
	pruneGrantsScript = redis.NewScript(pruneGrantsLua)
)

// delGrantLua, shared by putGrantLua and deleteGrantLua, deletes the three keys of the
// grant with code hash h and its index entry, if the entry still names h.
const delGrantLua = `
local function delgrant(idx, id, h, pj, pu, pe)
  redis.call('DEL', pj .. h, pu .. h, pe .. h)
  if id and redis.call('HGET', idx, id) == h then redis.call('HDEL', idx, id) end
end
`

// putGrantLua: KEYS = json, uses, exp, index; ARGV = json, uses, exp,
// ttl (ms), id, hash, then the json, uses and exp key prefixes. A grant
// already kept under this hash, or under this id with another hash, is
// replaced, so no grant is left usable but unlisted.
const putGrantLua = delGrantLua + `
local idx, id, h, ttl = KEYS[4], ARGV[5], ARGV[6], tonumber(ARGV[4])
local pj, pu, pe = ARGV[7], ARGV[8], ARGV[9]
local old = redis.call('GET', KEYS[1])
if old then
  local ok, g = pcall(cjson.decode, old)
  if ok and type(g) == 'table' and type(g.id) == 'string' and g.id ~= id then
    if redis.call('HGET', idx, g.id) == h then redis.call('HDEL', idx, g.id) end
  end
end
local prev = redis.call('HGET', idx, id)
if prev and prev ~= h then delgrant(idx, id, prev, pj, pu, pe) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
redis.call('SET', KEYS[3], ARGV[3], 'PX', ttl)
redis.call('HSET', idx, id, h)
if redis.call('PTTL', idx) < ttl then redis.call('PEXPIRE', idx, ttl) end
return 1`

// useGrantLua: KEYS = json, uses, exp, index; ARGV = now seconds, now
// nanoseconds, hash. It answers {json, uses left}, or nil when the grant
// is unknown, expired (its expiry not after now) or used up. The grant
// whose last use it spends is deleted.
const useGrantLua = `
local j = redis.call('GET', KEYS[1])
if not j then return false end
local e = redis.call('GET', KEYS[3])
if not e then return false end
local es, en = string.match(e, '^(-?%d+):(%d+)$')
if not es then return false end
es, en = tonumber(es), tonumber(en)
local ns, nn = tonumber(ARGV[1]), tonumber(ARGV[2])
if ns > es or (ns == es and nn >= en) then return false end
local left = tonumber(redis.call('GET', KEYS[2]) or '0')
if not left or left <= 0 then return false end
left = redis.call('DECR', KEYS[2])
if left <= 0 then
  local id
  local ok, g = pcall(cjson.decode, j)
  if ok and type(g) == 'table' and type(g.id) == 'string' then id = g.id end
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  if id and redis.call('HGET', KEYS[4], id) == ARGV[3] then redis.call('HDEL', KEYS[4], id) end
end
return {j, left}`

// deleteGrantLua: KEYS = index; ARGV = id, then the json, uses and exp
// key prefixes. It answers 1 when it revoked a grant, 0 when there was
// none (an index entry whose grant expired is dropped).
const deleteGrantLua = delGrantLua + `
local idx, id = KEYS[1], ARGV[1]
local h = redis.call('HGET', idx, id)
if not h then return 0 end
local found = redis.call('EXISTS', ARGV[2] .. h)
delgrant(idx, id, h, ARGV[2], ARGV[3], ARGV[4])
return found`

// pruneGrantsLua: KEYS = index; ARGV = json key prefix, then pairs of id
// and hash. It drops the index entries that still name a grant that is
// gone (expired by its TTL).
const pruneGrantsLua = `
local idx, pj = KEYS[1], ARGV[1]
for i = 2, #ARGV - 1, 2 do
  local id, h = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', idx, id) == h and redis.call('EXISTS', pj .. h) == 0 then
    redis.call('HDEL', idx, id)
  end
end
return 1`

// grantTTL is how long Redis keeps a grant expiring at until: to its
// expiry on the gate's clock, at least a millisecond.
func (s *Store) grantTTL(until time.Time) time.Duration {
	return max(until.Sub(s.now()), time.Millisecond)
}

// expiryValue renders t exactly, for the scripts to compare as two
// integers (Lua's numbers are doubles: Unix nanoseconds would not fit).
func expiryValue(t time.Time) string {
	return fmt.Sprintf("%d:%d", t.Unix(), t.Nanosecond())
}

// PutGrant stores g with its uses and expiry and indexes it by id, in
// one atomic step.
func (s *Store) PutGrant(ctx context.Context, g accounts.Grant) error {
	v, err := json.Marshal(g)
	if err != nil {
		return err
	}
	ttl := s.grantTTL(g.Expires)
	err = putGrantScript.Run(ctx, s.rdb,
		[]string{s.grantKey(g.Kind, g.Hash), s.grantUsesPrefix(g.Kind) + g.Hash, s.grantExpPrefix(g.Kind) + g.Hash, s.grantIndex(g.Kind)},
		v, g.Uses, expiryValue(g.Expires), ttl.Milliseconds(), g.ID, g.Hash,
		s.grantPrefix(g.Kind), s.grantUsesPrefix(g.Kind), s.grantExpPrefix(g.Kind)).Err()
	return unavailable(err)
}

// Grants lists the grants of a kind by their index, with the uses each
// has left, sorted by creation then id. Index entries whose grants Redis
// has expired are dropped on the way.
func (s *Store) Grants(ctx context.Context, kind string) ([]accounts.Grant, error) {
	idx, err := s.rdb.HGetAll(ctx, s.grantIndex(kind)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(idx) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(idx))
	for id := range idx {
		ids = append(ids, id)
	}
	// One MGET reads every grant and its uses at one instant.
	keys := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		keys = append(keys, s.grantKey(kind, idx[id]))
	}
	for _, id := range ids {
		keys = append(keys, s.grantUsesPrefix(kind)+idx[id])
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	var out []accounts.Grant
	var gone []any
	for i, id := range ids {
		raw, ok := vals[i].(string)
		if !ok {
			gone = append(gone, id, idx[id])
			continue
		}
		var g accounts.Grant
		if err := json.Unmarshal([]byte(raw), &g); err != nil {
			return nil, fmt.Errorf("grant %s: %w", id, err)
		}
		if g.ID != id {
			continue // replaced under the same code; its own entry lists it
		}
		if u, ok := vals[len(ids)+i].(string); ok {
			n, err := strconv.Atoi(u)
			if err != nil {
				return nil, fmt.Errorf("grant %s: uses: %w", id, err)
			}
			g.Uses = n
		}
		out = append(out, g)
	}
	if len(gone) > 0 {
		args := append([]any{s.grantPrefix(kind)}, gone...)
		if err := pruneGrantsScript.Run(ctx, s.rdb, []string{s.grantIndex(kind)}, args...).Err(); err != nil {
			return nil, unavailable(err)
		}
	}
	slices.SortFunc(out, func(a, b accounts.Grant) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DeleteGrant revokes the grant of a kind named id.
func (s *Store) DeleteGrant(ctx context.Context, kind, id string) error {
	n, err := deleteGrantScript.Run(ctx, s.rdb, []string{s.grantIndex(kind)},
		id, s.grantPrefix(kind), s.grantUsesPrefix(kind), s.grantExpPrefix(kind)).Int()
	if err != nil {
		return unavailable(err)
	}
	if n == 0 {
		return accounts.ErrGrantNotFound
	}
	return nil
}

// UseGrant spends one use in one script, so of two replicas racing for
// the last use exactly one gets it.
func (s *Store) UseGrant(ctx context.Context, kind, hash string, now time.Time) (accounts.Grant, error) {
	res, err := useGrantScript.Run(ctx, s.rdb,
		[]string{s.grantKey(kind, hash), s.grantUsesPrefix(kind) + hash, s.grantExpPrefix(kind) + hash, s.grantIndex(kind)},
		now.Unix(), now.Nanosecond(), hash).Slice()
	if errors.Is(err, redis.Nil) {
		return accounts.Grant{}, accounts.ErrGrantNotFound
	}
	if err != nil {
		return accounts.Grant{}, unavailable(err)
	}
	if len(res) != 2 {
		return accounts.Grant{}, fmt.Errorf("grant: unexpected answer %v", res)
	}
	raw, ok1 := res[0].(string)
	left, ok2 := res[1].(int64)
	if !ok1 || !ok2 {
		return accounts.Grant{}, fmt.Errorf("grant: unexpected answer %v", res)
	}
	var g accounts.Grant
	if err := json.Unmarshal([]byte(raw), &g); err != nil {
		return accounts.Grant{}, fmt.Errorf("grant: %w", err)
	}
	g.Uses = int(left)
	return g, nil
}

// UserSessions counts the sessions in the user's index whose keys still
// exist: Redis expires a session's key with the session.
func (s *Store) UserSessions(ctx context.Context, user string) (int, error) {
	ids, err := s.rdb.ZRange(ctx, s.userSessions(user), 0, -1).Result()
	if err != nil {
		return 0, unavailable(err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.Exists(ctx, s.sessionKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, unavailable(err)
	}
	n := 0
	for _, c := range cmds {
		if c.Val() > 0 {
			n++
		}
	}
	return n, nil
}
