package main

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	codeLine = regexp.MustCompile(`(?m)^code: (\S+)$`)
	linkLine = regexp.MustCompile(`(?m)^link: (\S+)$`)
)

// TestInvitesAndResetLinksCLI: "authgate invites" and "authgate users
// reset-link" on a bolt store, then the gate honours what they made.
func TestInvitesAndResetLinksCLI(t *testing.T) {
	env := []string{"AUTHGATE_SECRET=" + goodSecret, "AUTHGATE_STORE=bolt://" + filepath.Join(t.TempDir(), "authgate.db"),
		"AUTHGATE_LOGIN_URL=https://auth.example.com/login", "AUTHGATE_REGISTRATION=invite"}

	out, err := runCLI(t, "", env, "invites", "create", "-groups", "family,friends", "-uses", "2", "-ttl", "1h", "-note", "cousins")
	code, link := codeLine.FindStringSubmatch(out), linkLine.FindStringSubmatch(out)
	if err != nil || code == nil || link == nil || link[1] != "https://auth.example.com/login?invite="+url.QueryEscape(code[1]) {
		t.Fatalf("invites create: %v\n%s", err, out)
	}
	out, err = runCLI(t, "", env, "invites", "list", "-json")
	var list []struct {
		ID     string   `json:"id"`
		Note   string   `json:"note"`
		Groups []string `json:"groups"`
		Uses   int      `json:"uses"`
	}
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].Note != "cousins" || list[0].Uses != 2 ||
		strings.Contains(out, code[1]) {
		t.Fatalf("invites list: %v\n%s", err, out)
	}
	other, _ := runCLI(t, "", env, "invites", "create")
	otherCode := codeLine.FindStringSubmatch(other)
	listed, _ := runCLI(t, "", env, "invites", "list")
	if strings.Count(listed, "\n") != 3 {
		t.Fatalf("two invites listed as:\n%s", listed)
	}
	var otherID string
	for _, l := range strings.Split(listed, "\n")[1:] {
		if f := strings.Fields(l); len(f) > 0 && f[0] != list[0].ID {
			otherID = f[0]
		}
	}
	if out, err := runCLI(t, "", env, "invites", "revoke", otherID); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("invites revoke %s: %v %s", otherID, err, out)
	}
	if _, err := runCLI(t, "", env, "invites", "revoke", otherID); err == nil {
		t.Fatal("revoking twice succeeded")
	}
	if _, err := runCLI(t, "", env, "invites", "frobnicate"); err == nil || !strings.Contains(err.Error(), "unknown invites command") {
		t.Fatalf("unknown command: %v", err)
	}

	g := startGate(t, env...)
	if resp, body := g.do(t, "POST", "/register", "application/json", `{"username":"nina","password":"`+pw+`"}`, nil); resp.StatusCode != 403 || !strings.Contains(body, `"invalid invite"`) {
		t.Fatalf("invite mode without an invite: %d %s", resp.StatusCode, body)
	}
	if resp, body := g.do(t, "POST", "/register", "application/json", `{"username":"nina","password":"`+pw+`","invite":"`+otherCode[1]+`"}`, nil); resp.StatusCode != 403 {
		t.Fatalf("a revoked invite: %d %s", resp.StatusCode, body)
	}
	if resp, body := g.do(t, "POST", "/register", "application/json", `{"username":"nina","password":"`+pw+`","invite":"`+code[1]+`"}`, nil); resp.StatusCode != 201 {
		t.Fatalf("register with the invite: %d %s", resp.StatusCode, body)
	}
	if resp, body := g.do(t, "GET", "/login?invite="+url.QueryEscape(code[1]), "", "", nil); resp.StatusCode != 200 || !strings.Contains(body, `name="invite"`) {
		t.Fatalf("login page with ?invite=: %d", resp.StatusCode)
	}
	_ = g.cmd.Process.Kill()
	<-g.exited

	users, _ := runCLI(t, "", env, "users", "list", "-json")
	if !strings.Contains(users, `"groups": [
      "family",
      "friends"
    ]`) {
		t.Fatalf("nina did not get the invite's groups:\n%s", users)
	}
	out, err = runCLI(t, "", env, "users", "reset-link", "nina", "-ttl", "10m")
	first := strings.SplitN(out, "\n", 2)[0]
	lu, perr := url.Parse(first)
	if err != nil || perr != nil || lu.Host != "auth.example.com" || lu.Path != "/reset" || lu.Query().Get("token") == "" {
		t.Fatalf("users reset-link: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "", env, "users", "reset-link", "nina", "-ttl", "48h"); err == nil {
		t.Fatal("a 48h reset link was made")
	}

	g = startGate(t, env...)
	body := `{"token":"` + lu.Query().Get("token") + `","password":"a brand new passphrase"}`
	if resp, b := g.do(t, "POST", "/reset", "application/json", body, nil); resp.StatusCode != 204 {
		t.Fatalf("reset: %d %s", resp.StatusCode, b)
	}
	if resp, _ := g.do(t, "POST", "/reset", "application/json", body, nil); resp.StatusCode != 400 {
		t.Fatalf("the link again: %d", resp.StatusCode)
	}
	if resp, _ := g.do(t, "POST", "/login", "application/json", `{"username":"nina","password":"`+pw+`"}`, nil); resp.StatusCode != 401 {
		t.Fatalf("the old password: %d", resp.StatusCode)
	}
	if resp, _ := g.do(t, "POST", "/login", "application/json", `{"username":"nina","password":"a brand new passphrase"}`, nil); resp.StatusCode != 200 {
		t.Fatalf("the new password: %d", resp.StatusCode)
	}
}
