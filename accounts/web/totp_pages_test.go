package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"html"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
)

const formCT = "application/x-www-form-urlencoded"

var (
	challengeInput = regexp.MustCompile(`<input type="hidden" name="challenge" value="([^"]+)">`)
	qrImage        = regexp.MustCompile(`<img class="qr" src="([^"]+)"`)
	secretText     = regexp.MustCompile(`<code class="secret" id="totp-secret">([^<]+)</code>`)
	recoveryItem   = regexp.MustCompile(`<li><code>([^<]+)</code></li>`)
)

// sameOrigin are the headers of a post from the gate's own page, with the
// session cookie of tok when set.
func sameOrigin(tok string) map[string]string {
	h := map[string]string{"Origin": "https://auth.example.com", "Sec-Fetch-Site": "same-origin"}
	if tok != "" {
		h["Cookie"] = "authgate_session=" + tok
	}
	return h
}

// checkCSP asserts the pages' policy: nothing by default, and the data:
// images the set-up page draws its QR code with.
func checkCSP(tb testing.TB, w *httptest.ResponseRecorder) {
	tb.Helper()
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "img-src 'self' data:") || !strings.Contains(csp, "default-src 'none'") {
		tb.Fatalf("Content-Security-Policy %q", csp)
	}
}

// sessionCookie is the value of the session cookie w sets, or "".
func sessionCookie(w *httptest.ResponseRecorder) string {
	for _, ck := range w.Result().Cookies() {
		if ck.Name == "authgate_session" {
			return ck.Value
		}
	}
	return ""
}

// passwordStep posts alice's right password on the sign-in form and
// returns the challenge of the code step it answers.
func (f *totpFixture) passwordStep(tb testing.TB, rd string) string {
	tb.Helper()
	w := f.do("POST", "/login", formCT, url.Values{"username": {"alice"}, "password": {alicePW}, "rd": {rd}}.Encode(), sameOrigin(""))
	body := w.Body.String()
	m := challengeInput.FindStringSubmatch(body)
	if w.Code != http.StatusOK || m == nil || !strings.Contains(body, `name="totp"`) {
		tb.Fatalf("password step: %d %s", w.Code, body)
	}
	if strings.Contains(body, alicePW) || sessionCookie(w) != "" || w.Header().Get("Cache-Control") != "no-store" {
		tb.Fatalf("code step echoes the password, sets a cookie or may be stored: %s", body)
	}
	if !strings.Contains(body, `name="recovery_code"`) || !strings.Contains(body, `value="`+rd+`"`) {
		tb.Fatalf("code step lacks the recovery-code form or rd: %s", body)
	}
	checkCSP(tb, w)
	return m[1]
}

// TestTOTPLoginForm: on the sign-in page, the right password of a user
// with TOTP on answers a code step carrying a sealed challenge (never the
// password); the challenge and a code (or recovery code) then sign in,
// once; a wrong code shows the code step again; a forged, used or
// cross-site post does not sign in.
func TestTOTPLoginForm(t *testing.T) {
	f := newTOTPFixture(t, nil)
	_, secret, rec := f.enable(t, "alice", alicePW)
	const rd = "https://app.example.com/reports"
	totp := func(tb testing.TB) string { return f.nextCode(tb, secret) }
	cases := []struct {
		name     string
		field    string // "totp" or "recovery_code"
		value    func(tb testing.TB) string
		forge    bool // the challenge altered
		hdr      map[string]string
		want     int
		codeStep bool // the same code step again
		pageHas  string
	}{
		{"code", "totp", totp, false, sameOrigin(""), 303, false, ""},
		{"recovery code", "recovery_code", func(testing.TB) string { return rec[0] }, false, sameOrigin(""), 303, false, ""},
		{"used recovery code", "recovery_code", func(testing.TB) string { return rec[0] }, false, sameOrigin(""), 401, true, "invalid second factor"},
		{"wrong code", "totp", func(tb testing.TB) string { return f.wrongCode(tb, secret) }, false, sameOrigin(""), 401, true, "invalid second factor"},
		{"no code", "totp", func(testing.TB) string { return "" }, false, sameOrigin(""), 401, true, "invalid second factor"},
		{"forged challenge", "totp", totp, true, sameOrigin(""), 401, false, "the sign-in has expired"},
		{"another site", "totp", totp, false, map[string]string{"Origin": "https://evil.example"}, 403, false, "another site"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := f.passwordStep(t, rd)
			form := url.Values{"challenge": {ch}, "rd": {rd}, tc.field: {tc.value(t)}}
			if tc.forge {
				form.Set("challenge", ch+"x")
			}
			w := f.do("POST", "/login", formCT, form.Encode(), tc.hdr)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, tc.want, w.Body)
			}
			if tc.want == http.StatusSeeOther {
				tok := sessionCookie(w)
				if w.Header().Get("Location") != rd || tok == "" {
					t.Fatalf("Location %q, cookie %q", w.Header().Get("Location"), tok)
				}
				if amr := f.amr(t, tok); !slices.Equal(amr, []string{"pwd", "otp"}) {
					t.Fatalf("amr %v", amr)
				}
				return
			}
			body := w.Body.String()
			if sessionCookie(w) != "" || !strings.Contains(body, tc.pageHas) {
				t.Fatalf("refused step set a cookie or lacks %q: %s", tc.pageHas, body)
			}
			m := challengeInput.FindStringSubmatch(body)
			// The code step again, on a fresh challenge: each is used once.
			if tc.codeStep && (m == nil || m[1] == ch || !strings.Contains(body, `name="totp"`)) {
				t.Fatalf("not the code step again on a fresh challenge: %s", body)
			}
			if !tc.codeStep && m != nil {
				t.Fatalf("a refused challenge is offered again: %s", body)
			}
		})
	}
	t.Run("wrong code, then the right one on the fresh challenge", func(t *testing.T) {
		ch := f.passwordStep(t, rd)
		w := f.do("POST", "/login", formCT, url.Values{"challenge": {ch}, "totp": {f.wrongCode(t, secret)}}.Encode(), sameOrigin(""))
		m := challengeInput.FindStringSubmatch(w.Body.String())
		if m == nil {
			t.Fatalf("no fresh challenge after a wrong code: %s", w.Body)
		}
		// The spent one no longer works, and spends no recovery code.
		w = f.do("POST", "/login", formCT, url.Values{"challenge": {ch}, "recovery_code": {rec[1]}}.Encode(), sameOrigin(""))
		if w.Code != 401 || !strings.Contains(w.Body.String(), "the sign-in has expired") {
			t.Fatalf("a spent challenge: %d %s", w.Code, w.Body)
		}
		w = f.do("POST", "/login", formCT, url.Values{"challenge": {m[1]}, "recovery_code": {rec[1]}}.Encode(), sameOrigin(""))
		if w.Code != http.StatusSeeOther || sessionCookie(w) == "" {
			t.Fatalf("the recovery code on the fresh challenge: %d %s", w.Code, w.Body)
		}
	})
	t.Run("a used challenge", func(t *testing.T) {
		ch := f.passwordStep(t, rd)
		if w := f.do("POST", "/login", formCT, url.Values{"challenge": {ch}, "totp": {f.nextCode(t, secret)}}.Encode(), sameOrigin("")); w.Code != 303 {
			t.Fatalf("first use: %d %s", w.Code, w.Body)
		}
		w := f.do("POST", "/login", formCT, url.Values{"challenge": {ch}, "totp": {f.nextCode(t, secret)}}.Encode(), sameOrigin(""))
		body := w.Body.String()
		if w.Code != 401 || sessionCookie(w) != "" || !strings.Contains(body, "the sign-in has expired") ||
			challengeInput.MatchString(body) || !strings.Contains(body, `name="password"`) {
			t.Fatalf("second use: %d %s", w.Code, body)
		}
	})
}

// TestTOTPLoginFormChallengeExpires: the code step waits ChallengeTTL,
// then sends the user back to the password step with an error.
func TestTOTPLoginFormChallengeExpires(t *testing.T) {
	f := newTOTPFixture(t, nil)
	_, secret, _ := f.enable(t, "alice", alicePW)
	cases := []struct {
		name  string
		after time.Duration
		want  int
	}{
		{"just in time", accounts.ChallengeTTL - 2*time.Second, http.StatusSeeOther},
		{"expired", accounts.ChallengeTTL + time.Second, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := f.passwordStep(t, "")
			f.clock.Advance(tc.after)
			w := f.do("POST", "/login", formCT, url.Values{"challenge": {ch}, "totp": {f.code(t, secret)}}.Encode(), sameOrigin(""))
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, tc.want, w.Body)
			}
			if tc.want == http.StatusSeeOther {
				return
			}
			body := w.Body.String()
			if sessionCookie(w) != "" || !strings.Contains(body, "the sign-in has expired; enter your password again") ||
				challengeInput.MatchString(body) || !strings.Contains(body, `name="password"`) {
				t.Fatalf("expired challenge: not the password step with an error: %s", body)
			}
		})
	}
}

// TestTOTPSetupForm: the signed-in page's forms set TOTP up (a QR code as
// a data: image, and the secret as text), turn it on (the recovery codes,
// and a session that counts the code) and off; a cross-site form sets
// nothing up.
func TestTOTPSetupForm(t *testing.T) {
	f := newTOTPFixture(t, nil)
	f.register(t, "alice", alicePW)
	tok := f.login(t, "alice", alicePW)
	sid, _ := f.tokens.SessionOf(tok)
	pending := func() string { s, _, _ := f.svc.PendingTOTP(context.Background(), "alice", sid); return s }
	setup := url.Values{"password": {alicePW}}.Encode()

	w := f.do("POST", "/totp/setup", formCT, setup, map[string]string{"Cookie": "authgate_session=" + tok, "Origin": "https://evil.example"})
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "another site") || strings.Contains(w.Body.String(), "data:image") || pending() != "" {
		t.Fatalf("cross-site set-up form: %d, pending %v; %s", w.Code, pending() != "", w.Body)
	}
	w = f.do("POST", "/totp/setup", formCT, url.Values{"password": {"wrong password!"}}.Encode(), sameOrigin(tok))
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "Invalid password.") || pending() != "" {
		t.Fatalf("wrong password: %d %s", w.Code, w.Body)
	}

	w = f.do("POST", "/totp/setup", formCT, setup, sameOrigin(tok))
	body := w.Body.String()
	if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" || strings.Contains(body, alicePW) {
		t.Fatalf("set-up page: %d %s", w.Code, body)
	}
	checkCSP(t, w)
	secret := pending()
	qr, text := qrImage.FindStringSubmatch(body), secretText.FindStringSubmatch(body)
	if qr == nil || !strings.HasPrefix(qr[1], "data:image/png;base64,") || text == nil || strings.ReplaceAll(text[1], " ", "") != secret {
		t.Fatalf("set-up page lacks the QR image or the secret %q: %s", secret, body)
	}
	// The attribute is HTML-escaped (+ as &#43;): read it as a browser does.
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(html.UnescapeString(qr[1]), "data:image/png;base64,"))
	if err != nil {
		t.Fatalf("QR data: %v", err)
	}
	if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
		t.Fatalf("QR is not a PNG: %v", err)
	}

	w = f.do("POST", "/totp/confirm", formCT, url.Values{"code": {f.wrongCode(t, secret)}}.Encode(), sameOrigin(tok))
	if m := secretText.FindStringSubmatch(w.Body.String()); w.Code != http.StatusBadRequest || m == nil || strings.ReplaceAll(m[1], " ", "") != secret ||
		!strings.Contains(w.Body.String(), "Invalid code.") || pending() != secret {
		t.Fatalf("wrong first code: %d %s", w.Code, w.Body)
	}

	w = f.do("POST", "/totp/confirm", formCT, url.Values{"code": {f.code(t, secret)}}.Encode(), sameOrigin(tok))
	body = w.Body.String()
	codes := recoveryItem.FindAllStringSubmatch(body, -1)
	if w.Code != http.StatusOK || !strings.Contains(body, "Save these recovery codes now") || len(codes) != 10 {
		t.Fatalf("codes page: %d %s", w.Code, body)
	}
	checkCSP(t, w)
	newTok := sessionCookie(w)
	if newTok == "" || newTok == tok || !f.live(t, newTok) || f.live(t, tok) {
		t.Fatal("confirmation did not replace the session")
	}
	if amr := f.amr(t, newTok); !slices.Equal(amr, []string{"pwd", "otp"}) {
		t.Fatalf("amr after confirmation %v", amr)
	}
	if w := f.post("/login", obj("username", "alice", "password", alicePW, "recovery_code", codes[9][1]), ""); w.Code != 200 {
		t.Fatalf("a code of the page does not sign in: %d %s", w.Code, w.Body)
	}
	w = f.do("GET", "/", "", "", map[string]string{"Cookie": "authgate_session=" + newTok})
	if body := w.Body.String(); !strings.Contains(body, "Two-factor authentication: on") || !strings.Contains(body, "9 unused recovery codes left") {
		t.Fatalf("signed-in page after confirmation: %s", body)
	}

	w = f.do("POST", "/totp/disable", formCT, url.Values{"password": {alicePW}, "code": {f.nextCode(t, secret)}}.Encode(), sameOrigin(newTok))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" || f.user(t, "alice").TOTPEnabled() {
		t.Fatalf("disable form: %d %q %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	// The page's session, which said "with a code", is replaced by one
	// that says password.
	after := sessionCookie(w)
	if after == "" || f.live(t, newTok) || !f.live(t, after) || !slices.Equal(f.amr(t, after), []string{"pwd"}) {
		t.Fatalf("after disabling: old session live %v, new cookie %q", f.live(t, newTok), after)
	}
}

// TestTOTPHomeShowsAMR: the signed-in page says how its session began
// (the token's amr) and whether TOTP is on.
func TestTOTPHomeShowsAMR(t *testing.T) {
	f := newTOTPFixture(t, nil)
	_, secret, _ := f.enable(t, "alice", alicePW)
	f.register(t, "bob", alicePW)
	cases := []struct {
		name    string
		tok     string
		pageHas []string
	}{
		{"code sign-in", f.signIn(t, secret), []string{`<code class="amr">pwd, otp</code>`, "password and one-time code", "Two-factor authentication: on"}},
		{"password only", f.login(t, "bob", alicePW), []string{`<code class="amr">pwd</code>`, "Two-factor authentication: off", `action="/totp/setup"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do("GET", "/", "", "", map[string]string{"Cookie": "authgate_session=" + tc.tok})
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			checkCSP(t, w)
			for _, s := range tc.pageHas {
				if !strings.Contains(w.Body.String(), s) {
					t.Errorf("page lacks %q", s)
				}
			}
		})
	}
	checkCSP(t, f.do("GET", "/login", "", "", nil))
}

// TestLoginPageMFA: where /verify sends a session without the second
// factor a site requires (/login?mfa=1), the page says why and offers to
// sign in again or set it up; a user without TOTP who signs in there is
// taken to the set-up, not bounced back; a session with a code is shown
// the signed-in page.
func TestLoginPageMFA(t *testing.T) {
	f := newTOTPFixture(t, nil)
	const rd = "https://app.example.com/admin"
	page := "/login?mfa=1&rd=" + url.QueryEscape(rd)
	f.register(t, "bob", alicePW)
	bobTok := f.login(t, "bob", alicePW)

	w := f.do("GET", page, "", "", map[string]string{"Cookie": "authgate_session=" + bobTok})
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, "This site needs two-factor authentication") ||
		!strings.Contains(body, "set it up first") || !strings.Contains(body, `name="password"`) || !strings.Contains(body, `name="mfa" value="1"`) {
		t.Fatalf("mfa=1 for a password session without TOTP: %d\n%s", w.Code, body)
	}

	w = f.do("POST", "/login", formCT, url.Values{"username": {"bob"}, "password": {alicePW}, "rd": {rd}, "mfa": {"1"}}.Encode(), sameOrigin(""))
	loc := w.Header().Get("Location")
	if w.Code != http.StatusSeeOther || !strings.HasSuffix(loc, "/?rd="+url.QueryEscape(rd)+"#two-factor") || sessionCookie(w) == "" {
		t.Fatalf("password sign-in at mfa=1 without TOTP: %d, Location %q", w.Code, loc)
	}
	// Without mfa=1 the same sign-in follows rd.
	w = f.do("POST", "/login", formCT, url.Values{"username": {"bob"}, "password": {alicePW}, "rd": {rd}}.Encode(), sameOrigin(""))
	if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || loc != rd {
		t.Fatalf("password sign-in: %d, Location %q", w.Code, loc)
	}

	_, secret, _ := f.enable(t, "alice", alicePW)
	otpTok := f.signIn(t, secret)
	w = f.do("GET", page, "", "", map[string]string{"Cookie": "authgate_session=" + otpTok})
	if body := w.Body.String(); w.Code != 200 || !strings.Contains(body, "Signed in as") || strings.Contains(body, "This site needs") {
		t.Fatalf("mfa=1 for a session with a code: %d\n%s", w.Code, body)
	}
}
