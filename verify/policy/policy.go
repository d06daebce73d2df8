// Package policy reads the per-location rules a proxy config writes into
// the verify URL's query (?groups=a,b&users=x,y&mfa=1&on_fail=401). Every
// parameter can only narrow access, and a query it cannot read exactly as
// written locks the location rather than opening it: Caddy appends the
// client's own query to the verify URL, and a typo in a proxy config must
// not widen access.
package policy

import (
	"net/url"
	"strings"
)

// OnFail is what a refusal of an unauthenticated request becomes.
type OnFail uint8

const (
	Auto     OnFail = iota // the gate decides (302 for a navigation Traefik or Caddy relays)
	Redirect               // on_fail=redirect
	Force401               // on_fail=401
)

// Policy is the per-location restriction carried in the verify URL's query
// (?groups=a,b&users=x,y&mfa=1&on_fail=401). Every parameter can only narrow
// access: repeated parameters must all be satisfied, because a proxy such as
// Caddy appends the client's own query string to the verify URL and a client
// must never be able to widen what the operator configured.
type Policy struct {
	Groups [][]string // each inner list: member of any; all lists must match
	Users  [][]string
	MFA    bool // a second factor is required
	OnFail OnFail
	// Invalid: the query could not be read as the operator surely meant
	// it; nobody passes, rather than everybody.
	Invalid bool
}

// Parse reads a verify URL's raw query.
func Parse(rawQuery string) Policy {
	var p Policy
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		// ParseQuery drops a pair it cannot read ("groups=admins;x=1",
		// "%zz=1") and keeps going; dropping a rule would widen access.
		p.Invalid = true
	}
	for k := range q {
		if k != "groups" && k != "users" && k != "mfa" && k != "on_fail" && looksLikeRule(k) {
			// "group=", "Groups=", "groups%3Dadmins", "user": a typo in
			// a proxy config must lock the location, not open it.
			p.Invalid = true
		}
	}
	for _, v := range q["groups"] {
		p.Groups = append(p.Groups, splitList(v))
	}
	for _, v := range q["users"] {
		p.Users = append(p.Users, splitList(v))
	}
	for _, v := range q["mfa"] {
		switch strings.ToLower(v) {
		case "1", "true", "yes", "on":
			p.MFA = true
		case "0", "false", "no", "off":
			// No requirement from this one; another mfa=1 still holds.
		default:
			p.Invalid = true // "mfa=otp", "mfa=": unreadable, so nobody passes
		}
	}
	for _, v := range q["on_fail"] {
		switch v {
		case "401":
			p.OnFail = Force401
		case "redirect":
			if p.OnFail != Force401 {
				p.OnFail = Redirect
			}
		}
	}
	return p
}

// splitList returns the non-empty, trimmed, lower-cased entries of a comma
// list. User names are case-folded at registration; group names are
// compared case-insensitively as well so "Admins" in a proxy config matches.
func splitList(v string) []string {
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, strings.ToLower(e))
		}
	}
	if out == nil {
		// "groups=" names nobody: it must not be read as "no restriction",
		// or a client could add it to look like a satisfied condition.
		out = []string{}
	}
	return out
}

// looksLikeRule reports whether a query key resembles a rule name. Other
// unknown keys (proxy=caddy, a marker) are ignored.
func looksLikeRule(k string) bool {
	k = strings.ToLower(strings.TrimSpace(k))
	return strings.HasPrefix(k, "group") || strings.HasPrefix(k, "user") ||
		strings.HasPrefix(k, "on_fail") || strings.HasPrefix(k, "on-fail") || strings.HasPrefix(k, "onfail") ||
		strings.HasPrefix(k, "mfa") || strings.HasPrefix(k, "2fa") || strings.HasPrefix(k, "totp")
}

// Refusal says which requirement of a Policy a user fails.
type Refusal uint8

const (
	None       Refusal = iota // every requirement holds
	Unreadable                // the query could not be read: nobody passes
	Users                     // not one of the users
	Groups                    // in none of the groups of some list
)

// Check says whether user, in groups, meets the policy's users and groups
// (the second factor is the caller's to check), and which failed.
func (p Policy) Check(user string, groups []string) Refusal {
	if p.Invalid {
		return Unreadable
	}
	for _, any := range p.Users {
		if !containsFold(any, []string{user}) {
			return Users
		}
	}
	for _, any := range p.Groups {
		if !containsFold(any, groups) {
			return Groups
		}
	}
	return None
}

// Narrows reports whether the query restricts who may pass at all (groups,
// users, a second factor, or a rule it cannot read); on_fail and unknown
// markers such as Caddy's proxy=caddy do not.
func (p Policy) Narrows() bool {
	return p.Invalid || len(p.Groups) > 0 || len(p.Users) > 0 || p.MFA
}

func containsFold(want, have []string) bool {
	for _, w := range want {
		for _, h := range have {
			if strings.EqualFold(w, h) {
				return true
			}
		}
	}
	return false
}
