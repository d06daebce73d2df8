package accounts

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Code classifies an error for whoever answers the client. The HTTP layer
// (accounts/web) holds the one table from code to status; nothing else
// picks a status.
type Code uint8

const (
	// Internal is a fault of the gate itself: a bug, a corrupt record, a
	// hash it cannot check. It is the code of every error without one, so
	// an unexpected failure never passes for an outage or for bad input.
	Internal Code = iota
	// Invalid: the input breaks a rule; the message says which.
	Invalid
	// Unauthorized: wrong or missing credentials.
	Unauthorized
	// Forbidden: the caller may not do this (closed registration, a
	// cross-site form, a users-file account).
	Forbidden
	// NotFound: no such account.
	NotFound
	// Conflict: the name is taken.
	Conflict
	// Locked: too many failed attempts; RetryAfter says how long.
	Locked
	// TooLarge: the request body passed the configured limit.
	TooLarge
	// Unsupported: a content type the endpoint does not read.
	Unsupported
	// Unavailable: a store could not be reached; trying again may work.
	Unavailable
)

// Error is the one error type of the account domain. Message is safe to
// show to the client; Err, when set, is the detail for the log.
type Error struct {
	Code       Code
	Message    string
	RetryAfter time.Duration // Locked only
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an error with a code and a client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode is err's code: the code of the first *Error in its chain, or
// Internal when there is none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Errors the stores and the Service return. Compare with errors.Is.
var (
	ErrUserExists   = Errorf(Conflict, "username is taken")
	ErrUserNotFound = Errorf(NotFound, "user not found")
	// ErrUnavailable wraps failures to reach a networked store:
	// fmt.Errorf("%w: %w", ErrUnavailable, err).
	ErrUnavailable = Errorf(Unavailable, "accounts are unavailable; try again")
	// ErrBadCredentials is the one answer for a wrong password and an
	// unknown user alike, so the response never tells which.
	ErrBadCredentials = Errorf(Unauthorized, "invalid username or password")
	// ErrStaticUser refuses changes to a name defined in the users file
	// (AUTHGATE_USERS_FILE), which is edited as a file.
	ErrStaticUser = Errorf(Conflict, "account is defined in the users file")
	// ErrRegistrationClosed refuses sign-ups when registration is closed.
	ErrRegistrationClosed = Errorf(Forbidden, "registration is closed")

	// ErrBadPassword refuses the wrong password of a signed-in user
	// confirming who they are (setting up or turning off a second
	// factor); it counts toward the lockout like a failed sign-in.
	ErrBadPassword = Errorf(Unauthorized, "invalid password")
	// ErrSecondFactorRequired answers the right password of a user with
	// TOTP on, sent without a code.
	ErrSecondFactorRequired = Errorf(Unauthorized, "second factor required")
	// ErrBadSecondFactor refuses a wrong, malformed or already used code
	// or recovery code; it counts toward the lockout.
	ErrBadSecondFactor = Errorf(Unauthorized, "invalid second factor")
	// ErrChallengeExpired: the signed value between the two steps of a
	// form sign-in is too old, used, or not ours.
	ErrChallengeExpired = Errorf(Unauthorized, "the sign-in has expired; enter your password again")
	ErrTOTPEnabled      = Errorf(Conflict, "two-factor authentication is already enabled")
	ErrTOTPNotEnabled   = Errorf(Conflict, "two-factor authentication is not enabled")
	ErrTOTPNotPending   = Errorf(Conflict, "no two-factor set-up is pending; start with /totp/setup")
	// ErrBadSetupCode refuses the first code of a set-up; it stays pending.
	ErrBadSetupCode = Errorf(Invalid, "invalid code")
	// ErrGrantNotFound: no such invite or reset link, or expired, or used
	// up (the service turns it into what the caller may be told).
	ErrGrantNotFound = Errorf(NotFound, "not found")
	// ErrInvalidInvite refuses a registration whose invite is missing (in
	// invite mode), unknown, expired, revoked or used up.
	ErrInvalidInvite = Errorf(Forbidden, "invalid invite")
	// ErrInvalidReset refuses a spent, expired or unknown reset link.
	ErrInvalidReset = Errorf(Invalid, "invalid or expired reset link")
	// ErrInviteNotFound: no invite with that id.
	ErrInviteNotFound = Errorf(NotFound, "no such invite")
	// ErrNoSecondFactors: the gate was started without a Sealer.
	ErrNoSecondFactors = Errorf(Internal, "two-factor authentication is not configured")
)

// invalid turns a rule's explanation into an Invalid error.
func invalid(err error) error {
	return &Error{Code: Invalid, Message: err.Error(), Err: err}
}

// lockedError is the answer to an attempt refused by a lock.
func lockedError(wait time.Duration) *Error {
	return &Error{Code: Locked, Message: "too many failed attempts; try again in " + minutes(wait), RetryAfter: wait}
}

// minutes renders a wait for people: "1 minute", "15 minutes".
func minutes(d time.Duration) string {
	m := int((d + time.Minute - 1) / time.Minute)
	if m <= 1 {
		return "1 minute"
	}
	return strconv.Itoa(m) + " minutes"
}
