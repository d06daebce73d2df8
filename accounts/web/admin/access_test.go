package admin

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/web"
)

// TestGateOwnPagesOnly: the admin's writes, a password change and the
// second factor come from the gate's own origin only; a sibling subdomain
// under the cookie domain (which the sign-in form accepts) is refused.
func TestGateOwnPagesOnly(t *testing.T) {
	f := newAdminFixture(t, nil)
	sibling := func(tok string) map[string]string {
		return map[string]string{"Cookie": "authgate_session=" + tok, "Origin": "https://wiki.example.com", "Sec-Fetch-Site": "same-site"}
	}
	for _, tc := range []struct{ path, body string }{
		{"/admin/users/alice/groups", url.Values{"groups": {adminTestGroup}}.Encode()},
		{"/account/password", url.Values{"current_password": {adminTestPW}, "new_password": {"a new passphrase"}}.Encode()},
		{"/totp/setup", url.Values{"password": {adminTestPW}}.Encode()},
	} {
		if w := f.do("POST", tc.path, "application/x-www-form-urlencoded", tc.body, sibling(f.admin)); w.Code != http.StatusForbidden {
			t.Errorf("%s from a sibling subdomain: %d, want 403", tc.path, w.Code)
		}
	}
	if u, _ := f.store.User(context.Background(), "alice"); len(u.Groups) != 0 {
		t.Fatalf("alice's groups changed to %v", u.Groups)
	}
}

// TestAdminRightsAreCurrent: admin rights follow the account's groups as
// they are now, not as the token carried them at sign-in.
func TestAdminRightsAreCurrent(t *testing.T) {
	hash, _ := testHasher(t).Hash(context.Background(), adminTestPW)
	static := map[string]accounts.User{"root": {Name: "root", Hash: hash, Groups: []string{"admins"}}}
	f := newFixture(t, func(a *accounts.Config, w *web.Config) { a.Static, w.AdminGroup = static, "admins" })
	tok := f.login(t, "root", adminTestPW)
	bearer := map[string]string{"Authorization": "Bearer " + tok}
	if w := f.do("GET", "/admin/api/users", "", "", bearer); w.Code != 200 {
		t.Fatalf("an admin: %d", w.Code)
	}
	static["root"] = accounts.User{Name: "root", Hash: hash} // the users file edited: no longer an admin
	if w := f.do("GET", "/admin/api/users", "", "", bearer); w.Code != http.StatusForbidden {
		t.Fatalf("a former admin's token: %d, want 403", w.Code)
	}
}
