package deploy

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// TestBrowserTOTP drives headless Chromium through the shipped nginx config
// and the second factor a person meets: a freshly registered user signs
// in, sets up TOTP from the signed-in page (the key read off the page, as
// an authenticator app would), saves the recovery codes, then signs in
// with password and code, and once with a recovery code. Screenshots of
// the set-up page and the code step go to the test's artifact directory.
func TestBrowserTOTP(t *testing.T) {
	t.Parallel()
	n := startNginx(t, []string{"AUTHGATE_REGISTRATION=open"})
	port := n.httpsPort
	app := fmt.Sprintf("https://app.example.com:%d", port)
	auth := fmt.Sprintf("https://auth.example.com:%d", port)
	loginHost := fmt.Sprintf("auth.example.com:%d", port)

	// Users-file accounts cannot keep a second factor: a new account.
	const user, pass = "carol", "carol-Totp-test-6084"
	r := n.do(t, http.MethodPost, n.auth+"/register", fmt.Sprintf(`{"username":%q,"password":%q}`, user, pass),
		map[string]string{"Content-Type": "application/json"})
	if r.status != http.StatusCreated {
		t.Fatalf("register %s through nginx: %d %s", user, r.status, r.body)
	}

	ctx, requests := startBrowser(t)

	protected := app + "/reports?q=1&sort=desc"
	username, password := chromedp.ID("username"), chromedp.ID("password")
	body := func() string { return get(t, ctx, chromedp.Text(chromedp.CSS("body"))) }
	// toLogin opens the protected URL, which must land on the login page.
	toLogin := func(why string) {
		t.Helper()
		do(t, ctx, "open the protected page "+why, chromedp.Navigate(protected), chromedp.WaitVisible(username))
		loc := get(t, ctx, chromedp.Location())
		if u, _ := url.Parse(loc); u == nil || u.Host != loginHost || u.Path != "/login" || u.Query().Get("rd") != protected {
			t.Fatalf("%s the protected page led to %q, want the login page with rd=%s", why, loc, protected)
		}
	}
	// codeStep signs in with the password and waits for the second step.
	codeStep := func() {
		t.Helper()
		do(t, ctx, "sign in with the password",
			chromedp.SendKeys(username, user), chromedp.SendKeys(password, pass), chromedp.Submit(password),
			chromedp.WaitVisible(chromedp.ID("totp")))
		if ch := get(t, ctx, chromedp.AttributeValue(chromedp.CSS(`form[action="/login"] input[name="challenge"]`), "value")); ch.Value == "" {
			t.Fatal("the code step carries no challenge")
		}
	}
	signOut := func() {
		t.Helper()
		do(t, ctx, "sign out", chromedp.Navigate(auth+"/"), chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
			chromedp.WaitVisible(username))
	}
	// signedInPage opens the signed-in page and returns its text.
	signedInPage := func() string {
		t.Helper()
		do(t, ctx, "open the signed-in page", chromedp.Navigate(auth+"/"), chromedp.WaitVisible(chromedp.ID("two-factor")))
		return get(t, ctx, chromedp.Text(chromedp.CSS("main")))
	}

	t.Log("1. the new user signs in with a password and reaches the protected page")
	toLogin("signed out,")
	do(t, ctx, "sign in", chromedp.SendKeys(username, user), chromedp.SendKeys(password, pass), chromedp.Submit(password))
	waitLocation(t, ctx, protected)
	wantUpstreamUser(t, body(), "app.example.com", user)

	t.Log("2. set up TOTP from the signed-in page: QR code and key, then the first code")
	if text := signedInPage(); !strings.Contains(text, "Two-factor authentication: off") || !strings.Contains(text, "(amr: pwd)") {
		t.Fatalf("signed-in page before set-up:\n%s", text)
	}
	do(t, ctx, "start the set-up", chromedp.SendKeys(chromedp.ID("setup-password"), pass),
		chromedp.Submit(chromedp.ID("setup-password")), chromedp.WaitVisible(chromedp.ID("totp-secret")))
	if src := get(t, ctx, chromedp.AttributeValue(chromedp.CSS("img.qr"), "src")); !strings.HasPrefix(src.Value, "data:image/png;base64,") {
		t.Errorf("the QR code is not a data: image: %.60q", src.Value)
	}
	secret := strings.ReplaceAll(get(t, ctx, chromedp.Text(chromedp.ID("totp-secret"))), " ", "")
	if len(secret) != 32 { // 160 bits in base32
		t.Fatalf("secret on the page %q: %d characters, want 32", secret, len(secret))
	}
	screenshot(t, ctx, "totp-setup.png")
	used, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "confirm the first code", chromedp.SendKeys(chromedp.ID("code"), used),
		chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	if text := body(); !strings.Contains(text, "Save these recovery codes now") {
		t.Errorf("recovery-codes page lacks the warning:\n%s", text)
	}
	codes := get(t, ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#recovery-codes code"), c => c.textContent.trim())`))
	distinct := map[string]bool{}
	for _, c := range codes {
		distinct[c] = true
	}
	if len(codes) != 10 || len(distinct) != 10 || distinct[""] {
		t.Fatalf("recovery codes on the page: %q, want ten distinct", codes)
	}
	if text := signedInPage(); !strings.Contains(text, "Two-factor authentication: on") || !strings.Contains(text, "10 unused recovery codes left") {
		t.Errorf("signed-in page after set-up:\n%s", text)
	}

	t.Log("3. signed out, the protected page asks for the password, then a code")
	signOut()
	toLogin("after sign-out,")
	codeStep()
	if text := body(); !strings.Contains(text, "Two-factor authentication") || !strings.Contains(text, "Use a recovery code") {
		t.Errorf("code step:\n%s", text)
	}
	screenshot(t, ctx, "totp-code.png")
	// The code that turned TOTP on is spent: while the gate still accepts
	// its step, it does not sign in.
	do(t, ctx, "replay the confirming code", chromedp.SendKeys(chromedp.ID("totp"), used),
		chromedp.Submit(chromedp.ID("totp")), chromedp.WaitVisible(chromedp.ID("form-error")))
	if loc := get(t, ctx, chromedp.Location()); !strings.HasPrefix(loc, auth+"/login") {
		t.Fatalf("the spent code led to %q", loc)
	}
	if msg := get(t, ctx, chromedp.Text(chromedp.ID("form-error"))); !strings.Contains(strings.ToLower(msg), "invalid second factor") {
		t.Errorf("error shown for the spent code: %q", msg)
	}
	// A fresh code: the current step's, or the next one's (also accepted)
	// while the current one is the step just spent.
	code, err := totp.GenerateCode(secret, time.Now())
	if err == nil && code == used {
		code, err = totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	}
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "enter the code", chromedp.Clear(chromedp.ID("totp")), chromedp.SendKeys(chromedp.ID("totp"), code),
		chromedp.Submit(chromedp.ID("totp")))
	waitLocation(t, ctx, protected)
	wantUpstreamUser(t, body(), "app.example.com", user)
	if text := signedInPage(); !strings.Contains(text, "amr: pwd, otp") {
		t.Errorf("signed-in page after a code, want amr \"pwd, otp\":\n%s", text)
	}

	t.Log("4. a recovery code signs in instead of a code, and is used up")
	signOut()
	toLogin("after the second sign-out,")
	codeStep()
	do(t, ctx, "sign in with a recovery code",
		chromedp.Click(chromedp.CSS("details.recovery summary")),
		chromedp.WaitVisible(chromedp.ID("recovery_code")),
		chromedp.SendKeys(chromedp.ID("recovery_code"), codes[0]),
		chromedp.Submit(chromedp.ID("recovery_code")))
	waitLocation(t, ctx, protected)
	wantUpstreamUser(t, body(), "app.example.com", user)
	if text := signedInPage(); !strings.Contains(text, "9 unused recovery codes left") {
		t.Errorf("signed-in page after a recovery code:\n%s", text)
	}

	wantLocalRequests(t, requests(), 10, port)
}
