package verify

import "time"

// Reason says why /verify answered as it did. The set is fixed, so a
// reason can be a metric label and a log field without ever carrying a
// name, a host or a path.
type Reason uint8

const (
	ReasonOK             Reason = iota // valid credentials, every rule allows
	ReasonPublic                       // an allow rule, without valid credentials
	ReasonNoCredentials                // no token, cookie or Basic credentials
	ReasonBadToken                     // a token that fails validation
	ReasonSessionEnded                 // a valid token whose session is gone
	ReasonBadCredentials               // wrong or malformed Basic credentials
	ReasonStoreError                   // the session store or the Basic check could not answer
	ReasonRuleDenied                   // a deny rule, or a verify-URL rule the gate cannot read
	ReasonGroups                       // not a member of the groups a rule requires
	ReasonUsers                        // not one of the users a rule requires
	ReasonLocked                       // Basic credentials of a locked name or address
	ReasonInternal                     // a recovered panic
	ReasonMFA                          // a second factor is required and the session (or Basic) has none
	reasonCount
)

var reasonNames = [reasonCount]string{
	"ok", "public", "no_credentials", "bad_token", "session_ended", "bad_credentials",
	"store_error", "rule_denied", "groups", "users", "locked", "internal", "mfa",
}

func (r Reason) String() string {
	if r < reasonCount {
		return reasonNames[r]
	}
	return "internal"
}

// Reasons lists every reason, for whoever wants to know the whole set
// ahead of time (metrics create their series at start).
func Reasons() []Reason {
	out := make([]Reason, reasonCount)
	for i := range out {
		out[i] = Reason(i)
	}
	return out
}

// Observer sees every /verify answer: its status, its reason and how long
// /verify took. It is called on the hot path, once per request, and must
// not block.
type Observer interface {
	Verified(code int, reason Reason, elapsed time.Duration)
}

// authError is why credentials did not authenticate; the values below are
// allocated once.
type authError struct{ reason Reason }

func (e *authError) Error() string { return "unauthenticated: " + e.reason.String() }

var (
	errNoCredentials  = &authError{ReasonNoCredentials}
	errBadToken       = &authError{ReasonBadToken}
	errSessionEnded   = &authError{ReasonSessionEnded}
	errBadCredentials = &authError{ReasonBadCredentials}
	errStore          = &authError{ReasonStoreError}
	errMFA            = &authError{ReasonMFA}
)

// reasonOf is the reason of an error from authenticate.
func reasonOf(err error) Reason {
	if e, ok := err.(*authError); ok {
		return e.reason
	}
	return ReasonStoreError // a Basic checker's failure
}
