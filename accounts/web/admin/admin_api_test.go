package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/web"
)

const (
	adminTestPW    = "correct horse battery"
	adminTestGroup = "admins"
	adminOrigin    = "https://auth.example.com" // the login URL's origin
)

// adminLog is a log the tests read back.
type adminLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *adminLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *adminLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// adminFixture is newFixture's wiring with the admin routes mounted as
// cmd/authgate mounts them (AdminRoutes on e.Group("/admin")), a users-file
// account "root", and three accounts: "boss" (an admin), "alice" and "bob".
type adminFixture struct {
	*fixture
	h     *web.Handler
	log   *adminLog
	admin string // boss's token
	alice string // alice's token
}

func newAdminFixture(tb testing.TB, mod func(*accounts.Config, *web.Config)) *adminFixture {
	tb.Helper()
	rootHash, err := testHasher(tb).Hash(context.Background(), adminTestPW)
	if err != nil {
		tb.Fatal(err)
	}
	log := &adminLog{}
	base := newFixture(tb, func(a *accounts.Config, w *web.Config) {
		a.Static = map[string]accounts.User{"root": {Name: "root", Hash: rootHash, Groups: []string{"ops"}}}
		w.AdminGroup, w.Logger = adminTestGroup, slog.New(slog.NewTextHandler(log, nil))
		if mod != nil {
			mod(a, w)
		}
	})
	f := &adminFixture{fixture: base, h: base.h, log: log}
	svc := base.svc
	for _, u := range []string{"boss", "alice", "bob"} {
		f.register(tb, u, adminTestPW)
	}
	if err := svc.SetGroups(context.Background(), "boss", []string{adminTestGroup}); err != nil {
		tb.Fatal(err)
	}
	f.admin = f.login(tb, "boss", adminTestPW)
	f.alice = f.login(tb, "alice", adminTestPW)
	return f
}

// adminCookie is a same-origin browser request carrying tok's cookie.
func adminCookie(tok string) map[string]string {
	return map[string]string{"Cookie": "authgate_session=" + tok, "Origin": adminOrigin, "Sec-Fetch-Site": "same-origin"}
}

// adminCrossSite is tok's cookie on a request from another site.
func adminCrossSite(tok string) map[string]string {
	return map[string]string{"Cookie": "authgate_session=" + tok, "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
}

// tokenLive reports whether tok's session is live.
func (f *adminFixture) tokenLive(tb testing.TB, tok, user string) bool {
	tb.Helper()
	id, err := f.tokens.SessionOf(tok)
	if err != nil {
		tb.Fatal(err)
	}
	ok, _ := f.store.SessionLive(context.Background(), id, user)
	return ok
}

func (f *adminFixture) userExists(name string) bool {
	_, err := f.store.User(context.Background(), name)
	return err == nil
}

// invite makes an invite through the API and returns its response.
func (f *adminFixture) invite(tb testing.TB, body string) map[string]any {
	tb.Helper()
	w := f.do("POST", "/admin/api/invites", "application/json", body, bearer(f.admin))
	var resp map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &resp); w.Code != http.StatusCreated || err != nil {
		tb.Fatalf("create invite: %d %s", w.Code, w.Body)
	}
	return resp
}

func adminJSONError(tb testing.TB, w *httptest.ResponseRecorder) string {
	tb.Helper()
	return errorOf(tb, w)
}

// TestAdminAPIAccess: every endpoint of the API is for members of the
// admin group only: 401 without a session, 403 {"error":"forbidden"} for
// anyone else, 403 for a write the cookie authenticates from another site.
func TestAdminAPIAccess(t *testing.T) {
	f := newAdminFixture(t, nil)
	endpoints := []struct {
		method, path, ctype, body string
		write                     bool
	}{
		{"GET", "/admin/api/users", "", "", false},
		{"GET", "/admin/api/invites", "", "", false},
		{"POST", "/admin/api/invites", "application/json", `{}`, true},
		{"DELETE", "/admin/api/invites/0123456789abcdef", "", "", true},
		{"POST", "/admin/api/users/bob/reset-link", "application/json", `{}`, true},
		{"PUT", "/admin/api/users/bob/groups", "application/json", `{"groups":["x"]}`, true},
		{"DELETE", "/admin/api/users/bob/sessions", "", "", true},
		{"DELETE", "/admin/api/users/bob", "", "", true},
	}
	ended := f.login(t, "boss", adminTestPW)
	if err := f.svc.EndSession(context.Background(), ended); err != nil {
		t.Fatal(err)
	}
	callers := []struct {
		name   string
		hdr    map[string]string
		writes bool // only writes are refused
		want   int
		err    string
	}{
		{"no credentials", nil, false, 401, "sign in first"},
		{"ended session", bearer(ended), false, 401, "sign in first"},
		{"garbage token", bearer("nope"), false, 401, "sign in first"},
		{"non-admin bearer", bearer(f.alice), false, 403, "forbidden"},
		{"non-admin cookie", adminCookie(f.alice), false, 403, "forbidden"},
		{"admin cookie from another site", adminCrossSite(f.admin), true, 403, "This admin request was sent from another site and was refused."},
		{"admin cookie with Origin null", map[string]string{"Cookie": "authgate_session=" + f.admin, "Origin": "null"}, true, 403, "another site"},
	}
	for _, ep := range endpoints {
		for _, c := range callers {
			if c.writes && !ep.write {
				continue
			}
			t.Run(ep.method+" "+ep.path+" "+c.name, func(t *testing.T) {
				w := f.do(ep.method, ep.path, ep.ctype, ep.body, c.hdr)
				if w.Code != c.want || !strings.Contains(adminJSONError(t, w), c.err) {
					t.Fatalf("%d %s, want %d %q", w.Code, w.Body, c.want, c.err)
				}
			})
		}
	}
	// Nothing happened.
	if !f.userExists("bob") {
		t.Fatal("bob deleted by a refused request")
	}
	if inv, _ := f.svc.Invites(context.Background()); len(inv) != 0 {
		t.Fatalf("invites made by refused requests: %v", inv)
	}

	t.Run("no admin group configured", func(t *testing.T) {
		f := newAdminFixture(t, func(_ *accounts.Config, w *web.Config) { w.AdminGroup = "" })
		w := f.do("GET", "/admin/api/users", "", "", bearer(f.admin))
		if w.Code != 403 || adminJSONError(t, w) != "forbidden" {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
	t.Run("bearer needs no Origin check", func(t *testing.T) {
		w := f.do("DELETE", "/admin/api/users/bob/sessions", "", "", map[string]string{"Authorization": "Bearer " + f.admin, "Origin": "https://evil.example"})
		if w.Code != http.StatusNoContent {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
	t.Run("same-origin cookie write", func(t *testing.T) {
		w := f.do("DELETE", "/admin/api/users/bob/sessions", "", "", adminCookie(f.admin))
		if w.Code != http.StatusNoContent {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
}

// TestAdminAPIUsers: the user list, users-file accounts included, with
// exactly the documented fields.
func TestAdminAPIUsers(t *testing.T) {
	f := newAdminFixture(t, nil)
	w := f.do("GET", "/admin/api/users", "", "", bearer(f.admin))
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	var resp struct {
		Users []map[string]any `json:"users"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	var names []string
	byName := map[string]map[string]any{}
	for _, u := range resp.Users {
		names = append(names, u["username"].(string))
		byName[u["username"].(string)] = u
		var keys []string
		for k := range u {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"email", "groups", "locked", "name", "sessions", "static", "totp", "username"}; !slices.Equal(keys, want) {
			t.Errorf("fields %v, want %v", keys, want)
		}
	}
	if want := []string{"alice", "bob", "boss", "root"}; !slices.Equal(names, want) {
		t.Fatalf("users %v, want %v", names, want)
	}
	if u := byName["root"]; u["static"] != true || u["groups"].([]any)[0] != "ops" {
		t.Errorf("root: %v", u)
	}
	if u := byName["boss"]; u["static"] != false || u["sessions"] != 1.0 || u["totp"] != false || u["locked"] != false {
		t.Errorf("boss: %v", u)
	}
	if u := byName["bob"]; u["sessions"] != 0.0 || len(u["groups"].([]any)) != 0 {
		t.Errorf("bob: %v", u)
	}
}

// TestAdminAPIInvites: creating (201, the code once), listing (never a
// code or hash), revoking (204, then 404), and the refusals of a bad body.
func TestAdminAPIInvites(t *testing.T) {
	f := newAdminFixture(t, nil)
	before := time.Now()
	resp := f.invite(t, `{"groups":["Family","friends"],"uses":3,"ttl":"48h","note":"for the cousins"}`)
	code, _ := resp["code"].(string)
	id, _ := resp["id"].(string)
	if code == "" || id == "" || resp["uses"] != 3.0 {
		t.Fatalf("create: %v", resp)
	}
	if resp["url"] != accounts.InviteURL("https://auth.example.com/login", code) {
		t.Errorf("url %v", resp["url"])
	}
	exp, err := time.Parse(time.RFC3339, resp["expires"].(string))
	if err != nil || exp.Before(before.Add(48*time.Hour-time.Second)) || exp.After(time.Now().Add(48*time.Hour+time.Second)) {
		t.Errorf("expires %v (%v)", resp["expires"], err)
	}
	second := f.invite(t, `{}`)
	if second["uses"] != 1.0 {
		t.Errorf("default uses: %v", second)
	}

	w := f.do("GET", "/admin/api/invites", "", "", bearer(f.admin))
	if w.Code != 200 {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), code) || strings.Contains(w.Body.String(), second["code"].(string)) || strings.Contains(w.Body.String(), "hash") {
		t.Fatalf("list shows a code: %s", w.Body)
	}
	var list struct {
		Invites []map[string]any `json:"invites"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list.Invites) != 2 {
		t.Fatalf("list: %s %v", w.Body, err)
	}
	first := list.Invites[0]
	var keys []string
	for k := range first {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"created_by", "expires", "groups", "id", "note", "uses"}; !slices.Equal(keys, want) {
		t.Errorf("fields %v, want %v", keys, want)
	}
	if first["id"] != id || first["note"] != "for the cousins" || first["uses"] != 3.0 || first["created_by"] != "boss" ||
		len(first["groups"].([]any)) != 2 || first["groups"].([]any)[0] != "family" {
		t.Errorf("listed: %v", first)
	}
	if _, err := time.Parse(time.RFC3339, first["expires"].(string)); err != nil {
		t.Errorf("expires: %v", err)
	}

	for _, tc := range []struct {
		name, ctype, body string
		want              int
		err               string
	}{
		{"bad ttl", "application/json", `{"ttl":"soon"}`, 400, "ttl must be a duration"},
		{"ttl too long", "application/json", `{"ttl":"10000h"}`, 400, "ttl must be between"},
		{"too many uses", "application/json", `{"uses":100000}`, 400, "uses must be between"},
		{"negative uses", "application/json", `{"uses":-1}`, 400, "uses must be between"},
		{"uses not a number", "application/json", `{"uses":"3"}`, 400, "uses"},
		{"groups not a list", "application/json", `{"groups":"a,b"}`, 400, "groups"},
		{"bad group", "application/json", `{"groups":["no spaces"]}`, 400, "group names"},
		{"group with a comma", "application/json", `{"groups":["a,b"]}`, 400, "group names"},
		{"an array", "application/json", `[]`, 400, "single JSON object"},
		{"null", "application/json", `null`, 400, "single JSON object"},
		{"trailing data", "application/json", `{}{}`, 400, "single JSON object"},
		{"not JSON", "application/json", `{"ttl":`, 400, "single JSON object"},
		{"empty body", "application/json", ``, 400, "single JSON object"},
		{"text/plain", "text/plain", `{}`, 415, "application/json"},
		{"a form", "application/x-www-form-urlencoded", `ttl=1h`, 415, "application/json"},
		{"no content type", "", `{}`, 415, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do("POST", "/admin/api/invites", tc.ctype, tc.body, bearer(f.admin))
			if w.Code != tc.want || !strings.Contains(adminJSONError(t, w), tc.err) {
				t.Fatalf("%d %s, want %d %q", w.Code, w.Body, tc.want, tc.err)
			}
		})
	}
	if inv, _ := f.svc.Invites(context.Background()); len(inv) != 2 {
		t.Fatalf("refused requests made invites: %d", len(inv))
	}

	if w := f.do("DELETE", "/admin/api/invites/"+id, "", "", bearer(f.admin)); w.Code != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	for _, target := range []string{id, "0123456789abcdef"} {
		if w := f.do("DELETE", "/admin/api/invites/"+target, "", "", bearer(f.admin)); w.Code != 404 || adminJSONError(t, w) != "no such invite" {
			t.Fatalf("revoke %s again: %d %s", target, w.Code, w.Body)
		}
	}
	if inv, _ := f.svc.Invites(context.Background()); len(inv) != 1 || inv[0].ID == id {
		t.Fatalf("after revoke: %v", inv)
	}

	t.Run("no login URL: no url", func(t *testing.T) {
		f := newAdminFixture(t, func(_ *accounts.Config, w *web.Config) { w.LoginURL = "" })
		resp := f.invite(t, `{"uses":2}`)
		if _, ok := resp["url"]; ok || resp["code"] == "" {
			t.Fatalf("%v", resp)
		}
	})
}

// TestAdminAPIUserActions: reset links, groups, sessions and deletion, with
// their 404 for unknown accounts and 409 for users-file accounts.
func TestAdminAPIUserActions(t *testing.T) {
	f := newAdminFixture(t, nil)
	bobTok := f.login(t, "bob", adminTestPW)
	admin := bearer(f.admin)
	staticErr := "account is defined in the users file"
	for _, tc := range []struct {
		name, method, path, ctype, body string
		want                            int
		err                             string
	}{
		{"reset link, no body", "POST", "/admin/api/users/bob/reset-link", "", "", 201, ""},
		{"reset link, ttl", "POST", "/admin/api/users/Bob/reset-link", "application/json", `{"ttl":"2h"}`, 201, ""},
		{"reset link, empty object", "POST", "/admin/api/users/bob/reset-link", "application/json", `{}`, 201, ""},
		{"reset link, bad ttl", "POST", "/admin/api/users/bob/reset-link", "application/json", `{"ttl":"2 days"}`, 400, "ttl must be a duration"},
		{"reset link, ttl too long", "POST", "/admin/api/users/bob/reset-link", "application/json", `{"ttl":"48h"}`, 400, "ttl must be between"},
		{"reset link, not an object", "POST", "/admin/api/users/bob/reset-link", "application/json", `"1h"`, 400, "single JSON object"},
		{"reset link, text/plain", "POST", "/admin/api/users/bob/reset-link", "text/plain", `{"ttl":"1h"}`, 415, "application/json"},
		{"reset link, unknown", "POST", "/admin/api/users/nobody/reset-link", "", "", 404, "user not found"},
		{"reset link, impossible name", "POST", "/admin/api/users/%20x%20/reset-link", "", "", 404, "user not found"},
		{"reset link, users file", "POST", "/admin/api/users/root/reset-link", "", "", 409, staticErr},

		{"groups, bad name", "PUT", "/admin/api/users/bob/groups", "application/json", `{"groups":["a b"]}`, 400, "group names"},
		{"groups, missing", "PUT", "/admin/api/users/bob/groups", "application/json", `{}`, 400, "groups is required"},
		{"groups, not a list", "PUT", "/admin/api/users/bob/groups", "application/json", `{"groups":"a"}`, 400, "groups"},
		{"groups, no body", "PUT", "/admin/api/users/bob/groups", "application/json", ``, 400, "single JSON object"},
		{"groups, text/plain", "PUT", "/admin/api/users/bob/groups", "text/plain", `{"groups":[]}`, 415, "application/json"},
		{"groups, unknown", "PUT", "/admin/api/users/nobody/groups", "application/json", `{"groups":[]}`, 404, "user not found"},
		{"groups, users file", "PUT", "/admin/api/users/root/groups", "application/json", `{"groups":[]}`, 409, staticErr},

		{"sessions, unknown", "DELETE", "/admin/api/users/nobody/sessions", "", "", 404, "user not found"},
		{"sessions, users file", "DELETE", "/admin/api/users/root/sessions", "", "", 204, ""},

		{"delete, unknown", "DELETE", "/admin/api/users/nobody", "", "", 404, "user not found"},
		{"delete, users file", "DELETE", "/admin/api/users/root", "", "", 409, staticErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(tc.method, tc.path, tc.ctype, tc.body, admin)
			if w.Code != tc.want {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tc.want)
			}
			if tc.err != "" && !strings.Contains(adminJSONError(t, w), tc.err) {
				t.Fatalf("error %s, want %q", w.Body, tc.err)
			}
			if tc.want == 201 {
				var resp map[string]string
				if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || len(resp) != 2 ||
					!strings.HasPrefix(resp["url"], "/reset?token=") || w.Header().Get("Cache-Control") != "no-store" {
					t.Fatalf("reset link: %s %v", w.Body, err)
				}
				if _, err := time.Parse(time.RFC3339, resp["expires"]); err != nil {
					t.Fatal(err)
				}
			}
		})
	}

	// A reset link the API made works once.
	w := f.do("POST", "/admin/api/users/bob/reset-link", "application/json", `{"ttl":"10m"}`, admin)
	var link map[string]string
	_ = json.Unmarshal(w.Body.Bytes(), &link)
	u, _ := url.Parse(link["url"])
	if user, err := f.svc.ResetPassword(context.Background(), u.Query().Get("token"), "a new battery staple"); err != nil || user != "bob" {
		t.Fatalf("reset: %q %v", user, err)
	}

	// Groups: stored normalised, and bob's sessions end.
	bobTok = f.login(t, "bob", "a new battery staple")
	if w := f.do("PUT", "/admin/api/users/bob/groups", "application/json", `{"groups":["Family"," friends ","family"]}`, admin); w.Code != 204 {
		t.Fatalf("groups: %d %s", w.Code, w.Body)
	}
	if got, _ := f.store.User(context.Background(), "bob"); !slices.Equal(got.Groups, []string{"family", "friends"}) {
		t.Fatalf("groups stored: %v", got.Groups)
	}
	if f.tokenLive(t, bobTok, "bob") {
		t.Fatal("bob's session outlived the change of groups")
	}
	if w := f.do("PUT", "/admin/api/users/bob/groups", "application/json", `{"groups":[]}`, admin); w.Code != 204 {
		t.Fatalf("groups: %d %s", w.Code, w.Body)
	}
	if got, _ := f.store.User(context.Background(), "bob"); len(got.Groups) != 0 {
		t.Fatalf("groups not cleared: %v", got.Groups)
	}

	// Sessions.
	if !f.tokenLive(t, f.alice, "alice") {
		t.Fatal("alice not signed in")
	}
	if w := f.do("DELETE", "/admin/api/users/alice/sessions", "", "", admin); w.Code != 204 {
		t.Fatalf("sessions: %d %s", w.Code, w.Body)
	}
	if f.tokenLive(t, f.alice, "alice") {
		t.Fatal("alice's session outlived the end of sessions")
	}

	// Deletion.
	if w := f.do("DELETE", "/admin/api/users/alice", "", "", admin); w.Code != 204 {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	if f.userExists("alice") {
		t.Fatal("alice not deleted")
	}
	if w := f.do("DELETE", "/admin/api/users/alice", "", "", admin); w.Code != 404 {
		t.Fatalf("delete again: %d %s", w.Code, w.Body)
	}
}

// TestAdminActionsLogged: each action is logged at info with the admin,
// the action and the target; never a code or a link.
func TestAdminActionsLogged(t *testing.T) {
	f := newAdminFixture(t, nil)
	admin := bearer(f.admin)
	resp := f.invite(t, `{"groups":["family"]}`)
	w := f.do("POST", "/admin/api/users/bob/reset-link", "", "", admin)
	var link map[string]string
	_ = json.Unmarshal(w.Body.Bytes(), &link)
	f.do("PUT", "/admin/api/users/bob/groups", "application/json", `{"groups":["x"]}`, admin)
	f.do("DELETE", "/admin/api/users/bob/sessions", "", "", admin)
	f.do("DELETE", "/admin/api/invites/"+resp["id"].(string), "", "", admin)
	f.do("DELETE", "/admin/api/users/bob", "", "", admin)
	// From the page too.
	pw := f.do("POST", "/admin/invites", "application/x-www-form-urlencoded", "uses=1&ttl=1h", adminCookie(f.admin))
	pageCode := oneTimeCode(t, pw.Body.String())

	log := f.log.String()
	for _, want := range []string{
		"action=\"create invite\" target=" + resp["id"].(string),
		"action=\"create reset link\" target=bob",
		"action=\"set groups\" target=bob",
		"action=\"end sessions\" target=bob",
		"action=\"revoke invite\" target=" + resp["id"].(string),
		"action=\"delete user\" target=bob",
	} {
		if !strings.Contains(log, "level=INFO msg=\"admin action\" admin=boss "+want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	token := strings.TrimPrefix(link["url"], "/reset?token=")
	for _, secret := range []string{resp["code"].(string), url.QueryEscape(resp["code"].(string)), token, pageCode} {
		if secret == "" || strings.Contains(log, secret) {
			t.Fatalf("log holds a code (%q):\n%s", secret, log)
		}
	}
}
