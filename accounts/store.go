package accounts

import (
	"context"
	"slices"
	"time"

	"github.com/authgate/authgate/verify"
)

// User is an account.
type User struct {
	Name    string    `json:"name"` // canonical username
	Hash    string    `json:"hash"` // argon2id PHC or bcrypt
	Email   string    `json:"email,omitempty"`
	Display string    `json:"display,omitempty"` // full name
	Groups  []string  `json:"groups,omitempty"`
	Created time.Time `json:"created"`
	TOTP    TOTP      `json:"totp,omitzero"`
}

// TOTP is a user's second factor as stored: secrets sealed (mfa.Sealer),
// recovery codes hashed. All empty: no second factor.
type TOTP struct {
	// Secret is set while TOTP is on.
	Secret string `json:"secret,omitempty"`
	// Pending is a secret set up and not yet confirmed with a code, by
	// the session whose id hashes to PendingSession, until
	// PendingExpires: no other session may see or confirm it.
	Pending        string    `json:"pending,omitempty"`
	PendingSession string    `json:"pending_session,omitempty"`
	PendingExpires time.Time `json:"pending_expires,omitzero"`
	// Recovery holds the hashes of the unused recovery codes.
	Recovery []string `json:"recovery,omitempty"`
}

// Grant is a credential kept only by the hash of its code, usable a
// number of times until it expires: an invite (Kind GrantInvite), which
// may carry groups for the account it creates, or a password reset link
// (GrantReset) for User.
type Grant struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`   // public: lists and revocation name it
	Hash string `json:"hash"` // SHA-256 of the code, hex
	User string `json:"user,omitempty"`
	// Check (reset links) fingerprints the password hash the link was
	// made against: a link outlives neither a password change nor the
	// account.
	Check     string    `json:"check,omitempty"`
	Note      string    `json:"note,omitempty"`
	Groups    []string  `json:"groups,omitempty"`
	Uses      int       `json:"uses"` // left
	Expires   time.Time `json:"expires"`
	CreatedBy string    `json:"created_by,omitempty"`
	Created   time.Time `json:"created"`
}

// Grant kinds.
const (
	GrantInvite = "invite"
	GrantReset  = "reset"
)

// TOTPEnabled reports whether signing in as u takes a second factor.
func (u User) TOTPEnabled() bool { return u.TOTP.Secret != "" }

// Clone is u with slices of its own, for stores that keep values in
// memory.
func (u User) Clone() User {
	u.Groups = slices.Clone(u.Groups)
	u.TOTP.Recovery = slices.Clone(u.TOTP.Recovery)
	return u
}

// Identity is what a token and the identity headers say about u.
func (u User) Identity() verify.Identity {
	return verify.Identity{User: u.Name, Email: u.Email, Name: u.Display, Groups: u.Groups}
}

// Session is a live login. Its ID is the token's jti.
type Session struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// Store keeps users and sessions. Implementations are safe for concurrent
// use. CreateUser is atomic: of two concurrent calls for one name exactly
// one succeeds. A store that cannot be reached wraps ErrUnavailable; any
// other error without a Code (a corrupt record) is Internal, so it is not
// mistaken for an outage. storetest.Run is the suite every implementation
// passes.
type Store interface {
	CreateUser(ctx context.Context, u User) error        // ErrUserExists
	User(ctx context.Context, name string) (User, error) // ErrUserNotFound
	// UpdateUser replaces an existing account (password, groups, ...).
	UpdateUser(ctx context.Context, u User) error // ErrUserNotFound
	// DeleteUser removes an account and ends its sessions.
	DeleteUser(ctx context.Context, name string) error // ErrUserNotFound
	// Users lists every account, sorted by name.
	Users(ctx context.Context) ([]User, error)

	// CreateSession stores s; when the user then has more than maxPerUser
	// live sessions, the oldest are ended.
	CreateSession(ctx context.Context, s Session, maxPerUser int) error
	// SessionLive reports whether session id exists, belongs to user and
	// has not expired. It is on /verify's hot path.
	SessionLive(ctx context.Context, id, user string) (bool, error)
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions ends every session of a user (password change,
	// group change, account deletion) but the one named keep ("" keeps
	// none): the session that turned a second factor off stays.
	DeleteUserSessions(ctx context.Context, user, keep string) error

	// PutGrant stores a new grant (an invite, a reset link).
	PutGrant(ctx context.Context, g Grant) error
	// Grants lists the grants of a kind, expired ones included until
	// they are swept, sorted by creation.
	Grants(ctx context.Context, kind string) ([]Grant, error)
	// DeleteGrant revokes a grant by id (ErrGrantNotFound).
	DeleteGrant(ctx context.Context, kind, id string) error
	// UseGrant spends one use of the grant of a kind whose code hashes to
	// hash, atomically: of two callers racing for the last use, exactly
	// one succeeds. Unknown, expired (Expires not after now) or used up:
	// ErrGrantNotFound. A grant whose last use is spent is gone.
	UseGrant(ctx context.Context, kind, hash string, now time.Time) (Grant, error)
	// UserSessions counts a user's live sessions (the admin page).
	UserSessions(ctx context.Context, user string) (int, error)

	// UseOnce records key until the given time and reports whether this
	// was its first use within that time: a one-time code, a recovery
	// code and a sign-in challenge each pass once, even when two
	// replicas are asked at the same instant.
	UseOnce(ctx context.Context, key string, until time.Time) (first bool, err error)

	// Ping reports whether the store can serve (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}
