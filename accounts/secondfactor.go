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
// from the account record: for as long as the code could exist, so no
// write of an older copy of the record (two sign-ins racing with two
// codes) can bring a used code back.
const recoveryMemory = 20 * 365 * 24 * time.Hour

// PendingTTL is how long a set-up waits for its first code.
const PendingTTL = 15 * time.Minute

// sessionPrint binds a pending set-up to the session that began it.
func sessionPrint(session string) string {
	sum := sha256.Sum256([]byte("authgate totp set-up\x00" + session))
	return hex.EncodeToString(sum[:16])
}

// pendingFor reports whether u's pending set-up belongs to session and
// is still fresh.
func (s *Service) pendingFor(u User, session string) bool {
	return u.TOTP.Pending != "" && u.TOTP.PendingSession == sessionPrint(session) && s.now().Before(u.TOTP.PendingExpires)
}

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
// their password, and keeps it pending, for session alone and for
// PendingTTL, until ConfirmTOTP; a second call before then replaces it.
// It returns the secret in base32 and its otpauth:// URL.
func (s *Service) BeginTOTP(ctx context.Context, ip, name, pw, session string) (secret, url string, err error) {
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
		u.TOTP.PendingSession, u.TOTP.PendingExpires = sessionPrint(session), s.now().Add(PendingTTL).UTC()
		return s.cfg.Store.UpdateUser(ctx, *u)
	})
	if err != nil {
		return "", "", err
	}
	s.log.Info("two-factor set-up started", "user", name)
	return secret, url, nil
}

// PendingTOTP returns the secret and otpauth:// URL of a set-up not yet
// confirmed, so the page can show them again after a wrong first code;
// only to the session that began it.
func (s *Service) PendingTOTP(ctx context.Context, name, session string) (secret, url string, err error) {
	u, err := s.cfg.Store.User(ctx, name)
	if err != nil {
		return "", "", err
	}
	if !s.pendingFor(u, session) || s.cfg.Sealer == nil {
		return "", "", ErrTOTPNotPending
	}
	plain, _, err := s.cfg.Sealer.Open(u.TOTP.Pending, totpBinding(u.Name))
	if err != nil {
		return "", "", ErrTOTPNotPending
	}
	url, err = mfa.KeyURL(s.cfg.TOTPIssuer, u.Name, string(plain))
	return string(plain), url, err
}

// ConfirmTOTP turns TOTP on when code is right for the secret session
// set up, and returns the recovery codes: shown this once, stored only as
// hashes. A wrong code leaves the set-up pending, and counts toward the
// lockout like a wrong password.
func (s *Service) ConfirmTOTP(ctx context.Context, ip, name, code, session string) ([]string, error) {
	if s.cfg.Sealer == nil {
		return nil, ErrNoSecondFactors
	}
	var u User
	var secret []byte
	_, err := s.regulated(ctx, s.cfg.Attempts, name, ip, func() (User, error) {
		var err error
		if u, err = s.cfg.Store.User(ctx, name); err != nil {
			return User{}, err
		}
		if u.TOTPEnabled() {
			return User{}, ErrTOTPEnabled
		}
		if !s.pendingFor(u, session) {
			return User{}, ErrTOTPNotPending
		}
		if secret, _, err = s.cfg.Sealer.Open(u.TOTP.Pending, totpBinding(u.Name)); err != nil {
			return User{}, ErrTOTPNotPending
		}
		step, ok := mfa.Match(string(secret), code, s.now())
		if !ok {
			return User{}, ErrBadSetupCode
		}
		// The code that turns TOTP on is spent: it does not also sign
		// in, nor confirm twice.
		first, err := s.cfg.Store.UseOnce(ctx, stepKey(u.Name, step), mfa.StepEnd(step))
		if err != nil {
			return User{}, err
		}
		if !first {
			return User{}, ErrBadSetupCode
		}
		return u, nil
	})
	if err != nil {
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
	// Written on the record as it is now, so a change made meanwhile (a
	// password) is not undone, and only if this set-up is still the
	// pending one.
	cur, err := s.cfg.Store.User(ctx, name)
	if err != nil {
		return nil, err
	}
	if cur.TOTPEnabled() || cur.TOTP.Pending != u.TOTP.Pending {
		return nil, ErrTOTPNotPending
	}
	cur.TOTP = TOTP{Secret: sealed, Recovery: hashes}
	if err := s.cfg.Store.UpdateUser(ctx, cur); err != nil {
		return nil, err
	}
	s.log.Info("two-factor authentication turned on", "user", u.Name)
	// Sessions signed in with the password alone end: from now on this
	// account signs in with a code. The session that confirmed stays.
	if err := s.cfg.Store.DeleteUserSessions(ctx, name, session); err != nil {
		return nil, err
	}
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
				err := s.rewrite(ctx, u.Name, func(cur *User) bool {
					if cur.TOTP.Secret != u.TOTP.Secret {
						return false // changed meanwhile: leave it
					}
					cur.TOTP.Secret = resealed
					return true
				})
				if err != nil {
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
	err = s.rewrite(ctx, u.Name, func(cur *User) bool {
		j := slices.Index(cur.TOTP.Recovery, h)
		if j < 0 {
			return false
		}
		cur.TOTP.Recovery = slices.Delete(slices.Clone(cur.TOTP.Recovery), j, j+1)
		u.TOTP.Recovery = cur.TOTP.Recovery
		return true
	})
	if err != nil {
		return err
	}
	s.log.Info("recovery code used", "user", u.Name, "left", len(u.TOTP.Recovery))
	return nil
}

// rewrite changes the stored record of name as it is now (not a copy read
// earlier, whose write would undo a change made since: a password, a
// used code); change reports whether there is anything to write.
func (s *Service) rewrite(ctx context.Context, name string, change func(*User) bool) error {
	cur, err := s.cfg.Store.User(ctx, name)
	if err != nil {
		return err
	}
	if !change(&cur) {
		return nil
	}
	return s.cfg.Store.UpdateUser(ctx, cur)
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
// recovery code) for the user a challenge names. A challenge is used
// once, right or wrong, and only within ChallengeTTL; a wrong code (which
// counts toward the lockout) returns the user with ErrBadSecondFactor, so
// the page can go on with a fresh challenge.
func (s *Service) SignInChallenge(ctx context.Context, ip, sealed, totpCode, recovery string) (User, []string, error) {
	if s.cfg.Sealer == nil {
		return User{}, nil, ErrChallengeExpired
	}
	plain, _, err := s.cfg.Sealer.Open(sealed, challengeBinding)
	var c challenge
	if err != nil || json.Unmarshal(plain, &c) != nil || s.now().Unix() >= c.Expires {
		return User{}, nil, ErrChallengeExpired
	}
	// The challenge is spent first, whatever the code: a resubmitted form
	// must not spend a recovery code for a sign-in it cannot finish.
	first, err := s.cfg.Store.UseOnce(ctx, "challenge:"+c.Nonce, time.Unix(c.Expires, 0))
	if err != nil {
		return User{}, nil, err
	}
	if !first {
		return User{}, nil, ErrChallengeExpired
	}
	var who User
	u, err := s.regulated(ctx, s.cfg.Attempts, c.User, ip, func() (User, error) {
		u, err := s.lookup(ctx, c.User)
		if errors.Is(err, ErrUserNotFound) || err == nil && (hashPrint(u.Hash) != c.Hash || !u.TOTPEnabled()) {
			return User{}, ErrChallengeExpired
		}
		if err != nil {
			return User{}, err
		}
		who = u
		if totpCode == "" && recovery == "" {
			return User{}, ErrBadSecondFactor
		}
		return u, s.secondFactor(ctx, &u, totpCode, recovery)
	})
	if errors.Is(err, ErrBadSecondFactor) {
		// A wrong code: the user, so the page can carry a fresh
		// challenge (this one is spent) for another try.
		return who, nil, err
	}
	if err != nil {
		return User{}, nil, err
	}
	return u, []string{verify.MethodPassword, verify.MethodOTP}, nil
}
