package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authgate/authgate/accounts"
)

const accountPW = "correct horse battery"

// TestRegisterWithInvite: in invite mode /register needs a valid invite
// (403 {"error":"invalid invite"} otherwise, nothing created); the invite's
// groups go to the new account; the login page opened with ?invite= shows
// the sign-up form with the code filled in.
func TestRegisterWithInvite(t *testing.T) {
	f := newFixture(t, func(a *accounts.Config, _ *Config) { a.Registration, a.InviteOnly = false, true })
	code, _, err := f.svc.CreateInvite(context.Background(), accounts.InviteRequest{Groups: []string{"family"}, Uses: 1, By: "root"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body string
		code       int
		err        string
	}{
		{"no invite", `{"username":"nina","password":"` + accountPW + `"}`, 403, "invalid invite"},
		{"unknown invite", `{"username":"nina","password":"` + accountPW + `","invite":"nope"}`, 403, "invalid invite"},
		{"invite not a string", `{"username":"nina","password":"` + accountPW + `","invite":5}`, 400, "invite must be a string"},
		{"good invite", `{"username":"nina","password":"` + accountPW + `","invite":"` + code + `"}`, 201, ""},
		{"used up", `{"username":"otto","password":"` + accountPW + `","invite":"` + code + `"}`, 403, "invalid invite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do("POST", "/register", ctJSON, tc.body, nil)
			if w.Code != tc.code || tc.err != "" && errorOf(t, w) != tc.err {
				t.Fatalf("%d %s, want %d %q", w.Code, w.Body, tc.code, tc.err)
			}
		})
	}
	if u, err := f.store.User(context.Background(), "nina"); err != nil || len(u.Groups) != 1 || u.Groups[0] != "family" {
		t.Fatalf("nina: %+v %v; want the invite's groups", u, err)
	}
	if _, err := f.store.User(context.Background(), "otto"); err == nil {
		t.Fatal("a refused registration created the account")
	}

	// The login page: no sign-up form in invite mode, unless opened with a code.
	if body := f.do("GET", "/login", "", "", nil).Body.String(); strings.Contains(body, `action="/register"`) {
		t.Fatal("invite mode shows the sign-up form without a code")
	}
	body := f.do("GET", "/login?invite=abc123", "", "", nil).Body.String()
	if !strings.Contains(body, `action="/register"`) || !strings.Contains(body, `name="invite"`) || !strings.Contains(body, `value="abc123"`) {
		t.Fatalf("login page with ?invite= lacks the filled-in sign-up form:\n%s", body)
	}
	// The sign-up form with a code signs the new person in.
	code2, _, _ := f.svc.CreateInvite(context.Background(), accounts.InviteRequest{Groups: []string{"friends"}})
	form := url.Values{"username": {"paula"}, "password": {accountPW}, "invite": {code2}}.Encode()
	w := f.do("POST", "/register", ctForm, form, sameOrigin(""))
	if w.Code != http.StatusSeeOther || sessionCookie(w) == "" {
		t.Fatalf("sign-up form with an invite: %d %s", w.Code, w.Body)
	}
}

func TestChangePasswordEndpoint(t *testing.T) {
	f := newFixture(t, nil)
	f.register(t, "alice", accountPW)
	tok, other := f.login(t, "alice", accountPW), f.login(t, "alice", accountPW)
	bearer := map[string]string{"Authorization": "Bearer " + tok}
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		body string
		code int
	}{
		{"not signed in", nil, `{"current_password":"` + accountPW + `","new_password":"a new passphrase"}`, 401},
		{"wrong current password", bearer, `{"current_password":"wrong password","new_password":"a new passphrase"}`, 401},
		{"a refused new password", bearer, `{"current_password":"` + accountPW + `","new_password":"short"}`, 400},
		{"cross-site with the cookie", map[string]string{"Cookie": "authgate_session=" + tok, "Origin": "https://evil.example"}, `{"current_password":"` + accountPW + `","new_password":"a new passphrase"}`, 403},
		{"changed", bearer, `{"current_password":"` + accountPW + `","new_password":"a new passphrase"}`, 204},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w := f.do("POST", "/account/password", ctJSON, tc.body, tc.hdr); w.Code != tc.code {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tc.code)
			}
		})
	}
	if !f.live(t, tok) || f.live(t, other) {
		t.Fatal("want the asking session kept and the other ended")
	}
	if w := f.do("POST", "/login", ctJSON, `{"username":"alice","password":"`+accountPW+`"}`, nil); w.Code != 401 {
		t.Fatalf("old password: %d", w.Code)
	}
	// The signed-in page's form.
	form := url.Values{"current_password": {"a new passphrase"}, "new_password": {"a third passphrase"}}.Encode()
	w := f.do("POST", "/account/password", ctForm, form, sameOrigin(tok))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/?done=password" {
		t.Fatalf("form: %d %s", w.Code, w.Body)
	}
	if body := f.do("GET", "/?done=password", "", "", map[string]string{"Cookie": "authgate_session=" + tok}).Body.String(); !strings.Contains(body, "Password changed") {
		t.Fatalf("the signed-in page after the form lacks the notice:\n%s", body)
	}
}

func TestResetEndpoint(t *testing.T) {
	f := newFixture(t, nil)
	f.register(t, "alice", accountPW)
	tok := f.login(t, "alice", accountPW)
	link, _, err := f.svc.ResetLink(context.Background(), "alice", 0, "root")
	if err != nil {
		t.Fatal(err)
	}
	token := link[strings.Index(link, "token=")+len("token="):]
	token, _ = url.QueryUnescape(token)

	page := f.do("GET", "/reset?token="+url.QueryEscape(token), "", "", nil)
	if page.Code != 200 || !strings.Contains(page.Body.String(), `name="password"`) || !strings.Contains(page.Body.String(), `name="token"`) {
		t.Fatalf("reset page: %d %s", page.Code, page.Body)
	}
	checkCSP(t, page)
	if w := f.do("POST", "/reset", ctJSON, `{"token":"`+token+`","password":"short"}`, nil); w.Code != 400 || errorOf(t, w) == "invalid or expired reset link" {
		t.Fatalf("a refused password: %d %s (must not spend the link)", w.Code, w.Body)
	}
	if w := f.do("POST", "/reset", ctJSON, `{"token":"`+token+`","password":"a brand new passphrase"}`, nil); w.Code != 204 {
		t.Fatalf("reset: %d %s", w.Code, w.Body)
	}
	if f.live(t, tok) {
		t.Fatal("a session outlived the reset")
	}
	if w := f.do("POST", "/reset", ctJSON, `{"token":"`+token+`","password":"another passphrase"}`, nil); w.Code != 400 || errorOf(t, w) != "invalid or expired reset link" {
		t.Fatalf("a spent link: %d %s", w.Code, w.Body)
	}
	if w := f.do("POST", "/login", ctJSON, `{"username":"alice","password":"a brand new passphrase"}`, nil); w.Code != 200 {
		t.Fatalf("new password: %d", w.Code)
	}
	// The form: a readable page either way.
	w := f.do("POST", "/reset", ctForm, url.Values{"token": {token}, "password": {"another passphrase"}}.Encode(), sameOrigin(""))
	if w.Code != 400 || !strings.Contains(w.Body.String(), "Invalid or expired reset link") || !strings.Contains(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("spent link, form: %d %s", w.Code, w.Body)
	}
	link2, _, _ := f.svc.ResetLink(context.Background(), "alice", 0, "root")
	t2, _ := url.QueryUnescape(link2[strings.Index(link2, "token=")+len("token="):])
	w = f.do("POST", "/reset", ctForm, url.Values{"token": {t2}, "password": {"yet another passphrase"}}.Encode(), sameOrigin(""))
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Your password is set") {
		t.Fatalf("form: %d %s", w.Code, w.Body)
	}
	if w := f.do("POST", "/reset", "text/plain", "x", nil); w.Code != 415 {
		t.Fatalf("text/plain: %d", w.Code)
	}
}
