package accounts

import (
	"context"
	"fmt"

	"github.com/authgate/authgate/accounts/password"
)

// The administration of accounts ("authgate users ...", for deployments
// with closed registration). Every change that alters what a token says
// (password, groups) or whether its owner exists ends the user's sessions,
// so it takes effect at once instead of when the tokens expire.

// adminName returns the stored form of name, refusing users-file names.
func (s *Service) adminName(name string) (string, error) {
	canon, err := CanonicalUsername(name)
	if err != nil {
		return "", err
	}
	if _, ok := s.cfg.Static[canon]; ok {
		return "", fmt.Errorf("%s: %w", canon, ErrStaticUser)
	}
	return canon, nil
}

// AddUser creates an account with the same checks as /register, whether
// or not registration is open.
func (s *Service) AddUser(ctx context.Context, r Registration, groups []string) (User, error) {
	if _, err := s.adminName(r.Username); err != nil {
		return User{}, err
	}
	u, err := s.newUser(ctx, r)
	if err != nil {
		return User{}, err
	}
	u.Groups = groups
	if err := s.cfg.Store.CreateUser(ctx, u); err != nil {
		return User{}, err
	}
	return u, nil
}

// SetPassword replaces a password and ends the user's sessions.
func (s *Service) SetPassword(ctx context.Context, name, pw string) error {
	if err := password.Check(pw); err != nil {
		return invalid(err)
	}
	// Hashed before the record is read: a change made while a slow hash
	// ran must not be undone by writing back an older copy.
	h, err := s.cfg.Hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	return s.update(ctx, name, func(u *User) error {
		u.Hash = h
		return nil
	})
}

// SetGroups replaces a user's groups and ends the user's sessions, whose
// tokens carry the old groups.
func (s *Service) SetGroups(ctx context.Context, name string, groups []string) error {
	return s.update(ctx, name, func(u *User) error {
		u.Groups = groups
		return nil
	})
}

func (s *Service) update(ctx context.Context, name string, change func(*User) error) error {
	canon, err := s.adminName(name)
	if err != nil {
		return err
	}
	u, err := s.cfg.Store.User(ctx, canon)
	if err != nil {
		return err
	}
	if err := change(&u); err != nil {
		return err
	}
	if err := s.cfg.Store.UpdateUser(ctx, u); err != nil {
		return err
	}
	return s.cfg.Store.DeleteUserSessions(ctx, canon, "")
}

// DeleteUser removes an account and its sessions.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	canon, err := s.adminName(name)
	if err != nil {
		return err
	}
	return s.cfg.Store.DeleteUser(ctx, canon)
}

// Users returns the store's accounts, sorted by name (users-file accounts
// are not included: the file lists them).
func (s *Service) Users(ctx context.Context) ([]User, error) { return s.cfg.Store.Users(ctx) }
