package verify

import (
	"context"
	"net/http"
	"net/url"
	"testing"
)

// loginAMR mints a token for user whose session was established by amr.
func (f *fixture) loginAMR(tb testing.TB, user string, amr []string, groups ...string) string {
	tb.Helper()
	id := "sess-" + user + "-" + amrName(amr)
	f.sessions.mu.Lock()
	f.sessions.live[id] = user
	f.sessions.mu.Unlock()
	c := claimsFor(user, id, groups...)
	c.AMR = amr
	return f.sign(tb, c)
}

func amrName(amr []string) string {
	s := "none"
	for i, m := range amr {
		if i == 0 {
			s = m
		} else {
			s += "+" + m
		}
	}
	return s
}

var (
	pwdOnly = []string{MethodPassword}
	pwdOTP  = []string{MethodPassword, MethodOTP}
)

// traefikNav is a browser navigation as Traefik or Caddy describe it.
func traefikNav(tok string) map[string]string {
	return map[string]string{
		"Cookie": DefaultCookieName + "=" + tok, "Accept": "text/html",
		"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/admin/x",
	}
}

// nginxNav is a browser navigation as nginx describes it.
func nginxNav(tok string) map[string]string {
	return map[string]string{
		"Cookie": DefaultCookieName + "=" + tok, "Sec-Fetch-Mode": "navigate",
		"X-Original-URL": "https://app.example.com/admin/x", "X-Original-Method": "GET",
	}
}

const mfaLocation = "https://auth.example.com/login?rd=https%3A%2F%2Fapp.example.com%2Fadmin%2Fx&mfa=1"

// TestVerifyMFA: ?mfa=1 refuses a session established without a second
// factor: 403 for API callers, the login page (with mfa=1) for a browser,
// exactly as a missing session would be sent there.
func TestVerifyMFA(t *testing.T) {
	obs := &observed{}
	f := newFixture(t, func(c *Config) { c.Observer = obs })
	pwd, otp, legacy := f.loginAMR(t, "alice", pwdOnly), f.loginAMR(t, "bob", pwdOTP), f.loginAMR(t, "carol", nil)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	for _, tc := range []struct {
		name     string
		target   string
		hdr      map[string]string
		code     int
		body     string
		location string
		reason   Reason
	}{
		{"no requirement: a password session passes", "/verify", bearer(pwd), 200, "", "", ReasonOK},
		{"api caller, password only", "/verify?mfa=1", bearer(pwd), 403, `{"error":"second factor required"}` + "\n", "", ReasonMFA},
		{"api caller, token without amr", "/verify?mfa=1", bearer(legacy), 403, `{"error":"second factor required"}` + "\n", "", ReasonMFA},
		{"api caller, pwd and otp", "/verify?mfa=1", bearer(otp), 200, "", "", ReasonOK},
		{"Traefik browser, password only", "/verify?mfa=1", traefikNav(pwd), 302, "", mfaLocation, ReasonMFA},
		{"nginx browser, password only", "/verify?mfa=1", nginxNav(pwd), 401, `{"error":"second factor required"}` + "\n", mfaLocation, ReasonMFA},
		{"Traefik browser, pwd and otp", "/verify?mfa=1", traefikNav(otp), 200, "", "", ReasonOK},
		{"on_fail=401 keeps a Traefik browser on 401", "/verify?mfa=1&on_fail=401", traefikNav(pwd), 401, `{"error":"second factor required"}` + "\n", mfaLocation, ReasonMFA},
		{"true", "/verify?mfa=true", bearer(pwd), 403, "", "", ReasonMFA},
		{"a client's mfa=0 cannot lift it", "/verify?mfa=1&mfa=0", bearer(pwd), 403, "", "", ReasonMFA},
		{"mfa=0 asks nothing", "/verify?mfa=0", bearer(pwd), 200, "", "", ReasonOK},
		{"an unreadable value denies everyone", "/verify?mfa=otp", bearer(otp), 403, `{"error":"forbidden"}` + "\n", "", ReasonRuleDenied},
		{"an empty value denies everyone", "/verify?mfa=", bearer(otp), 403, "", "", ReasonRuleDenied},
		{"a misspelt key denies everyone", "/verify?MFA=1", bearer(otp), 403, "", "", ReasonRuleDenied},
		{"groups refuse before mfa", "/verify?mfa=1&groups=admins", bearer(pwd), 403, `{"error":"forbidden"}` + "\n", "", ReasonGroups},
		{"no session: the usual 401", "/verify?mfa=1", nil, 401, `{"error":"unauthorized"}` + "\n", "", ReasonNoCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(http.MethodGet, tc.target, tc.hdr)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d; body %q", w.Code, tc.code, w.Body.String())
			}
			if tc.body != "" && w.Body.String() != tc.body {
				t.Errorf("body %q, want %q", w.Body.String(), tc.body)
			}
			if got := w.Header().Get("Location"); tc.location != "" && got != tc.location {
				t.Errorf("Location %q, want %q", got, tc.location)
			}
			if tc.code != 200 && w.Header().Get(HeaderUser) != "" {
				t.Errorf("a refusal names the user %q", w.Header().Get(HeaderUser))
			}
			if tc.code == 200 && w.Header().Get(HeaderUser) == "" {
				t.Error("an allowed request without Remote-User")
			}
			if got := obs.last(); got.reason != tc.reason || got.code != tc.code {
				t.Errorf("observer saw %d %v, want %d %v", got.code, got.reason, tc.code, tc.reason)
			}
		})
	}

	t.Run("without a login URL a browser gets 403", func(t *testing.T) {
		f := newFixture(t, func(c *Config) { c.LoginURL = "" })
		w := f.do(http.MethodGet, "/verify?mfa=1", traefikNav(f.loginAMR(t, "alice", pwdOnly)))
		if w.Code != 403 || w.Header().Get("Location") != "" {
			t.Fatalf("status %d, Location %q; want 403 without Location", w.Code, w.Header().Get("Location"))
		}
	})
}

// TestVerifyMFARules: mfa: true on the deciding rule, and RequireMFA for
// every location; allow rules still allow, and a verify URL's mfa=1 on an
// allowed path needs a signed-in session with a code.
func TestVerifyMFARules(t *testing.T) {
	const src = `default: authenticated
rules:
  - name: public
    paths: ["/public/*"]
    action: allow
  - name: admin
    paths: ["/admin/*"]
    action: authenticated
    mfa: true
`
	for _, tc := range []struct {
		name    string
		require bool
		target  string
		path    string
		amr     []string
		code    int
	}{
		{"rule with mfa, password only", false, "/verify", "/admin/x", pwdOnly, 403},
		{"rule with mfa, pwd and otp", false, "/verify", "/admin/x", pwdOTP, 200},
		{"default, password only", false, "/verify", "/reports", pwdOnly, 200},
		{"required everywhere: default, password only", true, "/verify", "/reports", pwdOnly, 403},
		{"required everywhere: default, pwd and otp", true, "/verify", "/reports", pwdOTP, 200},
		{"required everywhere: allow rule still allows", true, "/verify", "/public/a", pwdOnly, 200},
		{"allow rule, verify URL asks mfa=1, password only", false, "/verify?mfa=1", "/public/a", pwdOnly, 403},
		{"allow rule, verify URL asks mfa=1, pwd and otp", false, "/verify?mfa=1", "/public/a", pwdOTP, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) {
				withRules(t, src)(c)
				c.RequireMFA = tc.require
			})
			tok := f.loginAMR(t, "alice", tc.amr)
			hdr := with(original("https://app.example.com"+tc.path), "Authorization", "Bearer "+tok)
			w := f.do(http.MethodGet, tc.target, hdr)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d; body %q", w.Code, tc.code, w.Body.String())
			}
		})
	}
	t.Run("an allow rule with mfa=1 and no session: the login page", func(t *testing.T) {
		f := newFixture(t, withRules(t, src))
		w := f.do(http.MethodGet, "/verify?mfa=1", with(original("https://app.example.com/public/a"), "Accept", "text/html"))
		if w.Code != 401 || w.Header().Get("Location") == "" {
			t.Fatalf("status %d, Location %q", w.Code, w.Header().Get("Location"))
		}
	})
}

// secondFactorBasic is a BasicChecker whose one user has TOTP on.
type secondFactorBasic struct{}

func (secondFactorBasic) CheckBasic(context.Context, string, string, string) (Identity, bool, error) {
	return Identity{}, false, ErrSecondFactorRequired
}

// TestVerifyBasicSecondFactor: Basic credentials cannot carry a code, so a
// user with TOTP on is refused with 401 (never a pass, never a 5xx), and
// the reason says why.
func TestVerifyBasicSecondFactor(t *testing.T) {
	obs := &observed{}
	f := newFixture(t, func(c *Config) { c.Basic, c.Observer = secondFactorBasic{}, obs })
	auth := map[string]string{"Authorization": "Basic " + basicValue("alice", "right password")}
	for _, target := range []string{"/verify", "/verify?mfa=1"} {
		w := f.do(http.MethodGet, target, auth)
		if w.Code != 401 || w.Header().Get(HeaderUser) != "" {
			t.Fatalf("%s: status %d, Remote-User %q", target, w.Code, w.Header().Get(HeaderUser))
		}
		if got := obs.last(); got.reason != ReasonMFA {
			t.Fatalf("%s: reason %v, want mfa", target, got.reason)
		}
	}
	if ReasonMFA.String() != "mfa" {
		t.Fatalf("ReasonMFA is %q", ReasonMFA.String())
	}
}

func basicValue(user, pw string) string {
	r := &http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, pw)
	return r.Header.Get("Authorization")[len("Basic "):]
}

// TestSignedInAMR: the gate's pages learn how a session was established.
func TestSignedInAMR(t *testing.T) {
	f := newFixture(t, nil)
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+f.loginAMR(t, "alice", pwdOTP))
	si, ok := f.v.SignedIn(r)
	if !ok || len(si.AMR) != 2 || si.AMR[1] != MethodOTP {
		t.Fatalf("SignedIn = %+v, %v", si, ok)
	}
}

// FuzzPolicyMFA: whatever a verify URL's query says, appending mfa=1 (as
// Caddy appends a client's query, or an operator's) never lifts a
// requirement: the policy then requires the second factor, or is invalid.
func FuzzPolicyMFA(f *testing.F) {
	for _, s := range []string{"", "groups=admins", "mfa=0", "mfa=1", "mfa=otp", "on_fail=401", "a=%zz", "mfa=1;x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		p := parsePolicy(q + "&mfa=1")
		if !p.invalid && !p.mfa {
			t.Fatalf("%q + &mfa=1 neither requires a second factor nor is invalid", q)
		}
		if !p.narrows() {
			t.Fatalf("%q + &mfa=1 does not narrow", q)
		}
		if _, err := url.ParseQuery(q); err == nil && parsePolicy(q).mfa && !parsePolicy(q+"&mfa=0").mfa {
			t.Fatalf("%q: a client's mfa=0 lifted the requirement", q)
		}
	})
}
