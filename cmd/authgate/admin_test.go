package main

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminAPIEndToEnd: an admin from the users file drives the admin API
// of the real binary: an invite with groups that a new person registers
// with (registration is invite-only), a reset link that person uses, a
// change of groups, ended sessions, a deletion; others are refused.
func TestAdminAPIEndToEnd(t *testing.T) {
	hash, err := runCLI(t, "static password 1\n", nil, "hash-password")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(file, []byte("root:"+strings.TrimSpace(hash)+":admins\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGate(t, "AUTHGATE_SECRET="+goodSecret, "AUTHGATE_USERS_FILE="+file, "AUTHGATE_REGISTRATION=invite",
		"AUTHGATE_LOGIN_URL=https://auth.example.com/login")
	login := func(name, password string) string {
		resp, body := g.do(t, "POST", "/login", "application/json", `{"username":"`+name+`","password":"`+password+`"}`, nil)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal([]byte(body), &tok) != nil || resp.StatusCode != 200 {
			t.Fatalf("login %s: %d %s", name, resp.StatusCode, body)
		}
		return tok.AccessToken
	}
	admin := map[string]string{"Authorization": "Bearer " + login("root", "static password 1")}
	call := func(method, path, body string, hdr map[string]string) (int, string) {
		t.Helper()
		ctype := ""
		if body != "" {
			ctype = "application/json"
		}
		resp, b := g.do(t, method, path, ctype, body, hdr)
		return resp.StatusCode, b
	}

	st, body := call("POST", "/admin/api/invites", `{"groups":["family"],"uses":1,"ttl":"1h","note":"for nina"}`, admin)
	var inv struct{ ID, Code, URL, Expires string }
	if st != 201 || json.Unmarshal([]byte(body), &inv) != nil || inv.Code == "" || inv.URL != "https://auth.example.com/login?invite="+url.QueryEscape(inv.Code) {
		t.Fatalf("create invite: %d %s", st, body)
	}
	if st, body := call("GET", "/admin/api/invites", "", admin); st != 200 || !strings.Contains(body, inv.ID) || strings.Contains(body, inv.Code) {
		t.Fatalf("list invites: %d %s", st, body)
	}
	if st, _ := call("POST", "/register", `{"username":"nina","password":"`+pw+`","invite":"`+inv.Code+`"}`, nil); st != 201 {
		t.Fatalf("register with the invite: %d", st)
	}
	nina := map[string]string{"Authorization": "Bearer " + login("nina", pw)}
	if resp := g.verify(t, login("nina", pw)); resp.Header.Get("Remote-Groups") != "family" {
		t.Fatalf("nina's groups %q, want the invite's", resp.Header.Get("Remote-Groups"))
	}
	if st, body := call("GET", "/admin/api/users", "", nina); st != 403 || !strings.Contains(body, `"forbidden"`) {
		t.Fatalf("a non-admin: %d %s", st, body)
	}
	if st, _ := call("GET", "/admin/api/users", "", nil); st != 401 {
		t.Fatalf("not signed in: %d", st)
	}
	st, body = call("GET", "/admin/api/users", "", admin)
	var users struct {
		Users []struct {
			Username string   `json:"username"`
			Groups   []string `json:"groups"`
			Sessions int      `json:"sessions"`
			Static   bool     `json:"static"`
		} `json:"users"`
	}
	if st != 200 || json.Unmarshal([]byte(body), &users) != nil || len(users.Users) != 2 || users.Users[0].Username != "nina" ||
		users.Users[0].Sessions != 2 || !users.Users[1].Static {
		t.Fatalf("users: %d %s", st, body)
	}

	st, body = call("POST", "/admin/api/users/nina/reset-link", `{"ttl":"30m"}`, admin)
	var link struct{ URL, Expires string }
	if st != 201 || json.Unmarshal([]byte(body), &link) != nil || !strings.HasPrefix(link.URL, "https://auth.example.com/reset?token=") {
		t.Fatalf("reset link: %d %s", st, body)
	}
	lu, _ := url.Parse(link.URL)
	if st, _ := call("POST", "/reset", `{"token":"`+lu.Query().Get("token")+`","password":"a brand new passphrase"}`, nil); st != 204 {
		t.Fatalf("reset: %d", st)
	}
	if resp, _ := g.do(t, "POST", "/login", "application/json", `{"username":"nina","password":"`+pw+`"}`, nil); resp.StatusCode != 401 {
		t.Fatalf("the old password after the reset: %d", resp.StatusCode)
	}
	ninaTok := login("nina", "a brand new passphrase")
	if st, body := call("POST", "/admin/api/users/root/reset-link", "", admin); st != 409 || !strings.Contains(body, "account is defined in the users file") {
		t.Fatalf("reset link for a users-file account: %d %s", st, body)
	}
	if st, _ := call("PUT", "/admin/api/users/nina/groups", `{"groups":["family","staff"]}`, admin); st != 204 {
		t.Fatalf("set groups: %d", st)
	}
	if resp := g.verify(t, ninaTok); resp.StatusCode != 401 {
		t.Fatalf("a session from before the groups changed: %d, want ended", resp.StatusCode)
	}
	ninaTok = login("nina", "a brand new passphrase")
	if st, _ := call("DELETE", "/admin/api/users/nina/sessions", "", admin); st != 204 {
		t.Fatalf("end sessions: %d", st)
	}
	if resp := g.verify(t, ninaTok); resp.StatusCode != 401 {
		t.Fatalf("a session after end sessions: %d", resp.StatusCode)
	}
	if st, _ := call("DELETE", "/admin/api/invites/"+inv.ID, "", admin); st != 404 {
		t.Fatalf("revoking a used-up invite: %d, want 404", st)
	}
	if st, _ := call("DELETE", "/admin/api/users/nina", "", admin); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if st, _ := call("DELETE", "/admin/api/users/nina", "", admin); st != 404 {
		t.Fatalf("delete twice: %d", st)
	}
	if !strings.Contains(g.Logs(), `msg="admin action"`) || strings.Contains(g.Logs(), inv.Code) || strings.Contains(g.Logs(), lu.Query().Get("token")) {
		t.Fatal("admin actions must be logged, never their codes")
	}
}
