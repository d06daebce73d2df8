package accounts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"github.com/authgate/authgate/verify"
)

// Cookie describes the session cookie.
type Cookie struct {
	Name   string
	Domain string // empty: host-only
	Secure bool
}

// Config is what a Service needs. Store, Tokens and Hasher are required.
type Config struct {
	Store  Store
	Static map[string]User // users from AUTHGATE_USERS_FILE; read-only
	Tokens *verify.Tokens
	Hasher *Hasher

	SessionTTL         time.Duration
	MaxSessionsPerUser int
	Registration       bool // POST /register open to anyone
	Cookie             Cookie
	// LoginURL is the public URL of the login page; Domains the hosts rd
	// may point at.
	LoginURL string
	Domains  verify.Domains
	Title    string
	LogoURL  string

	// Limiter regulates failed sign-ins; nil disables regulation.
	Limiter *Limiter
	// BasicCacheTTL is how long verified Basic credentials on /verify are
	// remembered (0: 1 minute); BasicCacheSize bounds the entries.
	BasicCacheTTL  time.Duration
	BasicCacheSize int

	Logger *slog.Logger
	Now    func() time.Time
}

// Service implements registration, login and logout.
type Service struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	pages *pages
	basic *basicCache
}

// New builds a Service, filling defaults for zero values.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Tokens == nil || cfg.Hasher == nil {
		return nil, errors.New("accounts: Store, Tokens and Hasher are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 24 * time.Hour
	}
	if cfg.MaxSessionsPerUser <= 0 {
		cfg.MaxSessionsPerUser = 10
	}
	if cfg.Cookie.Name == "" {
		cfg.Cookie.Name = "authgate_session"
	}
	if cfg.Title == "" {
		cfg.Title = "authgate"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BasicCacheTTL <= 0 {
		cfg.BasicCacheTTL = time.Minute
	}
	if cfg.BasicCacheSize <= 0 {
		cfg.BasicCacheSize = 10_000
	}
	p, err := newPages(cfg)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now, pages: p, basic: newBasicCache(cfg.BasicCacheSize)}, nil
}

// Input errors for registration. Their texts are shown to the client.
var (
	errBadEmail = errors.New("email is not a valid address")
	errBadName  = errors.New("name must be at most 128 characters without control characters")
	// ErrBadCredentials is the one answer for a wrong password and an
	// unknown user alike, so the response never tells which.
	ErrBadCredentials = errors.New("invalid username or password")
)

// NewUser validates a registration and returns the account to store.
func (s *Service) NewUser(ctx context.Context, username, password, email, name string) (User, error) {
	return newUser(ctx, s.cfg.Hasher, s.now(), username, password, email, name)
}

// newUser is the one place an account's fields are checked, for /register
// and for "authgate users add" alike.
func newUser(ctx context.Context, h *Hasher, now time.Time, username, password, email, name string) (User, error) {
	canon, err := CanonicalUsername(username)
	if err != nil {
		return User{}, err
	}
	if err := CheckPassword(password); err != nil {
		return User{}, err
	}
	if email != "" {
		a, err := mail.ParseAddress(email)
		if err != nil || a.Address != email || len(email) > 254 {
			return User{}, errBadEmail
		}
	}
	if len([]rune(name)) > 128 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return User{}, errBadName
	}
	hash, err := h.Hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	return User{Name: canon, Hash: hash, Email: email, Display: strings.TrimSpace(name), Created: now.UTC()}, nil
}

// Create stores a new account; a name in the users file counts as taken.
func (s *Service) Create(ctx context.Context, u User) error {
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

// Authenticate checks a username and password. It takes about the same
// time whether or not the user exists (a dummy hash is checked for unknown
// names). ok=false is a wrong name or password; err is a technical failure.
func (s *Service) Authenticate(ctx context.Context, username, password string) (User, bool, error) {
	canon, nameErr := CanonicalUsername(username)
	var u User
	if nameErr == nil {
		var err error
		u, err = s.lookup(ctx, canon)
		if err != nil && !errors.Is(err, ErrUserNotFound) {
			return User{}, false, err
		}
	}
	ok, err := s.cfg.Hasher.Verify(ctx, u.Hash, password)
	if err != nil {
		if errors.Is(err, ErrBadHash) {
			s.log.Error("stored password hash cannot be checked", "user", canon, "err", err)
			return User{}, false, nil
		}
		return User{}, false, err
	}
	if !ok || u.Name == "" {
		return User{}, false, nil
	}
	return u, true, nil
}

// StartSession creates a fresh session for u and returns its token. A login
// never reuses a session id a client presented (no session fixation).
func (s *Service) StartSession(ctx context.Context, u User) (token string, expires time.Time, err error) {
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
	claims := verify.Claims{Email: u.Email, Name: u.Display, Groups: u.Groups}
	claims.Subject = u.Name
	claims.ID = id
	claims.IssuedAt = jwtTime(now)
	claims.ExpiresAt = jwtTime(expires)
	token, err = s.cfg.Tokens.Sign(claims)
	if err != nil {
		_ = s.cfg.Store.DeleteSession(ctx, id)
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// EndSession deletes the session a token names. An invalid token ends
// nothing and is not an error: logout is idempotent.
func (s *Service) EndSession(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	c, err := s.cfg.Tokens.Parse(token)
	if err != nil {
		return nil
	}
	return s.cfg.Store.DeleteSession(ctx, c.ID)
}

// newSessionID returns 128 random bits, URL-safe.
func newSessionID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
