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
	bucketOnce     = []byte("once") // UseOnce keys -> until (unix seconds, decimal)
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
	ids := s.mem.UserSessions(user)
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

// Sweep removes expired sessions from memory and from the file, and used
// keys past their time.
func (s *Store) Sweep() int {
	removed := s.mem.SweepIDs()
	now := s.now().Unix()
	var used [][]byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOnce).ForEach(func(k, v []byte) error {
			if u, err := strconv.ParseInt(string(v), 10, 64); err != nil || now >= u {
				used = append(used, bytes.Clone(k))
			}
			return nil
		})
	})
	if len(removed) == 0 && len(used) == 0 {
		return 0 // nothing to write: no fsync every minute
	}
	_ = s.db.Update(func(tx *bolt.Tx) error {
		for _, id := range removed {
			_ = tx.Bucket(bucketSessions).Delete([]byte(id))
		}
		for _, k := range used {
			_ = tx.Bucket(bucketOnce).Delete(k)
		}
		return nil
	})
	return len(removed)
}

func (s *Store) Ping(context.Context) error { return nil }
func (s *Store) Close() error               { return s.db.Close() }
