package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenLength caps the size of a token we are willing to parse. Our own
// tokens are well under 1 KiB; anything much larger is an attempt to make the
// parser work hard (base64 and JSON decoding of attacker-sized input).
const MaxTokenLength = 4096

// MinSecretLength is the shortest HS256 key we accept. RFC 7518 §3.2 asks
// for a key at least as long as the hash output (256 bits).
const MinSecretLength = 32

// DefaultIssuer is the iss of every token unless configured.
const DefaultIssuer = "authgate"

// Leeway absorbs clock skew between replicas; it is deliberately small so
// that an expired token does not live on noticeably.
const Leeway = 30 * time.Second

// Sentinel errors. Callers treat every one of them as "not authenticated";
// they exist so tests and debug logs can tell the reasons apart.
var (
	ErrTokenTooLong  = errors.New("token too long")
	ErrTokenInvalid  = errors.New("token invalid")
	ErrUnknownKey    = errors.New("token signed with an unknown key")
	ErrCritHeader    = errors.New("token has a crit header")
	ErrSessionEnded  = errors.New("session is not live")
	ErrWeakSecret    = errors.New("secret is too weak")
	errNoSigningKeys = errors.New("no signing key")
)

// Claims is the payload of an authgate token. Identity fields are copied from
// the account when the session starts; jti is the session id that must stay
// live in the store for the token to be accepted.
type Claims struct {
	Email  string   `json:"email,omitempty"`
	Name   string   `json:"name,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// AMR says how the session was established (RFC 8176 values):
	// ["pwd"], or ["pwd", "otp"] after a second factor. A token without
	// it (minted before second factors existed) counts as "pwd".
	AMR []string `json:"amr,omitempty"`
	jwt.RegisteredClaims
}

// Authentication methods a token's amr names.
const (
	MethodPassword = "pwd"
	MethodOTP      = "otp"
)

// HasOTP reports whether amr includes a one-time code.
func HasOTP(amr []string) bool {
	for _, m := range amr {
		if m == MethodOTP {
			return true
		}
	}
	return false
}

// Secret is an HS256 key. It never prints itself.
type Secret []byte

// LogValue keeps a secret out of logs even when someone logs the config.
// It must return slog.Value: a method returning string is not a
// slog.LogValuer, and slog would print the key (in clear with the text
// handler, base64 with the JSON one).
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String keeps a secret out of fmt output.
func (Secret) String() string { return "REDACTED" }

// GoString keeps a secret out of %#v output.
func (Secret) GoString() string { return "REDACTED" }

// MarshalText keeps a secret out of encoders that prefer text (JSON, YAML).
func (Secret) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }

// UnmarshalText reads a key from configuration as it is written; whether
// it is strong enough is CheckSecret's question.
func (s *Secret) UnmarshalText(b []byte) error {
	*s = Secret(bytes.Clone(b))
	return nil
}

var _ slog.LogValuer = Secret(nil)

// weakSecrets are values seen in tutorials and default configs. A gate
// signing with one of them accepts tokens forged by anyone who read the same
// tutorial, so they are refused even when long enough.
var weakSecrets = []string{
	"secret", "changeme", "change-me", "changeit", "password", "default",
	"your-256-bit-secret", "your-secret-key", "supersecret", "jwt-secret",
	"jwtsecret", "mysecret", "secretkey", "secret-key", "authgate", "test",
	"example", "insecure", "0123456789abcdef0123456789abcdef",
	"00000000000000000000000000000000", "12345678901234567890123456789012",
	"abcdefghijklmnopqrstuvwxyz123456", "thisisasecretkeythisisasecretkey",
	"changemechangemechangemechangeme", "secretsecretsecretsecretsecretse",
}

// CheckSecret refuses keys that are short, well known, or made of one
// repeated character.
func CheckSecret(s []byte) error {
	if len(s) < MinSecretLength {
		return fmt.Errorf("%w: %d bytes, need at least %d", ErrWeakSecret, len(s), MinSecretLength)
	}
	str := string(s)
	for _, w := range weakSecrets {
		if str == w {
			return fmt.Errorf("%w: a well-known value", ErrWeakSecret)
		}
	}
	distinct := map[byte]struct{}{}
	for _, b := range s {
		distinct[b] = struct{}{}
	}
	if len(distinct) < 8 {
		return fmt.Errorf("%w: fewer than 8 distinct characters", ErrWeakSecret)
	}
	return nil
}

// KeyID names a key by a short hash of it, so rotated keys can be told apart
// in the token header without revealing anything about the key.
func KeyID(s []byte) string {
	sum := sha256.Sum256(s)
	return hex.EncodeToString(sum[:6])
}

// Tokens signs and parses authgate tokens. New tokens are signed with the
// current key; previous keys still verify tokens minted before a rotation
// until those expire. A Tokens is safe for concurrent use.
type Tokens struct {
	issuer     string
	currentKID string
	current    []byte
	keys       map[string][]byte // kid -> key; our own keys only
	parser     *jwt.Parser
	now        func() time.Time
}

// NewTokens builds a signer/parser. current signs; previous only verify.
// now may be nil for time.Now.
func NewTokens(issuer string, current Secret, previous []Secret, now func() time.Time) (*Tokens, error) {
	if len(current) == 0 {
		return nil, errNoSigningKeys
	}
	if now == nil {
		now = time.Now
	}
	t := &Tokens{
		issuer:     issuer,
		current:    current,
		currentKID: KeyID(current),
		keys:       map[string][]byte{KeyID(current): current},
		now:        now,
	}
	for _, p := range previous {
		t.keys[KeyID(p)] = p
	}
	t.parser = jwt.NewParser(
		// Only HS256: "alg":"none" and algorithm confusion (RS256 with the
		// HMAC key as public key) are refused before any key is chosen.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		// Strict base64 and no padding: one token has exactly one encoding,
		// so two different strings never decode to the same token.
		jwt.WithStrictDecoding(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(now),
	)
	return t, nil
}

// Issue mints the token of a session: the identity it carries, the session
// id (jti) that must stay live for the token to be accepted, how the
// session was established (amr), and its lifetime. Times are truncated to seconds, as JWT NumericDate encodes
// them. This is the only place a token's claims are put together.
func (t *Tokens) Issue(session string, id Identity, amr []string, issued, expires time.Time) (string, error) {
	if session == "" || id.User == "" {
		return "", fmt.Errorf("%w: a token needs a session and a user", ErrTokenInvalid)
	}
	c := Claims{Email: id.Email, Name: id.Name, Groups: id.Groups, AMR: amr}
	c.Subject = id.User
	c.ID = session
	c.IssuedAt = jwt.NewNumericDate(issued.Truncate(time.Second))
	c.ExpiresAt = jwt.NewNumericDate(expires.Truncate(time.Second))
	return t.Sign(c)
}

// SessionOf returns the session id of a token that passes full validation
// (logout uses it to know which session to end).
func (t *Tokens) SessionOf(raw string) (string, error) {
	c, err := t.Parse(raw)
	if err != nil {
		return "", err
	}
	return c.ID, nil
}

// Issuer is the iss every token carries.
func (t *Tokens) Issuer() string { return t.issuer }

// Sign mints a token for claims, filling iss and kid.
func (t *Tokens) Sign(c Claims) (string, error) {
	c.Issuer = t.issuer
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = t.currentKID
	return tok.SignedString(t.current)
}

// keyFor picks the verification key. The kid only selects among keys we
// already hold; jku, x5u and jwk headers are never looked at, so a token can
// never tell us where to fetch a key from.
func (t *Tokens) keyFor(tok *jwt.Token) (any, error) {
	// RFC 7515 §4.1.11: a recipient must reject a crit extension it does
	// not understand, and we understand none.
	if _, ok := tok.Header["crit"]; ok {
		return nil, ErrCritHeader
	}
	kid, _ := tok.Header["kid"].(string)
	key, ok := t.keys[kid]
	if !ok {
		return nil, ErrUnknownKey
	}
	return key, nil
}

// Parse validates a token fully: length, algorithm, signature, issuer,
// exp (required), iat, and the presence of sub and jti. It does not check
// that the session is live; Verifier does that on every request.
func (t *Tokens) Parse(raw string) (*Claims, error) {
	if len(raw) > MaxTokenLength {
		return nil, ErrTokenTooLong
	}
	var c Claims
	if _, err := t.parser.ParseWithClaims(raw, &c, t.keyFor); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	if c.Subject == "" || c.ID == "" || c.ExpiresAt == nil || c.ExpiresAt.Unix() <= 0 {
		return nil, fmt.Errorf("%w: missing sub, jti or exp", ErrTokenInvalid)
	}
	return &c, nil
}
