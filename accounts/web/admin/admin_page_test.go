package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/authgate/authgate/accounts"
)

// oneTimeCode is the invite code a page shows once.
func oneTimeCode(tb testing.TB, body string) string {
	tb.Helper()
	const open = `<code class="secret" id="invite-code">`
	i := strings.Index(body, open)
	if i < 0 {
		tb.Fatalf("no invite code on the page:\n%s", body)
	}
	rest := body[i+len(open):]
	return rest[:strings.Index(rest, "<")]
}

// TestAdminPage: the page for an admin (users, forms, the pages' headers),
// the 403 page for anyone else, and the login page for a visitor.
func TestAdminPage(t *testing.T) {
	f := newAdminFixture(t, nil)
	w := f.do("GET", "/admin", "", "", adminCookie(f.admin))
	body := w.Body.String()
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("%d %v\n%s", w.Code, w.Header(), body)
	}
	for h, want := range map[string]string{
		"Cache-Control":           "no-store",
		"Content-Security-Policy": f.do("GET", "/login", "", "", nil).Header().Get("Content-Security-Policy"), // the login page's
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
	} {
		if got := w.Header().Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	for _, want := range []string{
		`<link rel="stylesheet" href="/assets/style.css">`,
		"Signed in as <span class=\"who\">boss</span>",
		`href="#user-alice">alice</a>`, `href="#user-bob">bob</a>`, `href="#user-root">root</a>`,
		"users file", "admins",
		`action="/admin/users/alice/groups"`, `action="/admin/users/alice/reset-link"`,
		`action="/admin/users/alice/sessions"`, `action="/admin/users/alice/delete"`,
		`action="/admin/users/root/sessions"`,
		`action="/admin/invites"`, `name="groups"`, `name="uses"`, `name="ttl"`, `name="note"`,
		"No invite can be used now.",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, absent := range []string{`action="/admin/users/root/delete"`, `action="/admin/users/root/groups"`, "<script", "style="} {
		if strings.Contains(body, absent) {
			t.Errorf("page has %s", absent)
		}
	}

	t.Run("bearer", func(t *testing.T) {
		if w := f.do("GET", "/admin", "", "", bearer(f.admin)); w.Code != 200 {
			t.Fatalf("%d", w.Code)
		}
	})
	t.Run("non-admin", func(t *testing.T) {
		w := f.do("GET", "/admin", "", "", adminCookie(f.alice))
		body := w.Body.String()
		if w.Code != 403 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "This page is for administrators.") || !strings.Contains(body, "alice") ||
			strings.Contains(body, "bob") || strings.Contains(body, `action="/admin/invites"`) {
			t.Fatalf("%d %s", w.Code, body)
		}
		if w.Header().Get("Content-Security-Policy") == "" || w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("headers %v", w.Header())
		}
	})
	t.Run("not signed in", func(t *testing.T) {
		w := f.do("GET", "/admin", "", "", nil)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "https://auth.example.com/login" {
			t.Fatalf("%d %v", w.Code, w.Header())
		}
	})
	t.Run("notice", func(t *testing.T) {
		body := f.do("GET", "/admin?done=deleted", "", "", adminCookie(f.admin)).Body.String()
		if !strings.Contains(body, "Account deleted.") {
			t.Fatal("no notice")
		}
		body = f.do("GET", "/admin?done=%3Cb%3Ehi", "", "", adminCookie(f.admin)).Body.String()
		if strings.Contains(body, `id="notice"`) {
			t.Fatal("arbitrary notice shown")
		}
	})
}

// TestAdminPageForms: each form of the page, as a browser posts it.
func TestAdminPageForms(t *testing.T) {
	f := newAdminFixture(t, nil)
	admin := adminCookie(f.admin)
	post := func(path, form string) *httptest.ResponseRecorder {
		return f.do("POST", path, "application/x-www-form-urlencoded", form, admin)
	}

	t.Run("invite shown once, never listed", func(t *testing.T) {
		w := post("/admin/invites", "groups=family%2C+Friends&uses=2&ttl=24h&note=cousins+%3Cb%3E")
		body := w.Body.String()
		if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%d %s", w.Code, body)
		}
		code := oneTimeCode(t, body)
		inv, _ := f.svc.Invites(context.Background())
		if len(inv) != 1 || inv[0].Uses != 2 || !slices.Equal(inv[0].Groups, []string{"family", "friends"}) || inv[0].Note != "cousins <b>" || inv[0].CreatedBy != "boss" {
			t.Fatalf("invite %+v", inv)
		}
		if !strings.Contains(body, accounts.InviteURL("https://auth.example.com/login", code)) ||
			!strings.Contains(body, `id="invite-list"`) || !strings.Contains(body, inv[0].ID) || !strings.Contains(body, "cousins &lt;b&gt;") {
			t.Fatalf("page after creation:\n%s", body)
		}
		if strings.Count(body, code) != 2 { // the link and the code, in the one-time box
			t.Fatalf("code shown %d times", strings.Count(body, code))
		}
		again := f.do("GET", "/admin", "", "", admin).Body.String()
		if strings.Contains(again, code) || strings.Contains(again, inv[0].Hash) || !strings.Contains(again, inv[0].ID) {
			t.Fatal("the list shows a code or a hash, or not the invite")
		}
		list := f.do("GET", "/admin/api/invites", "", "", bearer(f.admin)).Body.String()
		if strings.Contains(list, code) || strings.Contains(list, inv[0].Hash) {
			t.Fatal("the API lists a code or a hash")
		}

		w = post("/admin/invites/"+inv[0].ID+"/revoke", "")
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin?done=revoked" {
			t.Fatalf("revoke: %d %v", w.Code, w.Header())
		}
		if inv, _ := f.svc.Invites(context.Background()); len(inv) != 0 {
			t.Fatal("not revoked")
		}
		if w := post("/admin/invites/"+inv[0].ID+"/revoke", ""); w.Code != 404 || !strings.Contains(w.Body.String(), "No such invite.") {
			t.Fatalf("revoke again: %d %s", w.Code, w.Body)
		}
	})

	t.Run("invite form errors keep the input", func(t *testing.T) {
		for _, tc := range []struct{ form, msg string }{
			{"groups=a+b&uses=1&ttl=1h&note=keep+me", "Group names may use"},
			{"groups=&uses=many&ttl=1h&note=keep+me", "Uses must be a whole number."},
			{"groups=&uses=1&ttl=later&note=keep+me", "Ttl must be a duration"},
			{"groups=&uses=0&ttl=1h&note=keep+me", ""}, // 0: the default, 1
		} {
			w := post("/admin/invites", tc.form)
			if tc.msg == "" {
				if w.Code != 200 {
					t.Fatalf("%s: %d", tc.form, w.Code)
				}
				continue
			}
			if w.Code != 400 || !strings.Contains(w.Body.String(), tc.msg) || !strings.Contains(w.Body.String(), `value="keep me"`) {
				t.Fatalf("%s: %d %s", tc.form, w.Code, w.Body)
			}
		}
	})

	t.Run("reset link shown once", func(t *testing.T) {
		w := post("/admin/users/bob/reset-link", "ttl=1h")
		body := w.Body.String()
		if w.Code != 200 || !strings.Contains(body, `id="reset-url">/reset?token=`) || !strings.Contains(body, "shown this once") {
			t.Fatalf("%d %s", w.Code, body)
		}
		if w := post("/admin/users/root/reset-link", ""); w.Code != 409 || !strings.Contains(w.Body.String(), "Account is defined in the users file.") {
			t.Fatalf("users file: %d %s", w.Code, w.Body)
		}
		if w := post("/admin/users/nobody/reset-link", ""); w.Code != 404 {
			t.Fatalf("unknown: %d", w.Code)
		}
	})

	t.Run("groups", func(t *testing.T) {
		w := post("/admin/users/bob/groups", "groups=Family%2C+friends")
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin?done=groups" {
			t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
		}
		if u, _ := f.store.User(context.Background(), "bob"); !slices.Equal(u.Groups, []string{"family", "friends"}) {
			t.Fatalf("groups %v", u.Groups)
		}
		if w := post("/admin/users/bob/groups", "groups=a+b"); w.Code != 400 || !strings.Contains(w.Body.String(), "Group names may use") {
			t.Fatalf("bad group: %d %s", w.Code, w.Body)
		}
	})

	t.Run("sessions", func(t *testing.T) {
		tok := f.login(t, "alice", adminTestPW)
		w := post("/admin/users/alice/sessions", "")
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin?done=sessions" || f.tokenLive(t, tok, "alice") {
			t.Fatalf("%d %v", w.Code, w.Header())
		}
	})

	t.Run("delete asks first", func(t *testing.T) {
		w := post("/admin/users/bob/delete", "")
		body := w.Body.String()
		if w.Code != 200 || !strings.Contains(body, "Delete bob? This cannot be undone.") ||
			!strings.Contains(body, `<form method="post" action="/admin/users/bob/delete"`) || !strings.Contains(body, `name="confirm" value="yes"`) {
			t.Fatalf("%d %s", w.Code, body)
		}
		if !f.userExists("bob") {
			t.Fatal("deleted without confirmation")
		}
		if w := post("/admin/users/bob/delete", "confirm=no"); w.Code != 200 || !f.userExists("bob") {
			t.Fatal("deleted without confirmation")
		}
		w = post("/admin/users/bob/delete", "confirm=yes")
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin?done=deleted" || f.userExists("bob") {
			t.Fatalf("confirm: %d %v", w.Code, w.Header())
		}
		for _, form := range []string{"", "confirm=yes"} {
			if w := post("/admin/users/bob/delete", form); w.Code != 404 || !strings.Contains(w.Body.String(), "User not found.") {
				t.Fatalf("deleted user %q: %d %s", form, w.Code, w.Body)
			}
			if w := post("/admin/users/root/delete", form); w.Code != 409 || !strings.Contains(w.Body.String(), "Account is defined in the users file.") {
				t.Fatalf("users file %q: %d %s", form, w.Code, w.Body)
			}
		}
	})
}

// TestAdminPageFormsRefused: a form post from another site, from a
// non-admin, from a visitor, or not a form, changes nothing.
func TestAdminPageFormsRefused(t *testing.T) {
	f := newAdminFixture(t, nil)
	forms := []struct{ path, body string }{
		{"/admin/invites", "uses=1&ttl=1h"},
		{"/admin/invites/0123456789abcdef/revoke", ""},
		{"/admin/users/bob/groups", "groups=admins"},
		{"/admin/users/bob/reset-link", ""},
		{"/admin/users/alice/sessions", ""},
		{"/admin/users/bob/delete", "confirm=yes"},
	}
	for _, fm := range forms {
		t.Run(fm.path+" cross-site", func(t *testing.T) {
			w := f.do("POST", fm.path, "application/x-www-form-urlencoded", fm.body, adminCrossSite(f.admin))
			if w.Code != 403 || !strings.Contains(w.Body.String(), "This admin form was sent from another site and was refused.") ||
				!strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || strings.Contains(w.Body.String(), "/reset?token=") {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		})
		t.Run(fm.path+" non-admin", func(t *testing.T) {
			w := f.do("POST", fm.path, "application/x-www-form-urlencoded", fm.body, adminCookie(f.alice))
			if w.Code != 403 || !strings.Contains(w.Body.String(), "This page is for administrators.") {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		})
		t.Run(fm.path+" not signed in", func(t *testing.T) {
			w := f.do("POST", fm.path, "application/x-www-form-urlencoded", fm.body, map[string]string{"Origin": adminOrigin})
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "https://auth.example.com/login" {
				t.Fatalf("%d %v", w.Code, w.Header())
			}
		})
		t.Run(fm.path+" JSON", func(t *testing.T) {
			w := f.do("POST", fm.path, "application/json", `{}`, adminCookie(f.admin))
			if w.Code != 415 || adminJSONError(t, w) != "send a form" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		})
	}
	if !f.userExists("bob") || !f.tokenLive(t, f.alice, "alice") {
		t.Fatal("a refused form changed something")
	}
	if u, _ := f.store.User(context.Background(), "bob"); len(u.Groups) != 0 {
		t.Fatalf("bob's groups changed: %v", u.Groups)
	}
	if inv, _ := f.svc.Invites(context.Background()); len(inv) != 0 {
		t.Fatal("an invite was made")
	}
	if strings.Contains(f.log.String(), "admin action") {
		t.Fatalf("refused requests logged as actions:\n%s", f.log.String())
	}
}
