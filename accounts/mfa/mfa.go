// Package mfa owns the material of the second factor: TOTP keys and codes
// (through github.com/pquerna/otp: SHA-1, 6 digits, 30-second period, one
// step of skew, what every authenticator app supports), recovery codes and
// their hashes, and the Sealer that encrypts TOTP secrets and sign-in
// challenges at rest with keys derived from the gate's signing secrets.
//
// It knows nothing of users or stores: the accounts Service decides when a
// code is asked for, and makes each one count once.
package mfa

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Period is the TOTP time step; Skew the steps accepted either side of the
// current one, to absorb a phone's clock drift and the time a user takes
// to type.
const (
	Period = 30 * time.Second
	Skew   = 1
	Digits = 6
)

var validate = totp.ValidateOpts{Period: uint(Period / time.Second), Skew: 0, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewKey draws a 160-bit TOTP secret (RFC 4226's recommended length) for
// account, named issuer in authenticator apps. It returns the secret in
// base32 (for manual entry) and the otpauth:// URL (for the QR code).
func NewKey(issuer, account string) (secret, url string, err error) {
	k, err := totp.Generate(generateOpts(issuer, account, nil))
	if err != nil {
		return "", "", err
	}
	return k.Secret(), k.URL(), nil
}

// KeyURL is the otpauth:// URL of an existing base32 secret.
func KeyURL(issuer, account, secret string) (string, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(secret))
	if err != nil {
		return "", err
	}
	k, err := totp.Generate(generateOpts(issuer, account, raw))
	if err != nil {
		return "", err
	}
	return k.URL(), nil
}

func generateOpts(issuer, account string, secret []byte) totp.GenerateOpts {
	return totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Secret: secret,
		Period: validate.Period, Digits: validate.Digits, Algorithm: validate.Algorithm, SecretSize: 20,
	}
}

// Step is the number of the TOTP time step t falls in.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// StepEnd is when step stops being accepted: the end of the step after it.
func StepEnd(step int64) time.Time {
	return time.Unix((step+1+Skew)*int64(Period/time.Second), 0)
}

// Match reports whether code is secret's code for the step of now or a
// step either side, and which step matched, so the caller can refuse the
// same code a second time. A code that is not six digits never matches.
func Match(secret, code string, now time.Time) (step int64, ok bool) {
	if !wellFormed(code) {
		return 0, false
	}
	found := false
	// Every candidate step is computed and compared, whichever matches,
	// so the time taken says nothing about which one did.
	for d := int64(-Skew); d <= Skew; d++ {
		t := now.Add(time.Duration(d) * Period)
		want, err := totp.GenerateCodeCustom(secret, t, validate)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !found {
			step, found = Step(t), true
		}
	}
	return step, found
}

// Code is secret's code at t: what an authenticator app shows. Tests and
// the end-to-end walk use it; the gate itself only matches.
func Code(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, validate)
}

func wellFormed(code string) bool {
	if len(code) != Digits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// RecoveryCodes is how many recovery codes an enrolment issues.
const RecoveryCodes = 10

// recoveryAlphabet is base32 without the letters people misread (Crockford:
// no I, L, O, U), lower case when shown.
var recoveryEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewRecoveryCodes draws RecoveryCodes codes of 80 random bits each, shown
// as four groups of four characters. Eighty bits make a fast hash safe to
// store: nobody walks that space, leaked hashes or not.
func NewRecoveryCodes() ([]string, error) {
	codes := make([]string, RecoveryCodes)
	for i := range codes {
		b := make([]byte, 10)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		s := recoveryEncoding.EncodeToString(b) // 16 characters
		codes[i] = s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
	}
	return codes, nil
}

// ErrRecoveryFormat: not something NewRecoveryCodes could have made.
var ErrRecoveryFormat = errors.New("not a recovery code")

// HashRecoveryCode is the stored form of a recovery code of user: SHA-256
// over the user and the code as typed, read leniently (case, spaces and
// dashes do not matter; Crockford's look-alikes are read as what they
// look like).
func HashRecoveryCode(user, code string) (string, error) {
	norm := normalizeRecovery(code)
	if len(norm) != 16 {
		return "", ErrRecoveryFormat
	}
	if _, err := recoveryEncoding.DecodeString(norm); err != nil {
		return "", ErrRecoveryFormat
	}
	sum := sha256.Sum256([]byte("authgate recovery code\x00" + user + "\x00" + norm))
	return hex.EncodeToString(sum[:]), nil
}

func normalizeRecovery(code string) string {
	if len(code) > 64 {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		switch r {
		case '-', ' ', '\t':
			continue
		case 'i', 'l':
			r = '1'
		case 'o':
			r = '0'
		}
		b.WriteRune(r)
	}
	return b.String()
}
