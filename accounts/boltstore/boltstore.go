// Package boltstore is the accounts.Store in one bbolt file, for a single
// replica whose accounts and sessions survive restarts. Live sessions are
// mirrored in a memstore at open, so /verify never touches the disk.
package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/memstore"
)

// Store keeps accounts and sessions in one bbolt file. Every write is
// committed (fsync) before it returns: an account whose registration was
// answered 201 survives a SIGKILL right after.
type Store struct {
	db  *bolt.DB
	mem *memstore.Store // session index; the file is the truth
	now func() time.Time
}

var _ accounts.Store = (*Store)(nil)

var (
	bucketUsers    = []byte("users")
	bucketSessions = []byte("sessions")
	bucketOnce     = []byte("once")   // UseOnce keys -> until (unix seconds, decimal)
	bucketGrants   = []byte("grants") // kind + "\x00" + hash -> Grant (JSON)
)

// ErrStoreLocked: another process has the file open. bbolt takes an
// exclusive flock; waiting for it forever would look like a hang.
var ErrStoreLocked = errors.New("the store file is in use by another authgate process (bbolt holds an exclusive lock)")

// Open opens (creating if needed) the store file at path. It gives up
// after lockTimeout if another process holds the file.
func Open(path string, lockTimeout time.Duration, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("%s: %w", path, ErrStoreLocked)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s := &Store{db: db, mem: memstore.New(now), now: now}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// load creates the buckets and mirrors the live sessions, dropping the
// expired ones from the file.
func (s *Store) load() error {
	now := s.now()
	return s.db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketOnce); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketUsers); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketGrants); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketSessions)
		if err != nil {
			return err
		}
		var sessions []accounts.Session
		var expired [][]byte
		err = b.ForEach(func(k, v []byte) error {
			var sess accounts.Session
			if err := json.Unmarshal(v, &sess); err != nil || !now.Before(sess.Expires) {
				expired = append(expired, append([]byte(nil), k...))
				return nil
			}
			sessions = append(sessions, sess)
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		// Oldest first, so the per-user order (and eviction) is kept.
		slices.SortFunc(sessions, func(a, b accounts.Session) int { return a.Created.Compare(b.Created) })
		for _, sess := range sessions {
			s.mem.AddSession(sess, 0)
		}
		return nil
	})
}

func (s *Store) CreateUser(_ context.Context, u accounts.User) error { return s.putUser(u, false) }

// putUser writes u: a new account (exists=false; a taken name is
// ErrUserExists) or a change to an existing one (exists=true).
func (s *Store) putUser(u accounts.User, exists bool) error {
	v, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		switch found := b.Get([]byte(u.Name)) != nil; {
		case found && !exists:
			return accounts.ErrUserExists
		case !found && exists:
			return accounts.ErrUserNotFound
		}
		return b.Put([]byte(u.Name), v)
	})
}

func (s *Store) User(_ context.Context, name string) (accounts.User, error) {
	var u accounts.User
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUsers).Get([]byte(name))
		if v == nil {
			return accounts.ErrUserNotFound
		}
		return json.Unmarshal(v, &u)
	})
	return u, err
}

func (s *Store) UpdateUser(_ context.Context, u accounts.User) error { return s.putUser(u, true) }

func (s *Store) DeleteUser(ctx context.Context, name string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(name)) == nil {
			return accounts.ErrUserNotFound
		}
		return b.Delete([]byte(name))
	})
	if err != nil {
		return err
	}
	return s.DeleteUserSessions(ctx, name, "")
}

func (s *Store) Users(context.Context) ([]accounts.User, error) {
	var out []accounts.User
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(_, v []byte) error {
			var u accounts.User
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	})
	return out, err // bbolt iterates keys in order: already sorted
}

func (s *Store) CreateSession(_ context.Context, sess accounts.Session, maxPerUser int) error {
	v, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	evicted := s.mem.AddSession(sess, maxPerUser)
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		for _, id := range evicted {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return b.Put([]byte(sess.ID), v)
	})
	if err != nil {
		// Not durable, so not live. The evicted sessions stay ended:
		// failing closed is the safe direction.
		_ = s.mem.DeleteSession(context.Background(), sess.ID)
	}
	return err
}

func (s *Store) SessionLive(ctx context.Context, id, user string) (bool, error) {
	return s.mem.SessionLive(ctx, id, user)
}

func (s *Store) DeleteSession(ctx context.Context, id string) error {
	// Memory first: the session stops working at once even if the disk
	// write fails.
	_ = s.mem.DeleteSession(ctx, id)
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSessions).Delete([]byte(id)) })
}

func (s *Store) DeleteUserSessions(ctx context.Context, user, keep string) error {
	ids := s.mem.SessionIDs(user)
	_ = s.mem.DeleteUserSessions(ctx, user, keep)
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		for _, id := range ids {
			if id == keep {
				continue
			}
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// grantPrefix starts the keys of every grant of a kind. A grant is kept
// under the hash of its code, so UseGrant, the hot lookup, is one Get.
func grantPrefix(kind string) []byte { return []byte(kind + "\x00") }

func grantKey(kind, hash string) []byte { return append(grantPrefix(kind), hash...) }

func (s *Store) PutGrant(_ context.Context, g accounts.Grant) error {
	v, err := json.Marshal(g)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketGrants).Put(grantKey(g.Kind, g.Hash), v) })
}

// Grants reads one run of the ordered bucket: a kind's keys share a
// prefix.
func (s *Store) Grants(_ context.Context, kind string) ([]accounts.Grant, error) {
	var out []accounts.Grant
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := grantPrefix(kind)
		c := tx.Bucket(bucketGrants).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var g accounts.Grant
			if err := json.Unmarshal(v, &g); err != nil {
				return err
			}
			out = append(out, g)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Keys are ordered by hash, which says nothing about age.
	slices.SortFunc(out, func(a, b accounts.Grant) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DeleteGrant scans the kind's grants for the id: grants are keyed by
// hash, and there are few of them, so an index by id is not worth keeping.
func (s *Store) DeleteGrant(_ context.Context, kind, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		prefix := grantPrefix(kind)
		c := tx.Bucket(bucketGrants).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var g accounts.Grant
			// A record that does not decode names no id; Sweep drops it.
			if json.Unmarshal(v, &g) == nil && g.ID == id {
				return c.Delete()
			}
		}
		return accounts.ErrGrantNotFound
	})
}

// UseGrant is decided inside one write transaction, which bbolt runs one
// at a time: of two callers racing for the last use, the second reads
// what the first wrote and is refused.
func (s *Store) UseGrant(_ context.Context, kind, hash string, now time.Time) (accounts.Grant, error) {
	var g accounts.Grant
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketGrants)
		k := grantKey(kind, hash)
		v := b.Get(k)
		if v == nil {
			return accounts.ErrGrantNotFound
		}
		if err := json.Unmarshal(v, &g); err != nil {
			return err
		}
		if g.Uses <= 0 || !now.Before(g.Expires) {
			return accounts.ErrGrantNotFound
		}
		g.Uses--
		if g.Uses == 0 {
			return b.Delete(k) // spent: gone, like a revoked one
		}
		nv, err := json.Marshal(g)
		if err != nil {
			return err
		}
		return b.Put(k, nv)
	})
	if err != nil {
		return accounts.Grant{}, err
	}
	return g, nil
}

// UserSessions counts from the memory index, which holds every live
// session: the file is not read.
func (s *Store) UserSessions(ctx context.Context, user string) (int, error) {
	return s.mem.UserSessions(ctx, user)
}

// UseOnce is decided inside one write transaction, which bbolt runs one
// at a time, and survives a restart: a code used just before one is not
// accepted again just after.
func (s *Store) UseOnce(_ context.Context, key string, until time.Time) (first bool, err error) {
	now := s.now().Unix()
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOnce)
		if v := b.Get([]byte(key)); v != nil {
			if u, err := strconv.ParseInt(string(v), 10, 64); err == nil && now < u {
				return nil
			}
		}
		first = true
		return b.Put([]byte(key), strconv.AppendInt(nil, until.Unix(), 10))
	})
	return first && err == nil, err
}

// Sweep removes expired sessions from memory and from the file, used
// keys past their time, and expired grants (a record that does not decode
// is dropped too: nothing could use it). It returns the number of
// sessions removed.
func (s *Store) Sweep() int {
	removed := s.mem.SweepIDs()
	t := s.now()
	now := t.Unix()
	var used, grants [][]byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketOnce).ForEach(func(k, v []byte) error {
			if u, err := strconv.ParseInt(string(v), 10, 64); err != nil || now >= u {
				used = append(used, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketGrants).ForEach(func(k, v []byte) error {
			if grantExpired(v, t) {
				grants = append(grants, bytes.Clone(k))
			}
			return nil
		})
	})
	if len(removed) == 0 && len(used) == 0 && len(grants) == 0 {
		return 0 // nothing to write: no fsync every minute
	}
	_ = s.db.Update(func(tx *bolt.Tx) error {
		for _, id := range removed {
			_ = tx.Bucket(bucketSessions).Delete([]byte(id))
		}
		for _, k := range used {
			// Read again: a UseOnce since the read pass may have
			// recorded the key anew, and that record must stay.
			v := tx.Bucket(bucketOnce).Get(k)
			if u, err := strconv.ParseInt(string(v), 10, 64); v != nil && (err != nil || now >= u) {
				_ = tx.Bucket(bucketOnce).Delete(k)
			}
		}
		b := tx.Bucket(bucketGrants)
		for _, k := range grants {
			// Decided again: a grant put under this key since the read
			// above is not the expired one.
			if v := b.Get(k); v != nil && grantExpired(v, t) {
				_ = b.Delete(k)
			}
		}
		return nil
	})
	return len(removed)
}

// grantExpired reports whether the stored grant v can no longer be used
// at now: Expires not after now, as UseGrant decides, or a record that
// does not decode.
func grantExpired(v []byte, now time.Time) bool {
	var g accounts.Grant
	return json.Unmarshal(v, &g) != nil || !now.Before(g.Expires)
}

func (s *Store) Ping(context.Context) error { return nil }
func (s *Store) Close() error               { return s.db.Close() }
