package accounts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"github.com/authgate/authgate/accounts/regulation"
	"log/slog"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"github.com/authgate/authgate/accounts/mfa"
	"github.com/authgate/authgate/accounts/password"
	"github.com/authgate/authgate/verify"
)

// Tokens is what the Service needs of the token format, which verify owns:
// minting a session's token and reading which session a token names.
type Tokens interface {
	Issue(session string, id verify.Identity, amr []string, issued, expires time.Time) (string, error)
	SessionOf(token string) (string, error)
}

// Defaults for the zero values of Config.
const (
	DefaultSessionTTL         = 24 * time.Hour
	DefaultMaxSessionsPerUser = 10
	DefaultBasicCacheTTL      = time.Minute
	DefaultBasicCacheSize     = 10_000
)

// Config is what a Service needs. Store and Hasher are required; Tokens
// is required to start and end sessions (the users command manages
// accounts without it).
type Config struct {
	Store  Store
	Static map[string]User // users from AUTHGATE_USERS_FILE; read-only
	Tokens Tokens
	Hasher *password.Hasher

	SessionTTL         time.Duration
	MaxSessionsPerUser int
	Registration       bool // POST /register open to anyone
	// InviteOnly (AUTHGATE_REGISTRATION=invite): registration needs an
	// invite. Invites are honoured in open mode too (for their groups),
	// never when registration is closed.
	InviteOnly bool
	// ResetURL is where a reset link points ("/reset" on the login
	// page's host), the token appended as ?token=.
	ResetURL string

	// Regulation is the brute-force policy; its zero value turns it off.
	Regulation regulation.Policy
	// Attempts keeps the policy's counters: the store's (shared by every
	// replica on Redis). nil: counted in this process.
	Attempts regulation.Attempts
	// BasicCacheTTL is how long verified Basic credentials on /verify are
	// remembered; BasicCacheSize bounds the entries.
	BasicCacheTTL  time.Duration
	BasicCacheSize int

	// Sealer encrypts TOTP secrets and sign-in challenges; nil: second
	// factors cannot be set up (the users command needs none to reset
	// one).
	Sealer *mfa.Sealer
	// TOTPIssuer names the gate in authenticator apps (AUTHGATE_TITLE).
	TOTPIssuer string
	// SessionEnded, when set, hears of every session a logout ends, so
	// what is cached for it elsewhere (identity assertions) goes too.
	SessionEnded func(id string)

	Logger *slog.Logger
	Now    func() time.Time
}

// Service is the account domain's one entry point: registration, sign-in
// under regulation, sessions, Basic credentials for /verify, and the
// administration of accounts.
type Service struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	basic *basicCache
	// local counts Basic attempts on /verify while cfg.Attempts cannot be
	// reached, so an outage of the shared counter is not an open door.
	local *regulation.Local
}

// New builds a Service, filling defaults for zero values.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Hasher == nil {
		return nil, errors.New("accounts: Store and Hasher are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.MaxSessionsPerUser <= 0 {
		cfg.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BasicCacheTTL <= 0 {
		cfg.BasicCacheTTL = DefaultBasicCacheTTL
	}
	if cfg.BasicCacheSize <= 0 {
		cfg.BasicCacheSize = DefaultBasicCacheSize
	}
	if cfg.TOTPIssuer == "" {
		cfg.TOTPIssuer = "authgate"
	}
	local := regulation.NewLocal(0)
	if cfg.Attempts == nil {
		cfg.Attempts = local
	}
	return &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now, basic: newBasicCache(cfg.BasicCacheSize), local: local}, nil
}

// SessionTTL is how long a session lasts.
func (s *Service) SessionTTL() time.Duration { return s.cfg.SessionTTL }

// RegistrationOpen reports whether anyone may register.
func (s *Service) RegistrationOpen() bool { return s.cfg.Registration }

// InviteOnly reports whether registration needs an invite.
func (s *Service) InviteOnly() bool { return s.cfg.InviteOnly && !s.cfg.Registration }

// Input errors for registration. Their texts are shown to the client.
var (
	errBadEmail = errors.New("email is not a valid address")
	errBadName  = errors.New("name must be at most 128 characters without control characters")
)

// Registration is what a sign-up carries.
type Registration struct {
	Username, Password, Email, Name string
	Invite                          string // the invite's code, when one was given
}

// Register creates an account for anyone, when registration is open.
func (s *Service) Register(ctx context.Context, r Registration) (User, error) {
	switch {
	case !s.cfg.Registration && !s.cfg.InviteOnly:
		return User{}, ErrRegistrationClosed
	case s.cfg.InviteOnly && !s.cfg.Registration && r.Invite == "":
		return User{}, ErrInvalidInvite
	}
	if r.Invite != "" {
		// Checked before anything else is (the name, the password's
		// hash): a bogus invite learns nothing and costs no argon2.
		if ok, err := s.inviteUsable(ctx, r.Invite); err != nil {
			return User{}, err
		} else if !ok {
			return User{}, ErrInvalidInvite
		}
	}
	u, err := s.newUser(ctx, r)
	if err != nil {
		return User{}, err
	}
	if r.Invite != "" {
		// The name is checked before the invite is spent, so a taken
		// name does not cost a use (a race for the name still may).
		if _, err := s.lookup(ctx, u.Name); err == nil {
			return User{}, ErrUserExists
		} else if !errors.Is(err, ErrUserNotFound) {
			return User{}, err
		}
		g, err := s.cfg.Store.UseGrant(ctx, GrantInvite, codeHash(r.Invite), s.now())
		if errors.Is(err, ErrGrantNotFound) {
			return User{}, ErrInvalidInvite
		}
		if err != nil {
			return User{}, err
		}
		u.Groups = g.Groups // the only way registration grants groups
		s.log.Info("invite used", "invite", g.ID, "user", u.Name, "uses_left", g.Uses)
	}
	if err := s.create(ctx, u); err != nil {
		return User{}, err
	}
	s.log.Info("account registered", "user", u.Name)
	return u, nil
}

// newUser is the one place an account's fields are checked, for /register
// and for "authgate users add" alike.
func (s *Service) newUser(ctx context.Context, r Registration) (User, error) {
	canon, err := CanonicalUsername(r.Username)
	if err != nil {
		return User{}, err
	}
	if err := CheckNewUsername(canon); err != nil {
		return User{}, err
	}
	if err := password.Check(r.Password); err != nil {
		return User{}, invalid(err)
	}
	if r.Email != "" {
		a, err := mail.ParseAddress(r.Email)
		if err != nil || a.Address != r.Email || len(r.Email) > 254 {
			return User{}, invalid(errBadEmail)
		}
	}
	if len([]rune(r.Name)) > 128 || strings.IndexFunc(r.Name, unicode.IsControl) >= 0 {
		return User{}, invalid(errBadName)
	}
	hash, err := s.cfg.Hasher.Hash(ctx, r.Password)
	if err != nil {
		return User{}, err
	}
	return User{Name: canon, Hash: hash, Email: r.Email, Display: strings.TrimSpace(r.Name), Created: s.now().UTC()}, nil
}

// create stores a new account; a name in the users file counts as taken.
func (s *Service) create(ctx context.Context, u User) error {
	if _, static := s.cfg.Static[u.Name]; static {
		return ErrUserExists
	}
	return s.cfg.Store.CreateUser(ctx, u)
}

// lookup finds a user in the users file, then in the store.
func (s *Service) lookup(ctx context.Context, name string) (User, error) {
	if u, ok := s.cfg.Static[name]; ok {
		return u, nil
	}
	return s.cfg.Store.User(ctx, name)
}

// Credentials are what a sign-in presents: a name and password, and for a
// user with TOTP on, a current code or one of the recovery codes.
type Credentials struct {
	Username, Password string
	TOTP, RecoveryCode string
}

// SignIn checks credentials under the regulation policy. It returns the
// user and how they signed in (the amr of the session to start), or
// ErrBadCredentials, ErrSecondFactorRequired (the right password of a user
// with TOTP on, without a code; the user is returned with it, so a form
// can go on to ask for the code: see Challenge), ErrBadSecondFactor, a Locked error, or a
// store error. The attempt is counted before anything is checked, so
// guesses sent at once cannot all be checked before the lock arrives; a
// wrong code counts like a wrong password.
func (s *Service) SignIn(ctx context.Context, ip string, c Credentials) (User, []string, error) {
	canon, _ := CanonicalUsername(c.Username)
	amr := []string{verify.MethodPassword}
	u, err := s.regulated(ctx, s.cfg.Attempts, canon, ip, func() (User, error) {
		u, err := s.authenticate(ctx, canon, c.Password)
		if err != nil || !u.TOTPEnabled() {
			return u, err
		}
		if c.TOTP == "" && c.RecoveryCode == "" {
			return u, ErrSecondFactorRequired
		}
		amr = append(amr, verify.MethodOTP)
		return u, s.secondFactor(ctx, &u, c.TOTP, c.RecoveryCode)
	})
	if errors.Is(err, ErrSecondFactorRequired) {
		return u, nil, err // the form's second step is for this user
	}
	if err != nil {
		return User{}, nil, err
	}
	return u, amr, nil
}

// regulated runs check as one attempt counted by a. A wrong password or
// second factor counts as a failure; anything else settles the attempt
// without counting it.
func (s *Service) regulated(ctx context.Context, a regulation.Attempts, name, ip string, check func() (User, error)) (User, error) {
	r := s.cfg.Regulation
	if !r.On() {
		return check()
	}
	keys := r.Keys(name, ip)
	wait, err := a.Reserve(ctx, keys, r, s.now())
	if err != nil {
		return User{}, err
	}
	if wait > 0 {
		return User{}, lockedError(wait)
	}
	// Settled whatever happens, a panic included: a reservation left
	// behind would keep the name busy.
	failed := true
	defer func() {
		if serr := a.Settle(context.WithoutCancel(ctx), keys, r, s.now(), failed); serr != nil {
			s.log.Warn("sign-in attempt could not be settled", "err", serr)
		}
	}()
	u, err := check()
	failed = errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrBadPassword) ||
		errors.Is(err, ErrBadSecondFactor) || errors.Is(err, ErrBadSetupCode)
	return u, err
}

// authenticate checks a password. It takes about the same time whether or
// not the user exists (a dummy hash is checked for unknown names).
func (s *Service) authenticate(ctx context.Context, canon, pw string) (User, error) {
	var u User
	if canon != "" {
		var err error
		u, err = s.lookup(ctx, canon)
		if err != nil && !errors.Is(err, ErrUserNotFound) {
			return User{}, err
		}
	}
	ok, err := s.cfg.Hasher.Verify(ctx, u.Hash, pw)
	if err != nil {
		if errors.Is(err, password.ErrBadHash) {
			s.log.Error("stored password hash cannot be checked", "user", canon, "err", err)
			return User{}, ErrBadCredentials
		}
		return User{}, err
	}
	if !ok || u.Name == "" {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

// StartSession creates a fresh session for u, established by the methods
// amr names, and returns its token. A login never reuses a session id a
// client presented (no session fixation).
func (s *Service) StartSession(ctx context.Context, u User, amr []string) (token string, expires time.Time, err error) {
	if s.cfg.Tokens == nil {
		return "", time.Time{}, errors.New("accounts: no Tokens to start a session with")
	}
	now := s.now()
	expires = now.Add(s.cfg.SessionTTL)
	id, err := newSessionID()
	if err != nil {
		return "", time.Time{}, err
	}
	sess := Session{ID: id, User: u.Name, Created: now.UTC(), Expires: expires.UTC()}
	if err := s.cfg.Store.CreateSession(ctx, sess, s.cfg.MaxSessionsPerUser); err != nil {
		return "", time.Time{}, err
	}
	token, err = s.cfg.Tokens.Issue(id, u.Identity(), amr, now, expires)
	if err != nil {
		_ = s.cfg.Store.DeleteSession(ctx, id)
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// EndSession deletes the session a token names. An invalid token ends
// nothing and is not an error: logout is idempotent.
func (s *Service) EndSession(ctx context.Context, token string) error {
	if token == "" || s.cfg.Tokens == nil {
		return nil
	}
	id, err := s.cfg.Tokens.SessionOf(token)
	if err != nil {
		return nil
	}
	if err := s.cfg.Store.DeleteSession(ctx, id); err != nil {
		return err
	}
	if s.cfg.SessionEnded != nil {
		s.cfg.SessionEnded(id)
	}
	return nil
}

// newSessionID returns 128 random bits, URL-safe.
func newSessionID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
