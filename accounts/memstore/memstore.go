// Package memstore is the in-memory accounts.Store: the zero-configuration
// default, and the session index the bolt store keeps beside its file.
// Everything is lost on restart, which also ends every session.
package memstore

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authgate/authgate/accounts"
)

// Store keeps everything in process memory.
type Store struct {
	now func() time.Time

	mu       sync.RWMutex
	users    map[string]accounts.User
	sessions map[string]memSession
	byUser   map[string][]string       // user -> session ids, oldest first
	once     map[string]int64          // UseOnce keys -> until, unix nanoseconds
	grants   map[string]accounts.Grant // kind + "\x00" + hash -> grant
}

// memSession is what SessionLive needs and nothing more: with a million
// live sessions every byte here is a megabyte.
type memSession struct {
	user    string
	expires int64 // unix nanoseconds
}

var _ accounts.Store = (*Store)(nil)

// New returns an empty store. now may be nil for time.Now.
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:      now,
		users:    map[string]accounts.User{},
		sessions: map[string]memSession{},
		byUser:   map[string][]string{},
		once:     map[string]int64{},
		grants:   map[string]accounts.Grant{},
	}
}

func (m *Store) CreateUser(_ context.Context, u accounts.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[u.Name]; ok {
		return accounts.ErrUserExists
	}
	m.users[u.Name] = u.Clone()
	return nil
}

func (m *Store) User(_ context.Context, name string) (accounts.User, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	u, ok := m.users[name]
	if !ok {
		return accounts.User{}, accounts.ErrUserNotFound
	}
	return u.Clone(), nil
}

func (m *Store) UpdateUser(_ context.Context, u accounts.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[u.Name]; !ok {
		return accounts.ErrUserNotFound
	}
	m.users[u.Name] = u.Clone()
	return nil
}

func (m *Store) DeleteUser(ctx context.Context, name string) error {
	m.mu.Lock()
	if _, ok := m.users[name]; !ok {
		m.mu.Unlock()
		return accounts.ErrUserNotFound
	}
	delete(m.users, name)
	m.mu.Unlock()
	return m.DeleteUserSessions(ctx, name, "")
}

func (m *Store) Users(context.Context) ([]accounts.User, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]accounts.User, 0, len(m.users))
	for _, u := range m.users {
		out = append(out, u.Clone())
	}
	slices.SortFunc(out, func(a, b accounts.User) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (m *Store) DeleteUserSessions(_ context.Context, user, keep string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var kept []string
	for _, id := range m.byUser[user] {
		if id == keep {
			kept = append(kept, id)
			continue
		}
		delete(m.sessions, id)
	}
	if kept == nil {
		delete(m.byUser, user)
	} else {
		m.byUser[user] = kept
	}
	return nil
}

func grantKey(kind, hash string) string { return kind + "\x00" + hash }

func (m *Store) PutGrant(_ context.Context, g accounts.Grant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	g.Groups = slices.Clone(g.Groups)
	m.grants[grantKey(g.Kind, g.Hash)] = g
	return nil
}

func (m *Store) Grants(_ context.Context, kind string) ([]accounts.Grant, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []accounts.Grant
	for _, g := range m.grants {
		if g.Kind == kind {
			g.Groups = slices.Clone(g.Groups)
			out = append(out, g)
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

func (m *Store) DeleteGrant(_ context.Context, kind, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, g := range m.grants {
		if g.Kind == kind && g.ID == id {
			delete(m.grants, k)
			return nil
		}
	}
	return accounts.ErrGrantNotFound
}

func (m *Store) UseGrant(_ context.Context, kind, hash string, now time.Time) (accounts.Grant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := grantKey(kind, hash)
	g, ok := m.grants[k]
	if !ok || g.Uses <= 0 || !now.Before(g.Expires) {
		return accounts.Grant{}, accounts.ErrGrantNotFound
	}
	g.Uses--
	if g.Uses == 0 {
		delete(m.grants, k)
	} else {
		m.grants[k] = g
	}
	g.Groups = slices.Clone(g.Groups)
	return g, nil
}

func (m *Store) UserSessions(_ context.Context, user string) (int, error) {
	now := m.now().UnixNano()
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, id := range m.byUser[user] {
		if s, ok := m.sessions[id]; ok && now < s.expires {
			n++
		}
	}
	return n, nil
}

func (m *Store) UseOnce(_ context.Context, key string, until time.Time) (bool, error) {
	now := m.now().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.once[key]; ok && now < u {
		return false, nil
	}
	m.once[key] = until.UnixNano()
	return true, nil
}

func (m *Store) CreateSession(_ context.Context, s accounts.Session, maxPerUser int) error {
	m.AddSession(s, maxPerUser)
	return nil
}

// AddSession stores s and returns the ids of the sessions it evicted to
// keep the user within maxPerUser, so a persistent store can drop them too.
func (m *Store) AddSession(s accounts.Session, maxPerUser int) (evicted []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[s.ID] = memSession{user: s.User, expires: s.Expires.UnixNano()}
	ids := append(m.byUser[s.User], s.ID)
	// Drop ids whose sessions are gone (logged out or swept) before
	// counting, then end the oldest beyond the cap.
	live := ids[:0]
	for _, id := range ids {
		if _, ok := m.sessions[id]; ok {
			live = append(live, id)
		}
	}
	for maxPerUser > 0 && len(live) > maxPerUser {
		delete(m.sessions, live[0])
		evicted = append(evicted, live[0])
		live = live[1:]
	}
	m.byUser[s.User] = live
	return evicted
}

// SessionIDs returns the ids of a user's sessions.
func (m *Store) SessionIDs(user string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Clone(m.byUser[user])
}

func (m *Store) SessionLive(_ context.Context, id, user string) (bool, error) {
	m.mu.RLock()
	s, ok := m.sessions[id]
	m.mu.RUnlock()
	return ok && s.user == user && m.now().UnixNano() < s.expires, nil
}

func (m *Store) DeleteSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, id)
	return nil
}

// Sweep removes expired sessions (and used keys past their time) and
// returns how many sessions it removed. cmd runs
// it periodically so memory follows the number of live sessions.
func (m *Store) Sweep() int { return len(m.SweepIDs()) }

// SweepIDs removes expired sessions and returns their ids.
func (m *Store) SweepIDs() (removed []string) {
	now := m.now().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, s := range m.sessions {
		if now >= s.expires {
			delete(m.sessions, id)
			removed = append(removed, id)
		}
	}
	for k, until := range m.once {
		if now >= until {
			delete(m.once, k)
		}
	}
	for k, g := range m.grants {
		if now >= g.Expires.UnixNano() {
			delete(m.grants, k)
		}
	}
	for u, ids := range m.byUser {
		live := ids[:0]
		for _, id := range ids {
			if _, ok := m.sessions[id]; ok {
				live = append(live, id)
			}
		}
		if len(live) == 0 {
			delete(m.byUser, u)
		} else {
			m.byUser[u] = live
		}
	}
	return removed
}

// Sessions returns the number of stored sessions.
func (m *Store) Sessions() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.sessions)
}

func (m *Store) Ping(context.Context) error { return nil }
func (m *Store) Close() error               { return nil }
