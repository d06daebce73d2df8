package web

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/mfa"
)

// testClock is the one clock of a TOTP fixture: the Service (codes,
// challenges, lockout), the tokens and the store all read it, so a test
// moves time instead of sleeping.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	totpTitle = "Acme SSO" // the configured title: the issuer in authenticator apps
	alicePW   = "correct horse battery"
)

type totpFixture struct {
	*fixture
	clock *testClock
}

// newTOTPFixture is newFixture with second factors on, as cmd/authgate
// wires them (a Sealer, the title as issuer, the /totp routes), and one
// controllable clock shared by the Service, the tokens and the store.
func newTOTPFixture(tb testing.TB, mod func(*accounts.Config, *Config)) *totpFixture {
	tb.Helper()
	clock := &testClock{t: time.Now().Truncate(mfa.Period).Add(5 * time.Second)}
	f := newFixtureAt(tb, clock.Now, func(a *accounts.Config, w *Config) {
		a.TOTPIssuer, w.Title = totpTitle, totpTitle
		if mod != nil {
			mod(a, w)
		}
	})
	return &totpFixture{fixture: f, clock: clock}
}

// obj is a JSON object of string fields: obj("a", "1", "b", "2").
func obj(kv ...string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func bearer(tok string) map[string]string {
	if tok == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + tok}
}

// post sends a JSON body, with tok as bearer token when set.
func (f *totpFixture) post(path, body, tok string) *httptest.ResponseRecorder {
	return f.do("POST", path, "application/json", body, bearer(tok))
}

// code is what an authenticator app shows for secret now.
func (f *totpFixture) code(tb testing.TB, secret string) string {
	tb.Helper()
	c, err := mfa.Code(secret, f.clock.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// nextCode moves to the next time step and returns its code: every code
// is accepted once, so each sign-in takes a step of its own.
func (f *totpFixture) nextCode(tb testing.TB, secret string) string {
	tb.Helper()
	f.clock.Advance(mfa.Period)
	return f.code(tb, secret)
}

// wrongCode is six digits that match none of the steps accepted now.
func (f *totpFixture) wrongCode(tb testing.TB, secret string) string {
	tb.Helper()
	var valid []string
	for d := -mfa.Skew; d <= mfa.Skew; d++ {
		c, err := mfa.Code(secret, f.clock.Now().Add(time.Duration(d)*mfa.Period))
		if err != nil {
			tb.Fatal(err)
		}
		valid = append(valid, c)
	}
	for n := 0; ; n++ {
		if c := strconv.Itoa(100000 + n); !slices.Contains(valid, c) {
			return c
		}
	}
}

// setup starts a set-up for the session of tok and returns the secret.
func (f *totpFixture) setup(tb testing.TB, tok, pw string) (secret, keyURL string) {
	tb.Helper()
	w := f.post("/totp/setup", obj("password", pw), tok)
	var resp map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &resp); w.Code != http.StatusOK || err != nil {
		tb.Fatalf("setup: %d %s", w.Code, w.Body)
	}
	return resp["secret"], resp["otpauth_url"]
}

// enable registers user, signs in, and turns TOTP on; it returns the
// session's token, the secret and the recovery codes. The clock is then
// one step past the confirming code.
func (f *totpFixture) enable(tb testing.TB, user, pw string) (tok, secret string, recovery []string) {
	tb.Helper()
	f.register(tb, user, pw)
	tok = f.login(tb, user, pw)
	secret, _ = f.setup(tb, tok, pw)
	w := f.post("/totp/confirm", obj("code", f.code(tb, secret)), tok)
	var resp map[string][]string
	if err := json.Unmarshal(w.Body.Bytes(), &resp); w.Code != http.StatusOK || err != nil {
		tb.Fatalf("confirm: %d %s", w.Code, w.Body)
	}
	f.clock.Advance(mfa.Period)
	return tok, secret, resp["recovery_codes"]
}

// amr is the amr of a token the fixture issued.
func (f *totpFixture) amr(tb testing.TB, tok string) []string {
	tb.Helper()
	c, err := f.tokens.Parse(tok)
	if err != nil {
		tb.Fatalf("token: %v", err)
	}
	return c.AMR
}

// user is the stored account.
func (f *totpFixture) user(tb testing.TB, name string) accounts.User {
	tb.Helper()
	u, err := f.store.User(context.Background(), name)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

var recoveryFormat = regexp.MustCompile(`^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$`)

// TestTOTPEndpointsNeedSignedInCaller: the three /totp endpoints act only
// for a live session, a cookie only from our own origin (CSRF), and read
// only JSON or a form.
func TestTOTPEndpointsNeedSignedInCaller(t *testing.T) {
	f := newTOTPFixture(t, nil)
	f.register(t, "alice", alicePW)
	tok := f.login(t, "alice", alicePW)
	ended := f.login(t, "alice", alicePW)
	if w := f.do("POST", "/logout", "", "", bearer(ended)); w.Code != http.StatusNoContent {
		t.Fatalf("logout: %d", w.Code)
	}
	cases := []struct {
		name     string
		ctype    string
		hdr      map[string]string
		want     int
		errorHas string
	}{
		{"no credentials", "application/json", nil, 401, "sign in first"},
		{"ended session", "application/json", bearer(ended), 401, "sign in first"},
		{"cookie from another site", "application/json", map[string]string{"Cookie": "authgate_session=" + tok, "Origin": "https://evil.example"}, 403, "another site"},
		{"text/plain", "text/plain", bearer(tok), 415, "application/json"},
	}
	for _, path := range []string{"/totp/setup", "/totp/confirm", "/totp/disable"} {
		for _, tc := range cases {
			t.Run(strings.TrimPrefix(path, "/")+" "+tc.name, func(t *testing.T) {
				w := f.do("POST", path, tc.ctype, obj("password", alicePW, "code", "123456"), tc.hdr)
				if w.Code != tc.want || !strings.Contains(errorOf(t, w), tc.errorHas) {
					t.Fatalf("status %d body %s; want %d mentioning %q", w.Code, w.Body, tc.want, tc.errorHas)
				}
			})
		}
	}
	if u := f.user(t, "alice"); u.TOTP.Pending != "" || u.TOTPEnabled() {
		t.Fatalf("a refused request changed the account: %+v", u.TOTP)
	}
}

// TestTOTPSetup: the right password of a signed-in user (bearer or
// cookie) draws a pending secret named by the title; nothing is active
// until confirmed; a second set-up replaces the first; a wrong password is
// 401; with TOTP on, 409.
func TestTOTPSetup(t *testing.T) {
	f := newTOTPFixture(t, nil)
	f.register(t, "alice", alicePW)
	tok := f.login(t, "alice", alicePW)

	if w := f.post("/totp/setup", obj("password", "wrong password!"), tok); w.Code != 401 || errorOf(t, w) != "invalid password" {
		t.Fatalf("wrong password: %d %s", w.Code, w.Body)
	}
	if f.user(t, "alice").TOTP.Pending != "" {
		t.Fatal("a wrong password started a set-up")
	}

	w := f.post("/totp/setup", obj("password", alicePW), tok)
	if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("setup: %d Cache-Control %q %s", w.Code, w.Header().Get("Cache-Control"), w.Body)
	}
	var first map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &first); err != nil {
		t.Fatal(err)
	}
	if raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(first["secret"]); err != nil || len(raw) != 20 {
		t.Fatalf("secret %q is not 160 bits of base32: %v", first["secret"], err)
	}
	u, err := url.Parse(first["otpauth_url"])
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/"+totpTitle+":alice" ||
		u.Query().Get("secret") != first["secret"] || u.Query().Get("issuer") != totpTitle {
		t.Fatalf("otpauth_url %q: %+v %v", first["otpauth_url"], u, err)
	}
	// Nothing is active yet: the password alone still signs in.
	if st := f.user(t, "alice").TOTP; st.Pending == "" || st.Secret != "" {
		t.Fatalf("after set-up: %+v", st)
	}
	if amr := f.amr(t, f.login(t, "alice", alicePW)); !slices.Equal(amr, []string{"pwd"}) {
		t.Fatalf("amr before confirmation %v", amr)
	}

	// A second set-up, by cookie this time, replaces the pending secret.
	w = f.do("POST", "/totp/setup", "application/json", obj("password", alicePW), map[string]string{"Cookie": "authgate_session=" + tok})
	var second map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &second); w.Code != 200 || err != nil || second["secret"] == first["secret"] {
		t.Fatalf("second setup: %d %s", w.Code, w.Body)
	}
	for f.code(t, first["secret"]) == f.code(t, second["secret"]) {
		f.clock.Advance(mfa.Period) // the two secrets' codes coincide now
	}
	if w := f.post("/totp/confirm", obj("code", f.code(t, first["secret"])), tok); w.Code != http.StatusBadRequest {
		t.Fatalf("confirm with the replaced secret: %d %s", w.Code, w.Body)
	}
	if w := f.post("/totp/confirm", obj("code", f.code(t, second["secret"])), tok); w.Code != http.StatusOK {
		t.Fatalf("confirm with the new secret: %d %s", w.Code, w.Body)
	}

	w = f.post("/totp/setup", obj("password", alicePW), tok)
	if w.Code != http.StatusConflict || errorOf(t, w) != "two-factor authentication is already enabled" {
		t.Fatalf("setup with TOTP on: %d %s", w.Code, w.Body)
	}
}

// TestTOTPConfirm: a wrong first code is 400 and leaves the set-up
// pending; the right one turns TOTP on and answers ten recovery codes,
// stored only as hashes; the confirming code does not also sign in.
func TestTOTPConfirm(t *testing.T) {
	f := newTOTPFixture(t, nil)
	f.register(t, "alice", alicePW)
	tok := f.login(t, "alice", alicePW)
	if w := f.post("/totp/confirm", obj("code", "123456"), tok); w.Code != http.StatusConflict {
		t.Fatalf("confirm without set-up: %d %s", w.Code, w.Body)
	}
	secret, _ := f.setup(t, tok, alicePW)
	for _, bad := range []string{obj("code", f.wrongCode(t, secret)), obj("code", "12345"), `{"code":123456}`} {
		if w := f.post("/totp/confirm", bad, tok); w.Code != http.StatusBadRequest {
			t.Fatalf("confirm %s: %d %s", bad, w.Code, w.Body)
		}
	}
	if st := f.user(t, "alice").TOTP; st.Pending == "" || st.Secret != "" {
		t.Fatalf("after wrong codes: %+v", st)
	}

	code := f.code(t, secret)
	w := f.post("/totp/confirm", obj("code", code), tok)
	var resp map[string][]string
	if err := json.Unmarshal(w.Body.Bytes(), &resp); w.Code != 200 || err != nil || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("confirm: %d %s", w.Code, w.Body)
	}
	codes := resp["recovery_codes"]
	if len(codes) != 10 || len(slices.Compact(slices.Sorted(slices.Values(codes)))) != 10 {
		t.Fatalf("recovery codes %v", codes)
	}
	st := f.user(t, "alice").TOTP
	if st.Secret == "" || st.Pending != "" || len(st.Recovery) != 10 {
		t.Fatalf("after confirmation: %+v", st)
	}
	for _, c := range codes {
		if !recoveryFormat.MatchString(c) || slices.Contains(st.Recovery, c) || strings.Contains(st.Secret, secret) {
			t.Fatalf("code %q malformed or stored in the clear", c)
		}
	}
	if w := f.post("/totp/confirm", obj("code", code), tok); w.Code != http.StatusConflict {
		t.Fatalf("confirm again: %d %s", w.Code, w.Body)
	}
	w = f.post("/login", obj("username", "alice", "password", alicePW, "totp", code), "")
	if w.Code != 401 || errorOf(t, w) != "invalid second factor" {
		t.Fatalf("sign-in with the confirming code: %d %s", w.Code, w.Body)
	}
}

// TestTOTPLogin: with TOTP on, /login takes the password and a code (each
// accepted once) or a recovery code (each once); the answers tell a
// missing code from a wrong password and a wrong code; the token's amr
// says how the session began; Basic credentials cannot carry a code.
func TestTOTPLogin(t *testing.T) {
	f := newTOTPFixture(t, nil)
	_, secret, rec := f.enable(t, "alice", alicePW)
	f.register(t, "bob", alicePW)
	var last string // the code of the latest step that used one
	fresh := func(tb testing.TB) string { last = f.nextCode(tb, secret); return last }
	login := func(pw string, kv ...string) string {
		return obj(append([]string{"username", "alice", "password", pw}, kv...)...)
	}
	fixed := func(body string) func(testing.TB) string { return func(testing.TB) string { return body } }
	steps := []struct {
		name    string
		body    func(tb testing.TB) string
		hdr     map[string]string
		want    int
		wantErr string
		amr     []string
	}{
		{"password alone", fixed(login(alicePW)), nil, 401, "second factor required", nil},
		{"wrong password alone", fixed(login("wrong password!")), nil, 401, "invalid username or password", nil},
		{"wrong password, right code", func(tb testing.TB) string { return login("wrong password!", "totp", fresh(tb)) }, nil, 401, "invalid username or password", nil},
		{"code", func(tb testing.TB) string { return login(alicePW, "totp", fresh(tb)) }, nil, 200, "", []string{"pwd", "otp"}},
		{"same code again", func(testing.TB) string { return login(alicePW, "totp", last) }, nil, 401, "invalid second factor", nil},
		{"wrong code", func(tb testing.TB) string { return login(alicePW, "totp", f.wrongCode(tb, secret)) }, nil, 401, "invalid second factor", nil},
		{"malformed code", fixed(login(alicePW, "totp", "12345a")), nil, 401, "invalid second factor", nil},
		{"recovery code", fixed(login(alicePW, "recovery_code", rec[0])), nil, 200, "", []string{"pwd", "otp"}},
		{"recovery code again", fixed(login(alicePW, "recovery_code", rec[0])), nil, 401, "invalid second factor", nil},
		{"recovery code, other case and spacing", fixed(login(alicePW, "recovery_code", strings.ToUpper(strings.ReplaceAll(rec[1], "-", " ")))), nil, 200, "", []string{"pwd", "otp"}},
		{"unknown recovery code", fixed(login(alicePW, "recovery_code", "0000-0000-0000-0000")), nil, 401, "invalid second factor", nil},
		{"basic credentials", fixed(""), map[string]string{"Authorization": basic("alice", alicePW)}, 401, "", nil},
		{"password-only user", fixed(obj("username", "bob", "password", alicePW)), nil, 200, "", []string{"pwd"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			body, ctype := st.body(t), "application/json"
			if body == "" {
				ctype = ""
			}
			w := f.do("POST", "/login", ctype, body, st.hdr)
			if w.Code != st.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, st.want, w.Body)
			}
			if st.want != 200 {
				if st.wantErr != "" && errorOf(t, w) != st.wantErr {
					t.Fatalf("error %q, want %q", errorOf(t, w), st.wantErr)
				}
				if len(w.Result().Cookies()) != 0 {
					t.Fatal("refused sign-in set a cookie")
				}
				return
			}
			var resp tokenResponse
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.AccessToken == "" {
				t.Fatalf("body %s", w.Body)
			}
			if amr := f.amr(t, resp.AccessToken); !slices.Equal(amr, st.amr) {
				t.Fatalf("amr %v, want %v", amr, st.amr)
			}
		})
	}
	if left := len(f.user(t, "alice").TOTP.Recovery); left != 8 {
		t.Fatalf("%d recovery codes left, want 8", left)
	}
}

// lockedOut asserts a 429 with a Retry-After within the ban and no cookie.
func lockedOut(tb testing.TB, w *httptest.ResponseRecorder) {
	tb.Helper()
	ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if w.Code != http.StatusTooManyRequests || err != nil || ra < 1 || ra > 900 {
		tb.Fatalf("status %d Retry-After %q, want 429 within 900 s; body %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if len(w.Result().Cookies()) != 0 {
		tb.Fatal("locked answer set a cookie")
	}
}

// TestTOTPLockout: wrong codes at sign-in and wrong passwords at set-up
// count toward the lockout of the name, with the sign-in limits, so the
// second factor cannot be guessed (nor the password through /totp/setup)
// without limit.
func TestTOTPLockout(t *testing.T) {
	t.Run("wrong codes at sign-in", func(t *testing.T) {
		f := newTOTPFixture(t, regulated)
		_, secret, _ := f.enable(t, "alice", alicePW)
		for _, kv := range [][]string{{"totp", f.wrongCode(t, secret)}, {"recovery_code", "0000-0000-0000-0000"}, {"totp", "000000x"}} {
			w := f.post("/login", obj("username", "alice", "password", alicePW, kv[0], kv[1]), "")
			if w.Code != 401 || errorOf(t, w) != "invalid second factor" {
				t.Fatalf("%v: %d %s", kv, w.Code, w.Body)
			}
		}
		lockedOut(t, f.post("/login", obj("username", "alice", "password", alicePW, "totp", f.nextCode(t, secret)), ""))
	})
	t.Run("wrong passwords at set-up", func(t *testing.T) {
		f := newTOTPFixture(t, regulated)
		f.register(t, "alice", alicePW)
		tok := f.login(t, "alice", alicePW)
		for i := 0; i < 3; i++ {
			if w := f.post("/totp/setup", obj("password", "guess "+strconv.Itoa(i)), tok); w.Code != 401 {
				t.Fatalf("guess %d: %d %s", i, w.Code, w.Body)
			}
		}
		lockedOut(t, f.post("/totp/setup", obj("password", alicePW), tok))
		lockedOut(t, f.post("/login", obj("username", "alice", "password", alicePW), ""))
		if f.user(t, "alice").TOTP.Pending != "" {
			t.Fatal("a locked set-up started")
		}
	})
}

// signIn signs alice in over JSON with the next code and returns the token.
func (f *totpFixture) signIn(tb testing.TB, secret string) string {
	tb.Helper()
	w := f.post("/login", obj("username", "alice", "password", alicePW, "totp", f.nextCode(tb, secret)), "")
	var resp tokenResponse
	if err := json.Unmarshal(w.Body.Bytes(), &resp); w.Code != 200 || err != nil {
		tb.Fatalf("sign-in with a code: %d %s", w.Code, w.Body)
	}
	return resp.AccessToken
}

// TestTOTPDisable: the password and a code (TOTP or recovery) turn TOTP
// off, drop the recovery codes, and end every other session of the user;
// the session asking stays.
func TestTOTPDisable(t *testing.T) {
	cases := []struct {
		name string
		code func(tb testing.TB, f *totpFixture, secret string, rec []string) string
	}{
		{"totp code", func(tb testing.TB, f *totpFixture, secret string, _ []string) string { return f.nextCode(tb, secret) }},
		{"recovery code", func(_ testing.TB, _ *totpFixture, _ string, rec []string) string { return rec[3] }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newTOTPFixture(t, nil)
			a, secret, rec := f.enable(t, "alice", alicePW)
			b, c := f.signIn(t, secret), f.signIn(t, secret)
			w := f.post("/totp/disable", obj("password", alicePW, "code", tc.code(t, f, secret, rec)), c)
			if w.Code != http.StatusNoContent {
				t.Fatalf("disable: %d %s", w.Code, w.Body)
			}
			if st := f.user(t, "alice").TOTP; st.Secret != "" || st.Pending != "" || len(st.Recovery) != 0 {
				t.Fatalf("after disable: %+v", st)
			}
			if !f.live(t, c) || f.live(t, a) || f.live(t, b) {
				t.Fatalf("sessions live: caller %v, others %v %v; want only the caller", f.live(t, c), f.live(t, a), f.live(t, b))
			}
			if amr := f.amr(t, f.login(t, "alice", alicePW)); !slices.Equal(amr, []string{"pwd"}) {
				t.Fatalf("password sign-in after disable: amr %v", amr)
			}
		})
	}
}

// TestTOTPDisableRefused: a wrong password or code changes nothing and
// ends no session; with TOTP off, 409.
func TestTOTPDisableRefused(t *testing.T) {
	f := newTOTPFixture(t, nil)
	a, secret, _ := f.enable(t, "alice", alicePW)
	b := f.signIn(t, secret)
	cases := []struct {
		name, body string
		want       int
		wantErr    string
	}{
		{"wrong password", obj("password", "wrong password!", "code", f.nextCode(t, secret)), 401, "invalid password"},
		{"wrong code", obj("password", alicePW, "code", f.wrongCode(t, secret)), 401, "invalid second factor"},
		{"unknown recovery code", obj("password", alicePW, "code", "0000-0000-0000-0000"), 401, "invalid second factor"},
		{"no code", obj("password", alicePW), 401, "invalid second factor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := f.post("/totp/disable", tc.body, b)
			if w.Code != tc.want || errorOf(t, w) != tc.wantErr {
				t.Fatalf("%d %s, want %d %q", w.Code, w.Body, tc.want, tc.wantErr)
			}
			if !f.user(t, "alice").TOTPEnabled() || !f.live(t, a) || !f.live(t, b) {
				t.Fatal("a refused disable changed something")
			}
		})
	}
	f.register(t, "bob", alicePW)
	w := f.post("/totp/disable", obj("password", alicePW, "code", "123456"), f.login(t, "bob", alicePW))
	if w.Code != http.StatusConflict || errorOf(t, w) != "two-factor authentication is not enabled" {
		t.Fatalf("disable with TOTP off: %d %s", w.Code, w.Body)
	}
}
