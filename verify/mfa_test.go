package verify

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// mfaRules: a public allow, an authenticated rule that asks for admins
// and a second factor, a deny, and the default.
const mfaRules = `default: authenticated
rules:
  - name: public
    hosts: [app.example.com]
    paths: ["/public/*"]
    action: allow
  - name: secure
    hosts: [app.example.com]
    paths: ["/secure/*"]
    action: authenticated
    groups: [admins]
    mfa: true
  - name: retired
    hosts: [old.example.com]
    action: deny
`

// mfaFixture is a fixture whose answers rec sees.
func mfaFixture(t *testing.T, mod func(*Config)) (*fixture, *observed) {
	t.Helper()
	rec := &observed{}
	f := newFixture(t, func(c *Config) {
		c.Observer = rec
		if mod != nil {
			mod(c)
		}
	})
	return f, rec
}

// mfaLogin mints, through Tokens.Issue, the token of a live session of
// user established by amr (nil: a token minted before amr existed).
func (f *fixture) mfaLogin(tb testing.TB, user string, amr []string, groups ...string) string {
	tb.Helper()
	f.sessions.mu.Lock()
	id := fmt.Sprintf("mfa-%s-%d", user, len(f.sessions.live))
	f.sessions.live[id] = user
	f.sessions.mu.Unlock()
	tok, err := f.tokens.Issue(id, Identity{User: user, Email: user + "@example.com", Groups: groups}, amr, testNow.Add(-time.Minute), testNow.Add(time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

var (
	amrOTP = []string{MethodPassword, MethodOTP}
	amrPwd = []string{MethodPassword}
)

// checkMFAAnswer asserts the status, the reason the observer saw, and the
// body of a refusal: exactly the second-factor body for an mfa 403,
// exactly the forbidden body for any other 403, no identity unless 200.
func checkMFAAnswer(t *testing.T, w *httptest.ResponseRecorder, rec *observed, want seen) {
	t.Helper()
	code, reason := want.code, want.reason
	if w.Code != code {
		t.Fatalf("status %d, want %d (body %q)", w.Code, code, w.Body)
	}
	if got := rec.last(); got != (seen{code, reason}) {
		t.Fatalf("observed %d %s, want %d %s", got.code, got.reason, code, reason)
	}
	if code != http.StatusOK && w.Header().Get(HeaderUser) != "" {
		t.Fatalf("refusal carries Remote-User %q", w.Header().Get(HeaderUser))
	}
	if code != http.StatusForbidden {
		return
	}
	body := string(bodyForbidden)
	if reason == ReasonMFA {
		body = `{"error":"second factor required"}` + "\n"
	}
	if w.Body.String() != body {
		t.Fatalf("body %q, want %q", w.Body, body)
	}
}

var (
	wantPass    = seen{200, ReasonOK}
	wantMFA     = seen{403, ReasonMFA}
	wantInvalid = seen{403, ReasonRuleDenied}
	wantGroups  = seen{403, ReasonGroups}
)

// TestVerifyMFAPolicy: the mfa key of the verify URL, for an API caller
// (bearer token). A session with otp passes wherever a second factor is
// asked; a password-only session and an old token without amr get 403
// "second factor required"; a value the gate cannot read refuses
// everybody; parameters a client appends never remove the requirement;
// groups and users refuse before the second factor is asked.
func TestVerifyMFAPolicy(t *testing.T) {
	for _, require := range []bool{false, true} {
		f, rec := mfaFixture(t, func(c *Config) { c.RequireMFA = require })
		otp := f.mfaLogin(t, "alice", amrOTP, "admins")
		pwd := f.mfaLogin(t, "alice", amrPwd, "admins")
		legacy := f.mfaLogin(t, "alice", nil, "admins")
		either := func(w seen) seen { // what RequireMFA turns a pass into
			if require && w == wantPass {
				return wantMFA
			}
			return w
		}
		for _, tc := range []struct {
			query    string
			otp, pwd seen // legacy tokens answer as pwd
		}{
			{"", wantPass, either(wantPass)},
			{"mfa=1", wantPass, wantMFA},
			{"mfa=true", wantPass, wantMFA},
			{"mfa=yes", wantPass, wantMFA},
			{"mfa=on", wantPass, wantMFA},
			{"mfa=TRUE", wantPass, wantMFA},
			{"mfa=0", wantPass, either(wantPass)},
			{"mfa=false", wantPass, either(wantPass)},
			{"mfa=no", wantPass, either(wantPass)},
			{"mfa=off", wantPass, either(wantPass)},
			{"mfa=otp", wantInvalid, wantInvalid},
			{"mfa=", wantInvalid, wantInvalid},
			{"mfa", wantInvalid, wantInvalid},
			{"MFA=1", wantInvalid, wantInvalid},
			{"mfa=1;x=1", wantInvalid, wantInvalid},
			{"mfa=1&mfa=0", wantPass, wantMFA},
			{"mfa=0&mfa=1", wantPass, wantMFA},
			{"mfa=1&mfa=off&mfa=no", wantPass, wantMFA},
			{"mfa=1&on_fail=redirect", wantPass, wantMFA},
			{"mfa=1&proxy=caddy", wantPass, wantMFA},
			{"mfa=1&mfa=", wantInvalid, wantInvalid},
			{"groups=admins&mfa=1", wantPass, wantMFA},
			{"groups=ops&mfa=1", wantGroups, wantGroups},
			{"users=bob&mfa=1", seen{403, ReasonUsers}, seen{403, ReasonUsers}},
		} {
			t.Run(fmt.Sprintf("require=%v/%q", require, tc.query), func(t *testing.T) {
				for _, s := range []struct {
					name, tok string
					want      seen
				}{{"otp", otp, tc.otp}, {"pwd", pwd, tc.pwd}, {"no amr", legacy, tc.pwd}} {
					// Twice: the second answer comes from the token cache.
					for range 2 {
						w := f.do("GET", "/verify?"+tc.query, map[string]string{"Authorization": "Bearer " + s.tok, "Accept": "application/json"})
						checkMFAAnswer(t, w, rec, s.want)
						if w.Code == 200 && (w.Header().Get(HeaderUser) != "alice" || w.Header().Get(HeaderGroups) != "admins" || w.Header().Get(HeaderEmail) != "alice@example.com") {
							t.Fatalf("%s: identity %v", s.name, w.Header())
						}
					}
				}
			})
		}
	}
}

// TestVerifyMFANavigation: a browser navigation without the second factor
// is sent to the login page exactly as a missing session would be (same
// status, same Location plus mfa=1); anything else is 403.
func TestVerifyMFANavigation(t *testing.T) {
	traefik := map[string]string{
		"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https",
		"X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/reports?q=1",
	}
	ingress := map[string]string{"X-Original-Url": "https://app.example.com/reports?q=1", "Accept": browserAccept}
	const rd = "https://auth.example.com/login?rd=https%3A%2F%2Fapp.example.com%2Freports%3Fq%3D1&mfa=1"
	for _, tc := range []struct {
		name, query string
		hdr         map[string]string
		noLogin     bool
		want        int
		location    string
	}{
		{"traefik browser", "mfa=1", with(traefik, "Accept", browserAccept), false, 302, rd},
		{"traefik Sec-Fetch-Mode navigate", "mfa=1", with(traefik, "Sec-Fetch-Mode", "navigate", "Accept", "*/*"), false, 302, rd},
		{"traefik HEAD navigation", "mfa=1", with(traefik, "X-Forwarded-Method", "HEAD", "Accept", "text/html"), false, 302, rd},
		{"ingress-nginx", "mfa=1", ingress, false, 401, rd},
		{"shipped nginx (both dialects)", "mfa=1", with(traefik, "Accept", browserAccept, "X-Original-Url", "https://app.example.com/reports?q=1"), false, 401, rd},
		{"ingress-nginx never gets a 3xx", "mfa=1&on_fail=redirect", ingress, false, 401, rd},
		{"on_fail=401", "mfa=1&on_fail=401", with(traefik, "Accept", browserAccept), false, 401, rd},
		{"disallowed host: no rd", "mfa=1", with(traefik, "X-Forwarded-Host", "evil.com", "Accept", browserAccept), false, 302, "https://auth.example.com/login?mfa=1"},
		{"traefik API call", "mfa=1", with(traefik, "Accept", "application/json"), false, 403, ""},
		{"curl */*", "mfa=1", with(traefik, "Accept", "*/*"), false, 403, ""},
		{"XHR", "mfa=1", with(traefik, "Accept", browserAccept, "X-Requested-With", "XMLHttpRequest"), false, 403, ""},
		{"POST navigation", "mfa=1", with(traefik, "X-Forwarded-Method", "POST", "Accept", browserAccept), false, 403, ""},
		{"API call, on_fail=redirect", "mfa=1&on_fail=redirect", with(traefik, "Accept", "application/json"), false, 403, ""},
		{"no login URL", "mfa=1", with(traefik, "Accept", browserAccept), true, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, rec := mfaFixture(t, func(c *Config) {
				if tc.noLogin {
					c.LoginURL = ""
				}
			})
			tok := f.mfaLogin(t, "alice", amrPwd)
			w := f.do("GET", "/verify?"+tc.query, with(tc.hdr, "Cookie", "authgate_session="+tok))
			checkMFAAnswer(t, w, rec, seen{tc.want, ReasonMFA})
			if got := w.Header().Get("Location"); got != tc.location {
				t.Fatalf("Location %q, want %q", got, tc.location)
			}
			if tc.want == 403 {
				return
			}
			// The same request without a session: same status, same
			// Location but for mfa=1.
			anon := f.do("GET", "/verify?"+tc.query, tc.hdr)
			loc := anon.Header().Get("Location")
			if strings.Contains(loc, "?") {
				loc += "&mfa=1"
			} else {
				loc += "?mfa=1"
			}
			if anon.Code != w.Code || loc != w.Header().Get("Location") {
				t.Fatalf("missing session: %d %q; second factor: %d %q", anon.Code, anon.Header().Get("Location"), w.Code, w.Header().Get("Location"))
			}
			// With the second factor the same navigation passes.
			ok := f.do("GET", "/verify?"+tc.query, with(tc.hdr, "Cookie", "authgate_session="+f.mfaLogin(t, "alice", amrOTP)))
			checkMFAAnswer(t, ok, rec, wantPass)
		})
	}
}

// TestVerifyMFARuleFile: `mfa: true` on an authenticated rule asks for the
// second factor after the rule's groups; an allow rule still allows with
// RequireMFA, unless the verify URL itself says mfa=1; a deny still denies.
func TestVerifyMFARuleFile(t *testing.T) {
	for _, require := range []bool{false, true} {
		f, rec := mfaFixture(t, func(c *Config) {
			withRules(t, mfaRules)(c)
			c.RequireMFA = require
		})
		adminOTP := "Bearer " + f.mfaLogin(t, "alice", amrOTP, "admins")
		adminPwd := "Bearer " + f.mfaLogin(t, "alice", amrPwd, "admins")
		staffOTP := "Bearer " + f.mfaLogin(t, "bob", amrOTP, "staff")
		staffPwd := "Bearer " + f.mfaLogin(t, "bob", amrPwd, "staff")
		byDefault := wantPass
		if require {
			byDefault = wantMFA
		}
		for _, tc := range []struct {
			name, query, url, auth string
			want                   seen
		}{
			{"public, anonymous", "", "https://app.example.com/public/a", "", seen{200, ReasonPublic}},
			{"public, password only", "", "https://app.example.com/public/a", staffPwd, wantPass},
			{"public, mfa=0", "mfa=0", "https://app.example.com/public/a", "", seen{200, ReasonPublic}},
			{"public, mfa=1, anonymous", "mfa=1", "https://app.example.com/public/a", "", seen{401, ReasonNoCredentials}},
			{"public, mfa=1, password only", "mfa=1", "https://app.example.com/public/a", staffPwd, wantMFA},
			{"public, mfa=1, otp", "mfa=1", "https://app.example.com/public/a", staffOTP, wantPass},
			{"public, mfa=otp", "mfa=otp", "https://app.example.com/public/a", staffOTP, wantInvalid},
			{"secure, admin, otp", "", "https://app.example.com/secure/x", adminOTP, wantPass},
			{"secure, admin, password only", "", "https://app.example.com/secure/x", adminPwd, wantMFA},
			{"secure, client's mfa=0", "mfa=0", "https://app.example.com/secure/x", adminPwd, wantMFA},
			{"secure, not a member, otp", "", "https://app.example.com/secure/x", staffOTP, wantGroups},
			{"secure, not a member, password only", "", "https://app.example.com/secure/x", staffPwd, wantGroups},
			{"default, password only", "", "https://app.example.com/x", staffPwd, byDefault},
			{"default, otp", "", "https://app.example.com/x", staffOTP, wantPass},
			{"default, mfa=1, password only", "mfa=1", "https://app.example.com/x", staffPwd, wantMFA},
			{"deny, otp", "", "https://old.example.com/", adminOTP, wantInvalid},
		} {
			t.Run(fmt.Sprintf("require=%v/%s", require, tc.name), func(t *testing.T) {
				hdr := original(tc.url)
				if tc.auth != "" {
					hdr = with(hdr, "Authorization", tc.auth)
				}
				checkMFAAnswer(t, f.do("GET", "/verify?"+tc.query, hdr), rec, tc.want) // "/verify?": no query
			})
		}
	}
}

// basicMFA is a BasicChecker whose user "totp" has a second factor (its
// refusal wrapped when wrap is set) and whose user "ci" has none.
type basicMFA struct{ wrap bool }

func (b basicMFA) CheckBasic(_ context.Context, _, user, pw string) (Identity, bool, error) {
	switch {
	case pw != "right password":
		return Identity{}, false, nil
	case user == "totp" && b.wrap:
		return Identity{}, false, fmt.Errorf("checking %q: %w", user, ErrSecondFactorRequired)
	case user == "totp":
		return Identity{}, false, ErrSecondFactorRequired
	case user == "ci":
		return Identity{User: "ci", Groups: []string{"builders"}}, true, nil
	}
	return Identity{}, false, nil
}

// TestVerifyMFABasic: Basic credentials of a user with a second factor
// are refused with 401 and reason mfa, wherever they are sent; Basic
// credentials of a user without one do not satisfy mfa=1 either.
func TestVerifyMFABasic(t *testing.T) {
	basic := func(u string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":right password"))
	}
	for _, tc := range []struct {
		name, query string
		mod         func(*Config)
		user        string
		hdr         map[string]string
		want        seen
	}{
		{"no requirement", "", nil, "totp", nil, seen{401, ReasonMFA}},
		{"wrapped error", "", func(c *Config) { c.Basic = basicMFA{wrap: true} }, "totp", nil, seen{401, ReasonMFA}},
		{"mfa=1", "mfa=1", nil, "totp", nil, seen{401, ReasonMFA}},
		{"RequireMFA", "", func(c *Config) { c.RequireMFA = true }, "totp", nil, seen{401, ReasonMFA}},
		{"nginx caller", "", nil, "totp", original("https://app.example.com/x"), seen{401, ReasonMFA}},
		{"rules file default", "", withRules(t, mfaRules), "totp", original("https://app.example.com/x"), seen{401, ReasonMFA}},
		{"user without a second factor", "", nil, "ci", nil, wantPass},
		{"user without a second factor, mfa=1", "mfa=1", nil, "ci", nil, wantMFA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, rec := mfaFixture(t, func(c *Config) {
				c.Basic = basicMFA{}
				if tc.mod != nil {
					tc.mod(c)
				}
			})
			checkMFAAnswer(t, f.do("GET", "/verify?"+tc.query, with(tc.hdr, "Authorization", basic(tc.user))), rec, tc.want)
		})
	}
}

// TestSignedInAMR: the gate's pages learn how a session was established.
func TestSignedInAMR(t *testing.T) {
	f := newFixture(t, nil)
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+f.mfaLogin(t, "alice", []string{MethodPassword, MethodOTP}))
	si, ok := f.v.SignedIn(r)
	if !ok || len(si.AMR) != 2 || si.AMR[1] != MethodOTP {
		t.Fatalf("SignedIn = %+v, %v", si, ok)
	}
}
