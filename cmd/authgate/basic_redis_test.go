package main

import (
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/authgate/authgate/accounts/redistest"
)

// TestBasicGroupsChangeReachesEveryReplica: with two gates on one Redis,
// `authgate users groups bob ""` refuses bob's Basic credentials on an
// admins-only location at once, on the replica that had them cached too.
// Before, the Basic cache kept the old groups for up to
// AUTHGATE_BASIC_CACHE_TTL (up to an hour): 200 with Remote-Groups: admins.
func TestBasicGroupsChangeReachesEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	env := []string{"AUTHGATE_SECRET=" + goodSecret, "AUTHGATE_STORE=" + srv.URL(), "AUTHGATE_BASIC_CACHE_TTL=1h",
		"AUTHGATE_ARGON2_MEMORY=1024", "AUTHGATE_ARGON2_TIME=1"}
	a, b := startGate(t, env...), startGate(t, env...)
	if _, err := runCLI(t, pw+"\n", env, "users", "add", "bob", "-groups", "admins"); err != nil {
		t.Fatal(err)
	}
	basic := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:"+pw))}
	for _, g := range []*gate{a, b} {
		resp, _ := g.do(t, "GET", "/verify?groups=admins", "", "", basic)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Remote-Groups") != "admins" {
			t.Fatalf("%s before the change: %d %q", g.base, resp.StatusCode, resp.Header.Get("Remote-Groups"))
		}
	}
	if _, err := runCLI(t, "", env, "users", "groups", "bob", ""); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*gate{a, b} {
		resp, _ := g.do(t, "GET", "/verify?groups=admins", "", "", basic)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s right after the groups change: %d %q, want 403", g.base, resp.StatusCode, resp.Header.Get("Remote-Groups"))
		}
		resp, _ = g.do(t, "GET", "/verify", "", "", basic)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Remote-Groups") != "" {
			t.Fatalf("%s without a rule: %d %q, want 200 with no groups", g.base, resp.StatusCode, resp.Header.Get("Remote-Groups"))
		}
	}
	if _, err := runCLI(t, "", env, "users", "delete", "bob"); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*gate{a, b} {
		if resp, _ := g.do(t, "GET", "/verify", "", "", basic); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s after deletion: %d, want 401", g.base, resp.StatusCode)
		}
	}
}
