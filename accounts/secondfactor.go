package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/authgate/authgate/accounts/mfa"
	"github.com/authgate/authgate/verify"
)

// The second factor: TOTP with recovery codes. A user sets it up with
// their password (BeginTOTP), turns it on with a first code
// (ConfirmTOTP), which also issues the recovery codes, and from then on
// signs in with the password and a code, or a recovery code, each
// accepted once. Wrong codes count toward the same lockout as wrong
// passwords.

// ChallengeTTL is how long the second step of a form sign-in may wait for
// its code.
const ChallengeTTL = 5 * time.Minute

// recoveryMemory is how long a used recovery code is also remembered apart
// from the account record, so two sign-ins racing with one code cannot
// both pass while the record is rewritten.
const recoveryMemory = 24 * time.Hour

func totpBinding(user string) string { return "totp:" + user }

const challengeBinding = "login challenge"

// Account returns a user as the gate knows it (users file, then store).
func (s *Service) Account(ctx context.Context, name string) (User, error) {
	canon, err := CanonicalUsername(name)
	if err != nil {
		return User{}, ErrUserNotFound
	}
	return s.lookup(ctx, canon)
}

// IsStatic reports whether name is an account of the users file.
func (s *Service) IsStatic(name string) bool {
	_, ok := s.cfg.Static[name]
	return ok
}

// confirmPassword checks the password of a signed-in user under the
// regulation policy: a wrong one counts like a failed sign-in.
func (s *Service) confirmPassword(ctx context.Context, ip, name, pw string, then func(*User) error) error {
	_, err := s.regulated(ctx, s.cfg.Attempts, name, ip, func() (User, error) {
		u, err := s.authenticate(ctx, name, pw)
		if errors.Is(err, ErrBadCredentials) {
			return User{}, ErrBadPassword
		}
		if err != nil {
			return User{}, err
		}
		return u, then(&u)
	})
	return err
}

// errStaticTOTP refuses a second factor to users-file accounts: the file
// is read-only to the gate, so there is nowhere to keep one.
var errStaticTOTP = Errorf(Forbidden, "accounts defined in AUTHGATE_USERS_FILE cannot set up two-factor authentication")

// BeginTOTP draws a new TOTP secret for a signed-in user who confirms
// their password, and keeps it pending until ConfirmTOTP; a second call
// before then replaces it. It returns the secret in base32 and its
// otpauth:// URL.
func (s *Service) BeginTOTP(ctx context.Context, ip, name, pw string) (secret, url string, err error) {
	if s.cfg.Sealer == nil {
		return "", "", ErrNoSecondFactors
	}
	if _, static := s.cfg.Static[name]; static {
		return "", "", errStaticTOTP
	}
	err = s.confirmPassword(ctx, ip, name, pw, func(u *User) error {
		if u.TOTPEnabled() {
			return ErrTOTPEnabled
		}
		secret, url, err = mfa.NewKey(s.cfg.TOTPIssuer, u.Name)
		if err != nil {
			return err
		}
		if u.TOTP.Pending, err = s.cfg.Sealer.Seal([]byte(secret), totpBinding(u.Name)); err != nil {
			return err
		}
		return s.cfg.Store.UpdateUser(ctx, *u)
	})
	if err != nil {
		return "", "", err
	}
	s.log.Info("two-factor set-up started", "user", name)
	return secret, url, nil
}

// PendingTOTP returns the secret and otpauth:// URL of a set-up not yet
// confirmed, so the page can show them again after a wrong first code.
func (s *Service) PendingTOTP(ctx context.Context, name string) (secret, url string, err error) {
	u, err := s.cfg.Store.User(ctx, name)
	if err != nil {
		return "", "", err
	}
	if u.TOTP.Pending == "" || s.cfg.Sealer == nil {
		return "", "", ErrTOTPNotPending
	}
	plain, _, err := s.cfg.Sealer.Open(u.TOTP.Pending, totpBinding(u.Name))
	if err != nil {
		return "", "", ErrTOTPNotPending
	}
	url, err = mfa.KeyURL(s.cfg.TOTPIssuer, u.Name, string(plain))
	return string(plain), url, err
}

// ConfirmTOTP turns TOTP on when code is right for the pending secret, and
// returns the recovery codes: shown this once, stored only as hashes. A
// wrong code leaves the set-up pending.
func (s *Service) ConfirmTOTP(ctx context.Context, name, code string) ([]string, error) {
	if s.cfg.Sealer == nil {
		return nil, ErrNoSecondFactors
	}
	u, err := s.cfg.Store.User(ctx, name)
	if err != nil {
		return nil, err
	}
	if u.TOTPEnabled() {
		return nil, ErrTOTPEnabled
	}
	if u.TOTP.Pending == "" {
		return nil, ErrTOTPNotPending
	}
	secret, _, err := s.cfg.Sealer.Open(u.TOTP.Pending, totpBinding(u.Name))
	if err != nil {
		return nil, ErrTOTPNotPending
	}
	step, ok := mfa.Match(string(secret), code, s.now())
	if !ok {
		return nil, ErrBadSetupCode
	}
	// The code that turned TOTP on is spent: it does not also sign in.
	if _, err := s.cfg.Store.UseOnce(ctx, stepKey(u.Name, step), mfa.StepEnd(step)); err != nil {
		return nil, err
	}
	codes, err := mfa.NewRecoveryCodes()
	if err != nil {
		return nil, err
	}
	hashes := make([]string, len(codes))
	for i, c := range codes {
		if hashes[i], err = mfa.HashRecoveryCode(u.Name, c); err != nil {
			return nil, err
		}
	}
	sealed, err := s.cfg.Sealer.Seal(secret, totpBinding(u.Name))
	if err != nil {
		return nil, err
	}
	u.TOTP = TOTP{Secret: sealed, Recovery: hashes}
	if err := s.cfg.Store.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	s.log.Info("two-factor authentication turned on", "user", u.Name)
	return codes, nil
}

// DisableTOTP turns TOTP off for a signed-in user who confirms their
// password and a code (TOTP or recovery), and ends every other session of
// theirs: keep, the session asking, stays.
func (s *Service) DisableTOTP(ctx context.Context, ip, name, pw, code, keep string) error {
	err := s.confirmPassword(ctx, ip, name, pw, func(u *User) error {
		if !u.TOTPEnabled() {
			return ErrTOTPNotEnabled
		}
		totpCode, recovery := splitCode(code)
		if err := s.secondFactor(ctx, u, totpCode, recovery); err != nil {
			return err
		}
		u.TOTP = TOTP{}
		return s.cfg.Store.UpdateUser(ctx, *u)
	})
	if err != nil {
		return err
	}
	s.log.Info("two-factor authentication turned off", "user", name)
	return s.cfg.Store.DeleteUserSessions(ctx, name, keep)
}

// ResetTOTP turns TOTP off for a user who lost the device
// ("authgate users totp-reset") and ends all of that user's sessions.
func (s *Service) ResetTOTP(ctx context.Context, name string) error {
	return s.update(ctx, name, func(u *User) error {
		if !u.TOTPEnabled() && u.TOTP.Pending == "" {
			return ErrTOTPNotEnabled
		}
		u.TOTP = TOTP{}
		return nil
	})
}

// splitCode reads the one code field of a form or request: six digits are
// a TOTP code, anything else a recovery code.
func splitCode(code string) (totpCode, recovery string) {
	if len(code) == mfa.Digits {
		return code, ""
	}
	return "", code
}

func stepKey(user string, step int64) string { return fmt.Sprintf("totp:%s:%d", user, step) }

// secondFactor checks a TOTP code (preferred when both are given) or a
// recovery code of u, and spends it. A secret sealed under a previous
// signing key is sealed again under the current one.
func (s *Service) secondFactor(ctx context.Context, u *User, totpCode, recovery string) error {
	if s.cfg.Sealer == nil {
		return ErrBadSecondFactor
	}
	now := s.now()
	if totpCode != "" {
		secret, stale, err := s.cfg.Sealer.Open(u.TOTP.Secret, totpBinding(u.Name))
		if err != nil {
			s.log.Error("a stored TOTP secret cannot be opened (was AUTHGATE_SECRET changed without AUTHGATE_SECRET_PREVIOUS?)", "user", u.Name)
			return ErrBadSecondFactor
		}
		step, ok := mfa.Match(string(secret), totpCode, now)
		if !ok {
			return ErrBadSecondFactor
		}
		first, err := s.cfg.Store.UseOnce(ctx, stepKey(u.Name, step), mfa.StepEnd(step))
		if err != nil {
			return err
		}
		if !first {
			return ErrBadSecondFactor // replayed
		}
		if stale {
			if resealed, err := s.cfg.Sealer.Seal(secret, totpBinding(u.Name)); err == nil {
				u.TOTP.Secret = resealed
				if err := s.cfg.Store.UpdateUser(ctx, *u); err != nil {
					s.log.Warn("TOTP secret could not be sealed again under the current key", "user", u.Name, "err", err)
				}
			}
		}
		return nil
	}
	h, err := mfa.HashRecoveryCode(u.Name, recovery)
	if err != nil {
		return ErrBadSecondFactor
	}
	i := slices.IndexFunc(u.TOTP.Recovery, func(stored string) bool {
		return subtle.ConstantTimeCompare([]byte(stored), []byte(h)) == 1
	})
	if i < 0 {
		return ErrBadSecondFactor
	}
	first, err := s.cfg.Store.UseOnce(ctx, "recovery:"+u.Name+":"+h, now.Add(recoveryMemory))
	if err != nil {
		return err
	}
	if !first {
		return ErrBadSecondFactor
	}
	u.TOTP.Recovery = slices.Delete(slices.Clone(u.TOTP.Recovery), i, i+1)
	if err := s.cfg.Store.UpdateUser(ctx, *u); err != nil {
		return err
	}
	s.log.Info("recovery code used", "user", u.Name, "left", len(u.TOTP.Recovery))
	return nil
}

// challenge is what the page carries between the password and the code,
// sealed: whose sign-in it is, until when, a nonce that makes it single
// use, and a fingerprint of the password hash checked, so a password
// change in between voids it. The password itself is never in it.
type challenge struct {
	User    string `json:"u"`
	Expires int64  `json:"x"`
	Nonce   string `json:"n"`
	Hash    string `json:"h"`
}

func hashPrint(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(sum[:8])
}

// Challenge seals the second step of a form sign-in for u, whose password
// was just checked.
func (s *Service) Challenge(u User) (string, error) {
	if s.cfg.Sealer == nil {
		return "", ErrNoSecondFactors
	}
	n := make([]byte, 16)
	if _, err := rand.Read(n); err != nil {
		return "", err
	}
	b, err := json.Marshal(challenge{User: u.Name, Expires: s.now().Add(ChallengeTTL).Unix(), Nonce: base64.RawURLEncoding.EncodeToString(n), Hash: hashPrint(u.Hash)})
	if err != nil {
		return "", err
	}
	return s.cfg.Sealer.Seal(b, challengeBinding)
}

// SignInChallenge is the second step of a form sign-in: a code (or
// recovery code) for the user a challenge names. A challenge passes once,
// and only within ChallengeTTL; wrong codes count toward the lockout (the
// same challenge may be tried again, within the limits).
func (s *Service) SignInChallenge(ctx context.Context, ip, sealed, totpCode, recovery string) (User, []string, error) {
	if s.cfg.Sealer == nil {
		return User{}, nil, ErrChallengeExpired
	}
	plain, _, err := s.cfg.Sealer.Open(sealed, challengeBinding)
	var c challenge
	if err != nil || json.Unmarshal(plain, &c) != nil || s.now().Unix() >= c.Expires {
		return User{}, nil, ErrChallengeExpired
	}
	u, err := s.regulated(ctx, s.cfg.Attempts, c.User, ip, func() (User, error) {
		u, err := s.lookup(ctx, c.User)
		if errors.Is(err, ErrUserNotFound) || err == nil && (hashPrint(u.Hash) != c.Hash || !u.TOTPEnabled()) {
			return User{}, ErrChallengeExpired
		}
		if err != nil {
			return User{}, err
		}
		if totpCode == "" && recovery == "" {
			return User{}, ErrBadSecondFactor
		}
		return u, s.secondFactor(ctx, &u, totpCode, recovery)
	})
	if err != nil {
		return User{}, nil, err
	}
	first, err := s.cfg.Store.UseOnce(ctx, "challenge:"+c.Nonce, time.Unix(c.Expires, 0))
	if err != nil {
		return User{}, nil, err
	}
	if !first {
		return User{}, nil, ErrChallengeExpired
	}
	return u, []string{verify.MethodPassword, verify.MethodOTP}, nil
}
