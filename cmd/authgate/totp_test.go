package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// The second factor end to end, against the binary: what an API client
// and a proxy see.

// totpClient is one user of a running gate, signing in by JSON.
type totpClient struct {
	g          *gate
	name       string
	secret     string
	recoveries []string
}

func (c *totpClient) post(t *testing.T, path, body, token string) (*http.Response, string) {
	t.Helper()
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	return c.g.do(t, "POST", path, "application/json", body, hdr)
}

// signIn posts the JSON login with extra fields, returning the token (or
// "") and the answer.
func (c *totpClient) signIn(t *testing.T, extra string) (string, *http.Response, string) {
	t.Helper()
	resp, body := c.post(t, "/login", `{"username":"`+c.name+`","password":"`+pw+`"`+extra+`}`, "")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal([]byte(body), &tok)
	return tok.AccessToken, resp, body
}

// code is the user's code at now+offset, as an authenticator app shows it.
func (c *totpClient) code(t *testing.T, offset time.Duration) string {
	t.Helper()
	code, err := totp.GenerateCode(c.secret, time.Now().Add(offset))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// enrol registers the user and turns TOTP on with a password-only token.
func enrol(t *testing.T, g *gate, name string) (*totpClient, string) {
	t.Helper()
	if st := g.register(t, name); st != 201 {
		t.Fatalf("register %s: %d", name, st)
	}
	c := &totpClient{g: g, name: name}
	pwdToken, resp, body := c.signIn(t, "")
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	resp, body = c.post(t, "/totp/setup", `{"password":"`+pw+`"}`, pwdToken)
	var setup struct {
		Secret     string `json:"secret"`
		OTPAuthURL string `json:"otpauth_url"`
	}
	if err := json.Unmarshal([]byte(body), &setup); err != nil || resp.StatusCode != 200 || setup.Secret == "" {
		t.Fatalf("setup: %d %s", resp.StatusCode, body)
	}
	if want := "otpauth://totp/Example%20Gate:" + name + "?"; !strings.HasPrefix(setup.OTPAuthURL, want) ||
		!strings.Contains(setup.OTPAuthURL, "secret="+setup.Secret) || !strings.Contains(setup.OTPAuthURL, "issuer=Example%20Gate") {
		t.Fatalf("otpauth_url %q, want %s...secret=...&issuer=Example%%20Gate", setup.OTPAuthURL, want)
	}
	c.secret = setup.Secret
	resp, body = c.post(t, "/totp/confirm", `{"code":"`+c.code(t, 0)+`"}`, pwdToken)
	var confirmed struct {
		Codes []string `json:"recovery_codes"`
	}
	if err := json.Unmarshal([]byte(body), &confirmed); err != nil || resp.StatusCode != 200 || len(confirmed.Codes) != 10 {
		t.Fatalf("confirm: %d %s", resp.StatusCode, body)
	}
	c.recoveries = confirmed.Codes
	return c, pwdToken
}

// amrOf reads the amr claim of a token (already verified by the gate).
func amrOf(t *testing.T, token string) []string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AMR []string `json:"amr"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c.AMR
}

func wantError(t *testing.T, what string, resp *http.Response, body string, status int, msg string) {
	t.Helper()
	if resp.StatusCode != status || strings.TrimSpace(body) != `{"error":"`+msg+`"}` {
		t.Fatalf("%s: %d %s, want %d {\"error\":%q}", what, resp.StatusCode, body, status, msg)
	}
}

func TestTOTPEndToEnd(t *testing.T) {
	// Ten failures per name: this walk makes five on purpose before the
	// lockout's own subtest.
	g := startGate(t, "AUTHGATE_SECRET="+goodSecret, "AUTHGATE_TITLE=Example Gate", "AUTHGATE_MAX_FAILURES=10",
		"AUTHGATE_LOGIN_URL=https://auth.example.com/login", "AUTHGATE_COOKIE_DOMAIN=example.com")
	alice, pwdToken := enrol(t, g, "alice")

	// The code that turned TOTP on is spent; the next step's is not.
	resp, body := alice.post(t, "/totp/setup", `{"password":"`+pw+`"}`, pwdToken)
	wantError(t, "setup while on", resp, body, 409, "two-factor authentication is already enabled")
	_, resp, body = alice.signIn(t, "")
	wantError(t, "password alone", resp, body, 401, "second factor required")
	_, resp, body = alice.signIn(t, `,"totp":"`+alice.code(t, 0)+`"`)
	wantError(t, "the confirming code again", resp, body, 401, "invalid second factor")
	resp, body = g.do(t, "POST", "/login", "application/json", `{"username":"alice","password":"wrong password!","totp":"123456"}`, nil)
	wantError(t, "wrong password", resp, body, 401, "invalid username or password")

	next := alice.code(t, 30*time.Second)
	otpToken, resp, body := alice.signIn(t, `,"totp":"`+next+`"`)
	if resp.StatusCode != 200 || otpToken == "" {
		t.Fatalf("password and code: %d %s", resp.StatusCode, body)
	}
	_, resp, body = alice.signIn(t, `,"totp":"`+next+`"`)
	wantError(t, "a replayed code", resp, body, 401, "invalid second factor")

	recToken, resp, body := alice.signIn(t, `,"recovery_code":"`+alice.recoveries[0]+`"`)
	if resp.StatusCode != 200 || recToken == "" {
		t.Fatalf("recovery code: %d %s", resp.StatusCode, body)
	}
	_, resp, body = alice.signIn(t, `,"recovery_code":"`+alice.recoveries[0]+`"`)
	wantError(t, "a used recovery code", resp, body, 401, "invalid second factor")

	if got := amrOf(t, pwdToken); !slices.Equal(got, []string{"pwd"}) {
		t.Errorf("password token amr %v", got)
	}
	for _, tok := range []string{otpToken, recToken} {
		if got := amrOf(t, tok); !slices.Equal(got, []string{"pwd", "otp"}) {
			t.Errorf("second-factor token amr %v", got)
		}
	}
	resp, body = g.do(t, "GET", "/", "", "", map[string]string{"Authorization": "Bearer " + otpToken})
	if resp.StatusCode != 200 || !strings.Contains(body, "pwd, otp") {
		t.Fatalf("signed-in page: %d, amr not shown", resp.StatusCode)
	}

	t.Run("basic credentials refused", func(t *testing.T) {
		basic := map[string]string{"Authorization": "Basic " + basicAuth("alice", pw)}
		if resp, _ := g.do(t, "GET", "/verify", "", "", basic); resp.StatusCode != 401 || resp.Header.Get("Remote-User") != "" {
			t.Fatalf("/verify with Basic: %d", resp.StatusCode)
		}
		if resp, _ := g.do(t, "POST", "/login", "", "", basic); resp.StatusCode != 401 {
			t.Fatalf("/login with Basic: %d", resp.StatusCode)
		}
	})

	t.Run("mfa=1", func(t *testing.T) {
		api := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
		if resp, _ := g.do(t, "GET", "/verify", "", "", api(pwdToken)); resp.StatusCode != 200 {
			t.Fatalf("a password session where no second factor is asked: %d", resp.StatusCode)
		}
		resp, body := g.do(t, "GET", "/verify?mfa=1", "", "", api(pwdToken))
		wantError(t, "a password session at ?mfa=1", resp, body, 403, "second factor required")
		if resp, _ := g.do(t, "GET", "/verify?mfa=1", "", "", api(otpToken)); resp.StatusCode != 200 || resp.Header.Get("Remote-User") != "alice" {
			t.Fatalf("a pwd,otp session at ?mfa=1: %d", resp.StatusCode)
		}
		// A browser: to the login page, as for a missing session, with mfa=1.
		nav := map[string]string{
			"Cookie":            "authgate_session=" + pwdToken,
			"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/admin",
			"Accept": "text/html",
		}
		resp, _ = g.do(t, "GET", "/verify?mfa=1", "", "", nav)
		if want := "https://auth.example.com/login?rd=https%3A%2F%2Fapp.example.com%2Fadmin&mfa=1"; resp.StatusCode != 302 || resp.Header.Get("Location") != want {
			t.Fatalf("navigation: %d %q, want 302 %s", resp.StatusCode, resp.Header.Get("Location"), want)
		}
		// The page it lands on explains, and offers the sign-in again.
		resp, body = g.do(t, "GET", "/login?mfa=1&rd=https%3A%2F%2Fapp.example.com%2Fadmin", "", "", map[string]string{"Cookie": "authgate_session=" + pwdToken})
		if resp.StatusCode != 200 || !strings.Contains(body, "This site needs two-factor authentication") || !strings.Contains(body, `name="password"`) {
			t.Fatalf("login page with mfa=1: %d\n%s", resp.StatusCode, body)
		}
	})

	t.Run("disable", func(t *testing.T) {
		resp, body := alice.post(t, "/totp/disable", `{"password":"`+pw+`","code":"000000"}`, recToken)
		wantError(t, "disable with a wrong code", resp, body, 401, "invalid second factor")
		resp, _ = alice.post(t, "/totp/disable", `{"password":"`+pw+`","code":"`+alice.recoveries[1]+`"}`, recToken)
		if resp.StatusCode != 204 {
			t.Fatalf("disable: %d", resp.StatusCode)
		}
		if resp := g.verify(t, recToken); resp.StatusCode != 200 {
			t.Fatalf("the session that turned it off: %d, want it kept", resp.StatusCode)
		}
		for _, tok := range []string{otpToken, pwdToken} {
			if resp := g.verify(t, tok); resp.StatusCode != 401 {
				t.Fatalf("another session after disable: %d, want ended", resp.StatusCode)
			}
		}
		if _, resp, body := alice.signIn(t, ""); resp.StatusCode != 200 {
			t.Fatalf("password alone after disable: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("wrong codes lock out", func(t *testing.T) {
		bob, _ := enrol(t, g, "bob")
		for i := 0; i < 10; i++ { // the limit set above

			_, resp, body := bob.signIn(t, `,"totp":"000000"`)
			wantError(t, "a wrong code", resp, body, 401, "invalid second factor")
		}
		_, resp, _ := bob.signIn(t, `,"totp":"`+bob.code(t, 30*time.Second)+`"`)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("the right code after 10 wrong ones: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	})

	if logs := g.Logs(); strings.Contains(logs, alice.secret) || strings.Contains(logs, alice.recoveries[2]) || strings.Contains(logs, next) {
		t.Fatal("a secret or a code reached the log")
	}
}

// TestTOTPRequired: AUTHGATE_TOTP_REQUIRED asks every location for a
// session with a second factor.
func TestTOTPRequired(t *testing.T) {
	g := startGate(t, "AUTHGATE_SECRET="+goodSecret, "AUTHGATE_TITLE=Example Gate", "AUTHGATE_TOTP_REQUIRED=true")
	carol, pwdToken := enrol(t, g, "carol")
	resp, body := g.do(t, "GET", "/verify", "", "", map[string]string{"Authorization": "Bearer " + pwdToken})
	wantError(t, "a password session", resp, body, 403, "second factor required")
	otpToken, resp, body := carol.signIn(t, `,"totp":"`+carol.code(t, 30*time.Second)+`"`)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in with a code: %d %s", resp.StatusCode, body)
	}
	if resp := g.verify(t, otpToken); resp.StatusCode != 200 {
		t.Fatalf("a pwd,otp session: %d", resp.StatusCode)
	}
}

// TestTOTPResetCommand: "authgate users totp-reset" turns TOTP off for a
// user who lost the device, and ends that user's sessions.
func TestTOTPResetCommand(t *testing.T) {
	env := []string{"AUTHGATE_SECRET=" + goodSecret, "AUTHGATE_TITLE=Example Gate", "AUTHGATE_STORE=bolt://" + filepath.Join(t.TempDir(), "authgate.db")}
	g := startGate(t, env...)
	dave, _ := enrol(t, g, "dave")
	otpToken, resp, _ := dave.signIn(t, `,"totp":"`+dave.code(t, 30*time.Second)+`"`)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	_ = g.cmd.Process.Kill() // the bolt file is the gate's while it runs
	<-g.exited

	out, err := runCLI(t, "", env, "users", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 2 || !strings.HasSuffix(lines[0], "TOTP") || !strings.HasSuffix(lines[1], " on") {
		t.Fatalf("users list: %v\n%s", err, out)
	}
	out, err = runCLI(t, "", env, "users", "totp-reset", "dave")
	if err != nil || !strings.Contains(out, "dave") {
		t.Fatalf("totp-reset: %v %q", err, out)
	}
	if _, err := runCLI(t, "", env, "users", "totp-reset", "dave"); err == nil || !strings.Contains(err.Error(), "not enabled") {
		t.Fatalf("totp-reset when off: %v", err)
	}

	g = startGate(t, env...)
	dave.g = g
	if resp := g.verify(t, otpToken); resp.StatusCode != 401 {
		t.Fatalf("a session from before the reset: %d, want ended", resp.StatusCode)
	}
	if _, resp, body := dave.signIn(t, ""); resp.StatusCode != 200 {
		t.Fatalf("password alone after the reset: %d %s", resp.StatusCode, body)
	}
}
