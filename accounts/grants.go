package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/authgate/authgate/accounts/password"
	"github.com/authgate/authgate/accounts/regulation"
	"github.com/authgate/authgate/verify/redirect"
)

// Accounts without email: invites that let a person register (with
// groups), password changes, and reset links an administrator hands over.
// Invites and reset links are grants: the code is shown once, and only its
// SHA-256 is stored (a code of 192 random bits needs no slow hash).

// Limits of invites and reset links.
const (
	DefaultInviteTTL  = 72 * time.Hour
	MaxInviteTTL      = 90 * 24 * time.Hour
	MaxInviteUses     = 1000
	DefaultResetTTL   = 30 * time.Minute
	MaxResetTTL       = 24 * time.Hour
	maxInviteNoteRune = 200
)

// newCode draws a code of 192 bits and its id (64 bits), URL-safe.
func newCode() (code, id string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:24]), hex.EncodeToString(b[24:]), nil
}

// codeHash is how a code is stored and looked up.
func codeHash(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// InviteRequest is what an invite is made of.
type InviteRequest struct {
	Groups []string
	Uses   int           // 0: 1
	TTL    time.Duration // 0: DefaultInviteTTL
	Note   string
	By     string // who made it (an admin's name, or "cli")
}

// CreateInvite makes an invite and returns its code (shown once) and the
// stored grant.
func (s *Service) CreateInvite(ctx context.Context, r InviteRequest) (string, Grant, error) {
	if r.Uses == 0 {
		r.Uses = 1
	}
	if r.TTL == 0 {
		r.TTL = DefaultInviteTTL
	}
	switch {
	case r.Uses < 1 || r.Uses > MaxInviteUses:
		return "", Grant{}, Errorf(Invalid, "uses must be between 1 and %d", MaxInviteUses)
	case r.TTL < time.Minute || r.TTL > MaxInviteTTL:
		return "", Grant{}, Errorf(Invalid, "ttl must be between 1m and %s", MaxInviteTTL)
	case len([]rune(r.Note)) > maxInviteNoteRune || strings.IndexFunc(r.Note, unicode.IsControl) >= 0:
		return "", Grant{}, Errorf(Invalid, "note must be at most %d characters without control characters", maxInviteNoteRune)
	}
	groups, err := ParseGroups(strings.Join(r.Groups, ","))
	if err != nil {
		return "", Grant{}, invalid(err)
	}
	code, id, err := newCode()
	if err != nil {
		return "", Grant{}, err
	}
	now := s.now().UTC()
	g := Grant{Kind: GrantInvite, ID: id, Hash: codeHash(code), Note: r.Note, Groups: groups, Uses: r.Uses,
		Expires: now.Add(r.TTL), CreatedBy: r.By, Created: now}
	if err := s.cfg.Store.PutGrant(ctx, g); err != nil {
		return "", Grant{}, err
	}
	s.log.Info("invite created", "by", r.By, "invite", id, "groups", groups, "uses", r.Uses)
	return code, g, nil
}

// Invites lists the invites that can still be used.
func (s *Service) Invites(ctx context.Context) ([]Grant, error) {
	all, err := s.cfg.Store.Grants(ctx, GrantInvite)
	if err != nil {
		return nil, err
	}
	now := s.now()
	live := all[:0]
	for _, g := range all {
		if g.Uses > 0 && now.Before(g.Expires) {
			live = append(live, g)
		}
	}
	return live, nil
}

// inviteUsable reports whether code names an invite with a use left,
// without spending it.
func (s *Service) inviteUsable(ctx context.Context, code string) (bool, error) {
	if len(code) > 256 {
		return false, nil
	}
	live, err := s.Invites(ctx)
	if err != nil {
		return false, err
	}
	h := codeHash(code)
	for _, g := range live {
		if g.Hash == h {
			return true, nil
		}
	}
	return false, nil
}

// RevokeInvite deletes an invite by id.
func (s *Service) RevokeInvite(ctx context.Context, id, by string) error {
	if err := s.cfg.Store.DeleteGrant(ctx, GrantInvite, id); err != nil {
		if ErrorCode(err) == NotFound {
			return ErrInviteNotFound
		}
		return err
	}
	s.log.Info("invite revoked", "by", by, "invite", id)
	return nil
}

// InviteURL is the link that opens the sign-up form with code filled in:
// the login URL with ?invite=, or "" without a login URL.
func InviteURL(loginURL, code string) string {
	if loginURL == "" {
		return ""
	}
	return redirect.WithParam(loginURL, "invite", code)
}

// ResetURL is where a reset link points: the login URL with its path
// replaced by /reset, or just /reset.
func ResetURL(loginURL string) string {
	if u, err := url.Parse(loginURL); err == nil && u.Host != "" {
		u.Path, u.RawQuery, u.Fragment = "/reset", "", ""
		return u.String()
	}
	return "/reset"
}

// ChangePassword sets a signed-in user's new password once the current
// one is confirmed (a wrong one counts toward the lockout), and ends every
// other session of the user: keep, the one asking, stays.
func (s *Service) ChangePassword(ctx context.Context, ip, name, current, next, keep string) error {
	if _, static := s.cfg.Static[name]; static {
		return ErrStaticUser
	}
	if err := password.Check(next); err != nil {
		return invalid(err)
	}
	err := s.confirmPassword(ctx, ip, name, current, func(u *User) error {
		h, err := s.cfg.Hasher.Hash(ctx, next)
		if err != nil {
			return err
		}
		// Written on the record as it is now, not the copy read before
		// the two slow hashes: a change made meanwhile (groups, a second
		// factor) stays. A password changed meanwhile wins the race.
		return s.rewrite(ctx, name, func(cur *User) bool {
			if cur.Hash != u.Hash {
				return false
			}
			cur.Hash = h
			return true
		})
	})
	if err != nil {
		return err
	}
	s.log.Info("password changed", "user", name)
	return s.cfg.Store.DeleteUserSessions(ctx, name, keep)
}

// ResetLink makes a single-use link that sets name's password (ttl 0:
// DefaultResetTTL; at most MaxResetTTL). It returns the link and when it
// expires.
func (s *Service) ResetLink(ctx context.Context, name string, ttl time.Duration, by string) (string, time.Time, error) {
	if ttl == 0 {
		ttl = DefaultResetTTL
	}
	if ttl < time.Minute || ttl > MaxResetTTL {
		return "", time.Time{}, Errorf(Invalid, "ttl must be between 1m and %s", MaxResetTTL)
	}
	canon, err := s.adminName(name)
	if err != nil {
		return "", time.Time{}, err
	}
	u, err := s.cfg.Store.User(ctx, canon)
	if err != nil {
		return "", time.Time{}, err
	}
	code, id, err := newCode()
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now().UTC()
	g := Grant{Kind: GrantReset, ID: id, Hash: codeHash(code), User: canon, Check: hashPrint(u.Hash),
		Uses: 1, Expires: now.Add(ttl), CreatedBy: by, Created: now}
	// One link per account: a new one voids the ones made before.
	older, err := s.cfg.Store.Grants(ctx, GrantReset)
	if err != nil {
		return "", time.Time{}, err
	}
	for _, o := range older {
		if o.User == canon {
			if err := s.cfg.Store.DeleteGrant(ctx, GrantReset, o.ID); err != nil && ErrorCode(err) != NotFound {
				return "", time.Time{}, err
			}
		}
	}
	if err := s.cfg.Store.PutGrant(ctx, g); err != nil {
		return "", time.Time{}, err
	}
	s.log.Info("reset link created", "by", by, "user", canon)
	base := s.cfg.ResetURL
	if base == "" {
		base = "/reset"
	}
	return base + "?token=" + url.QueryEscape(code), g.Expires, nil
}

// ResetPassword spends a reset link: the new password is set (checked
// first, so a refused password does not spend the link), every session of
// the user ends, and the user's lockout is cleared.
func (s *Service) ResetPassword(ctx context.Context, token, next string) (string, error) {
	if err := password.Check(next); err != nil {
		return "", invalid(err)
	}
	if token == "" || len(token) > 256 {
		return "", ErrInvalidReset
	}
	h, err := s.cfg.Hasher.Hash(ctx, next) // before any read: no stale write
	if err != nil {
		return "", err
	}
	g, err := s.cfg.Store.UseGrant(ctx, GrantReset, codeHash(token), s.now())
	if ErrorCode(err) == NotFound {
		return "", ErrInvalidReset
	}
	if err != nil {
		return "", err
	}
	if err := s.update(ctx, g.User, func(u *User) error {
		// The link was made for the account as it was then: deleted and
		// registered again, or its password changed since, it is void.
		if hashPrint(u.Hash) != g.Check {
			return ErrInvalidReset
		}
		u.Hash = h
		return nil
	}); err != nil {
		if ErrorCode(err) == NotFound {
			return "", ErrInvalidReset // deleted since
		}
		return "", err
	}
	if s.cfg.Regulation.On() {
		if err := s.cfg.Attempts.Clear(ctx, []regulation.Key{{Key: "u:" + g.User}}); err != nil {
			s.log.Warn("lockout of a reset account could not be cleared", "user", g.User, "err", err)
		}
		_ = s.local.Clear(ctx, []regulation.Key{{Key: "u:" + g.User}})
	}
	s.log.Info("password reset with a link", "user", g.User)
	return g.User, nil
}

// AccountInfo is a line of the admin page's user list.
type AccountInfo struct {
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Groups   []string `json:"groups"`
	TOTP     bool     `json:"totp"`
	Sessions int      `json:"sessions"`
	Locked   bool     `json:"locked"`
	Static   bool     `json:"static"`
}

// Accounts lists every account, the users file's included, for the admin.
func (s *Service) Accounts(ctx context.Context) ([]AccountInfo, error) {
	stored, err := s.cfg.Store.Users(ctx)
	if err != nil {
		return nil, err
	}
	all := make([]User, 0, len(stored)+len(s.cfg.Static))
	for _, u := range s.cfg.Static {
		all = append(all, u)
	}
	all = append(all, stored...)
	out := make([]AccountInfo, 0, len(all))
	for _, u := range all {
		n, err := s.cfg.Store.UserSessions(ctx, u.Name)
		if err != nil {
			return nil, err
		}
		groups := u.Groups
		if groups == nil {
			groups = []string{}
		}
		info := AccountInfo{Username: u.Name, Email: u.Email, Name: u.Display, Groups: groups, TOTP: u.TOTPEnabled(), Sessions: n, Static: s.IsStatic(u.Name)}
		if s.cfg.Regulation.On() {
			wait, _ := s.cfg.Attempts.Locked(ctx, []regulation.Key{{Key: "u:" + u.Name}}, s.now())
			info.Locked = wait > 0
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b AccountInfo) int { return strings.Compare(a.Username, b.Username) })
	return out, nil
}

// EndSessions ends every session of a user, users-file accounts included.
func (s *Service) EndSessions(ctx context.Context, name, by string) error {
	canon, err := CanonicalUsername(name)
	if err != nil {
		return ErrUserNotFound
	}
	if _, err := s.lookup(ctx, canon); err != nil {
		return err
	}
	s.log.Info("sessions ended by an admin", "by", by, "user", canon)
	return s.cfg.Store.DeleteUserSessions(ctx, canon, "")
}
