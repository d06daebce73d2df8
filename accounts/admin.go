package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Admin manages accounts in a store from the command line ("authgate
// users ..."), for deployments with closed registration. Every change that
// alters what a token says (password, groups) or whether its owner exists
// ends the user's sessions, so it takes effect at once instead of when
// the tokens expire.
type Admin struct {
	Store  Store
	Static map[string]User // AUTHGATE_USERS_FILE: read-only, names reserved
	Hasher *Hasher
	Now    func() time.Time
}

// ErrStaticUser refuses changes to a name defined in the users file, which
// is edited as a file.
var ErrStaticUser = errors.New("defined in AUTHGATE_USERS_FILE; edit that file instead")

func (a Admin) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// canonical returns the stored form of name, refusing users-file names.
func (a Admin) canonical(name string) (string, error) {
	canon, err := CanonicalUsername(name)
	if err != nil {
		return "", err
	}
	if _, ok := a.Static[canon]; ok {
		return "", fmt.Errorf("%s: %w", canon, ErrStaticUser)
	}
	return canon, nil
}

// ParseGroups reads a comma list of group names ("" is no groups), as
// stored: lower-cased, deduplicated, in the given order.
func ParseGroups(list string) ([]string, error) {
	var out []string
	for _, g := range strings.Split(list, ",") {
		if g = strings.TrimSpace(g); g == "" {
			continue
		}
		if err := checkGroup(g); err != nil {
			return nil, err
		}
		g = strings.ToLower(g)
		dup := false
		for _, have := range out {
			dup = dup || have == g
		}
		if !dup {
			out = append(out, g)
		}
	}
	return out, nil
}

// Add creates an account with the same checks as /register.
func (a Admin) Add(ctx context.Context, name, password, email, display string, groups []string) (User, error) {
	if _, err := a.canonical(name); err != nil {
		return User{}, err
	}
	u, err := newUser(ctx, a.Hasher, a.now(), name, password, email, display)
	if err != nil {
		return User{}, err
	}
	u.Groups = groups
	if err := a.Store.CreateUser(ctx, u); err != nil {
		return User{}, err
	}
	return u, nil
}

// SetPassword replaces a password and ends the user's sessions.
func (a Admin) SetPassword(ctx context.Context, name, password string) error {
	return a.update(ctx, name, func(u *User) error {
		if err := CheckPassword(password); err != nil {
			return err
		}
		h, err := a.Hasher.Hash(ctx, password)
		u.Hash = h
		return err
	})
}

// SetGroups replaces a user's groups and ends the user's sessions, whose
// tokens carry the old groups.
func (a Admin) SetGroups(ctx context.Context, name string, groups []string) error {
	return a.update(ctx, name, func(u *User) error {
		u.Groups = groups
		return nil
	})
}

func (a Admin) update(ctx context.Context, name string, change func(*User) error) error {
	canon, err := a.canonical(name)
	if err != nil {
		return err
	}
	u, err := a.Store.User(ctx, canon)
	if err != nil {
		return err
	}
	if err := change(&u); err != nil {
		return err
	}
	if err := a.Store.UpdateUser(ctx, u); err != nil {
		return err
	}
	return a.Store.DeleteUserSessions(ctx, canon)
}

// Delete removes an account and its sessions.
func (a Admin) Delete(ctx context.Context, name string) error {
	canon, err := a.canonical(name)
	if err != nil {
		return err
	}
	return a.Store.DeleteUser(ctx, canon)
}

// List returns the store's accounts, sorted by name (users-file accounts
// are not included: the file lists them).
func (a Admin) List(ctx context.Context) ([]User, error) { return a.Store.Users(ctx) }
