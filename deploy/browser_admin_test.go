package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserAdmin drives headless Chromium through the shipped nginx
// config and the administration a person meets: alice, an admin, creates
// an invite on /admin; a newcomer signs up with its link and lands signed
// in with the invite's group; alice makes a reset link for the newcomer,
// who sets a new password with it; the old password then fails and the
// new one signs in. Screenshots of the admin page (with the new invite's
// link) and of the reset page go to the test's artifact directory.
func TestBrowserAdmin(t *testing.T) {
	t.Parallel()
	n := startNginx(t, []string{"AUTHGATE_REGISTRATION=invite"})
	port := n.httpsPort
	app, auth := n.app, n.auth
	loginHost := fmt.Sprintf("auth.example.com:%d", port)
	protected := app + "/reports?q=1&sort=desc"
	const nina, oldPass, newPass = "nina", "nina-Invite-test-2931", "nina-Reset-test-5170"
	username, password := chromedp.ID("username"), chromedp.ID("password")

	// admin is alice's browser; guest, from step 3 on, the newcomer's.
	admin, adminRequests := startBrowser(t)
	body := func(ctx context.Context) string { return get(t, ctx, chromedp.Text(chromedp.CSS("body"))) }
	// toLogin opens the protected URL, which must land on the login page.
	toLogin := func(ctx context.Context, why string) {
		t.Helper()
		do(t, ctx, "open the protected page "+why, chromedp.Navigate(protected), chromedp.WaitVisible(username))
		loc := get(t, ctx, chromedp.Location())
		if u, _ := url.Parse(loc); u == nil || u.Host != loginHost || u.Path != "/login" || u.Query().Get("rd") != protected {
			t.Fatalf("%s the protected page led to %q, want the login page with rd=%s", why, loc, protected)
		}
	}
	// signIn submits the sign-in form and expects the protected page
	// back, the application seeing user (and, when given, group).
	signIn := func(ctx context.Context, user, pass, group string) {
		t.Helper()
		do(t, ctx, "sign in as "+user, chromedp.Clear(username), chromedp.SendKeys(username, user),
			chromedp.SendKeys(password, pass), chromedp.Submit(password))
		waitLocation(t, ctx, protected)
		text := body(ctx)
		wantUpstreamUser(t, text, "app.example.com", user)
		if group != "" {
			wantUpstreamGroup(t, text, group)
		}
	}

	t.Log("1. alice signs in through the protected page")
	toLogin(admin, "signed out,")
	signIn(admin, alice.name, alice.password, "admins")

	t.Log("2. alice creates an invite for the group family on /admin; the page shows its link once")
	do(t, admin, "open the admin page", chromedp.Navigate(auth+"/admin"), chromedp.WaitVisible(chromedp.ID("users")))
	if title := get(t, admin, chromedp.Title()); title != "Administration · authgate" {
		t.Errorf("admin page title %q", title)
	}
	users := get(t, admin, chromedp.Text(chromedp.ID("users")))
	for _, want := range []string{alice.name, bob.name, "admins, staff", "users file"} {
		if !strings.Contains(users, want) {
			t.Errorf("the user list lacks %q:\n%s", want, users)
		}
	}
	do(t, admin, "create the invite",
		chromedp.SendKeys(chromedp.ID("invite-groups"), "family"),
		chromedp.Submit(chromedp.ID("invite-groups")),
		chromedp.WaitVisible(chromedp.ID("invite-url")))
	inviteURL := strings.TrimSpace(get(t, admin, chromedp.Text(chromedp.ID("invite-url"))))
	code := strings.TrimSpace(get(t, admin, chromedp.Text(chromedp.ID("invite-code"))))
	if code == "" || inviteURL != n.loginURL+"?invite="+url.QueryEscape(code) {
		t.Fatalf("invite link on the page %q, code %q: want %s?invite=<code>", inviteURL, code, n.loginURL)
	}
	if list := get(t, admin, chromedp.Text(chromedp.ID("invite-list"))); !strings.Contains(list, "family") || strings.Contains(list, code) {
		t.Errorf("the invite list should name the group family and never the code:\n%s", list)
	}
	screenshot(t, admin, "admin.png")

	t.Log("3. a newcomer, in another browser, signs up with the link and lands signed in, in the group family")
	guest, guestRequests := startBrowser(t)
	do(t, guest, "open the invite link", chromedp.Navigate(inviteURL), chromedp.WaitVisible(chromedp.ID("new-username")))
	if v := get(t, guest, chromedp.Value(chromedp.ID("new-invite"))); v != code {
		t.Fatalf("the sign-up form's invite field holds %q, want the code %q", v, code)
	}
	do(t, guest, "sign up",
		chromedp.SendKeys(chromedp.ID("new-username"), nina),
		chromedp.SendKeys(chromedp.ID("new-password"), oldPass),
		chromedp.Submit(chromedp.ID("new-password")))
	waitLocation(t, guest, auth+"/")
	text := get(t, guest, chromedp.Text(chromedp.CSS("main")))
	for _, want := range []string{"Signed in as " + nina, "Groups\nfamily"} {
		if !strings.Contains(text, want) {
			t.Errorf("signed-in page after sign-up lacks %q:\n%s", want, text)
		}
	}
	do(t, guest, "open the protected page", chromedp.Navigate(protected))
	waitLocation(t, guest, protected)
	text = body(guest)
	wantUpstreamUser(t, text, "app.example.com", nina)
	wantUpstreamGroup(t, text, "family")

	t.Log("4. alice makes a reset link for nina on /admin; the page shows it once")
	do(t, admin, "open the admin page again", chromedp.Navigate(auth+"/admin"), chromedp.WaitVisible(chromedp.ID("users")))
	if strings.Contains(body(admin), code) {
		t.Errorf("the admin page shows the invite code again")
	}
	row := get(t, admin, chromedp.Text(chromedp.CSS(`#users tbody`)))
	if !strings.Contains(row, nina+"\tfamily") || !strings.Contains(row, "store") {
		t.Errorf("the user list does not show nina in family, from the store:\n%s", row)
	}
	if get(t, admin, chromedp.Evaluate[bool](`document.getElementById("invite-list") !== null`)) {
		t.Errorf("the used single-use invite is still listed")
	}
	do(t, admin, "make the reset link",
		chromedp.Click(chromedp.CSS("#user-"+nina+" summary")),
		chromedp.Click(chromedp.CSS(`form[action="/admin/users/`+nina+`/reset-link"] button`)),
		chromedp.WaitVisible(chromedp.ID("reset-url")))
	resetURL := strings.TrimSpace(get(t, admin, chromedp.Text(chromedp.ID("reset-url"))))
	if u, err := url.Parse(resetURL); err != nil || u.Scheme != "https" || u.Host != loginHost || u.Path != "/reset" || u.Query().Get("token") == "" {
		t.Fatalf("reset link on the page %q, want %s/reset?token=...", resetURL, auth)
	}
	if who := get(t, admin, chromedp.Text(chromedp.CSS("#reset-link .who"))); who != nina {
		t.Errorf("the reset link is said to be for %q", who)
	}

	t.Log("5. nina opens the reset link and sets a new password")
	do(t, guest, "open the reset link", chromedp.Navigate(resetURL), chromedp.WaitVisible(chromedp.ID("reset-password")))
	if title := get(t, guest, chromedp.Title()); title != "Set a new password · authgate" {
		t.Errorf("reset page title %q", title)
	}
	screenshot(t, guest, "reset.png")
	do(t, guest, "set the new password",
		chromedp.SendKeys(chromedp.ID("reset-password"), newPass),
		chromedp.Submit(chromedp.ID("reset-password")),
		chromedp.WaitVisible(chromedp.CSS("p.notice")))
	if msg := get(t, guest, chromedp.Text(chromedp.CSS("p.notice"))); !strings.Contains(msg, "Your password is set") {
		t.Errorf("notice after the reset: %q", msg)
	}

	t.Log("6. nina's session ended; the old password fails, the new one signs in")
	toLogin(guest, "after the reset,")
	do(t, guest, "sign in with the old password",
		chromedp.SendKeys(username, nina), chromedp.SendKeys(password, oldPass), chromedp.Submit(password),
		chromedp.WaitVisible(chromedp.ID("form-error")))
	if msg := get(t, guest, chromedp.Text(chromedp.ID("form-error"))); !strings.Contains(strings.ToLower(msg), "invalid username or password") {
		t.Errorf("error shown for the old password: %q", msg)
	}
	if loc := get(t, guest, chromedp.Location()); !strings.HasPrefix(loc, auth+"/login") {
		t.Fatalf("the old password led to %q", loc)
	}
	signIn(guest, nina, newPass, "family")

	t.Log("the reset link is spent")
	do(t, guest, "open the reset link again", chromedp.Navigate(resetURL), chromedp.WaitVisible(chromedp.ID("reset-password")),
		chromedp.SendKeys(chromedp.ID("reset-password"), "nina-Again-test-8826"),
		chromedp.Submit(chromedp.ID("reset-password")), chromedp.WaitVisible(chromedp.ID("form-error")))
	if s := body(guest); strings.Contains(s, "Your password is set") {
		t.Errorf("the reset link worked twice:\n%s", s)
	}

	wantLocalRequests(t, adminRequests(), 8, port)
	wantLocalRequests(t, guestRequests(), 8, port)
}

// wantUpstreamGroup checks that the echo upstream's answer shown in the
// page carries group in Remote-Groups.
func wantUpstreamGroup(t *testing.T, body, group string) {
	t.Helper()
	var seen seenRequest
	if err := json.Unmarshal([]byte(body), &seen); err != nil {
		t.Fatalf("the page is not the application's answer: %v\n%s", err, body)
	}
	groups := strings.Split(seen.Header.Get("Remote-Groups"), ",")
	for i := range groups {
		groups[i] = strings.TrimSpace(groups[i])
	}
	if !slices.Contains(groups, group) {
		t.Fatalf("the application saw Remote-Groups %q, want it to include %s", seen.Header.Get("Remote-Groups"), group)
	}
}
