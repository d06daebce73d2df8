package deploy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestNginxMFA runs the README's nginx example of a location that requires
// a second factor (the verify URL's mfa=1) against real nginx: a browser
// with a password-only session is sent to sign in again with mfa=1, an API
// client gets 403, and a session established with a code passes.
func TestNginxMFA(t *testing.T) {
	t.Parallel()
	n := startNginx(t, []string{"AUTHGATE_REGISTRATION=open"},
		replacement{"    location /admin {", `    location /secure {
        auth_request /_authgate/verify/mfa=1;
        error_page 401 =302 $authgate_login;
        proxy_pass http://app;
    }

    location /admin {`})
	s := n.stack
	json := map[string]string{"Content-Type": "application/json"}

	// Users-file accounts keep no second factor: a new account, enrolled
	// through the proxy's auth host as an API client would.
	carol := testUser{name: "carol", password: "carol-Mfa-test-2291"}
	if r := s.do(t, http.MethodPost, s.auth+"/register", fmt.Sprintf(`{"username":%q,"password":%q}`, carol.name, carol.password), json); r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	pwdTok, pwdCookie := s.login(t, carol)
	r := s.do(t, http.MethodPost, s.auth+"/totp/setup", fmt.Sprintf(`{"password":%q}`, carol.password), with(json, "Authorization", "Bearer "+pwdTok))
	var setup struct{ Secret string }
	if err := decodeJSON(r.body, &setup); err != nil || r.status != http.StatusOK {
		t.Fatalf("setup: %d %s", r.status, r.body)
	}
	code := func(offset time.Duration) string {
		c, err := totp.GenerateCode(setup.Secret, time.Now().Add(offset))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if r := s.do(t, http.MethodPost, s.auth+"/totp/confirm", `{"code":"`+code(0)+`"}`, with(json, "Authorization", "Bearer "+pwdTok)); r.status != http.StatusOK {
		t.Fatalf("confirm: %d %s", r.status, r.body)
	}
	r = s.do(t, http.MethodPost, s.auth+"/login", fmt.Sprintf(`{"username":%q,"password":%q,"totp":%q}`, carol.name, carol.password, code(30*time.Second)), json)
	var otp struct {
		AccessToken string `json:"access_token"`
	}
	if err := decodeJSON(r.body, &otp); err != nil || r.status != http.StatusOK || otp.AccessToken == "" {
		t.Fatalf("login with a code: %d %s", r.status, r.body)
	}

	secure := s.app + "/secure/report?q=1"
	t.Run("a password session passes where no second factor is asked", func(t *testing.T) {
		wantUser(t, s.do(t, http.MethodGet, s.app+"/reports", "", with(cookie(pwdCookie), "Accept", "application/json")), carol.name)
	})
	t.Run("a browser with a password session signs in again, with mfa=1", func(t *testing.T) {
		r := s.do(t, http.MethodGet, secure, "", with(navigation, "Cookie", pwdCookie.Name+"="+pwdCookie.Value))
		s.wantLoginRedirect(t, r, secure)
		if loc, _ := url.Parse(r.header.Get("Location")); loc == nil || loc.Query().Get("mfa") != "1" {
			t.Fatalf("Location %q lacks mfa=1", r.header.Get("Location"))
		}
	})
	t.Run("an API client with a password session gets 403", func(t *testing.T) {
		r := s.do(t, http.MethodGet, secure, "", bearer(pwdTok))
		// nginx answers auth_request's 403 with its own page.
		if r.status != http.StatusForbidden || r.seen != nil {
			t.Fatalf("status %d from %s, body %q; want 403 and the upstream untouched", r.status, source(r), r.body)
		}
	})
	t.Run("a session with a code passes", func(t *testing.T) {
		wantUser(t, s.do(t, http.MethodGet, secure, "", bearer(otp.AccessToken)), carol.name)
		wantUser(t, s.do(t, http.MethodGet, secure, "", with(navigation, "Cookie", "authgate_session="+otp.AccessToken)), carol.name)
	})
	t.Run("without a session: the usual login redirect", func(t *testing.T) {
		s.wantLoginRedirect(t, s.do(t, http.MethodGet, secure, "", navigation), secure)
	})
}

// wantUser checks that the upstream answered, for user (carol has no
// groups, and nginx sends no empty header, so wantIdentity does not fit).
func wantUser(t *testing.T, r result, user string) {
	t.Helper()
	if r.status != http.StatusOK || r.seen == nil || r.seen.Header.Get("Remote-User") != user {
		t.Fatalf("status %d from %s, want 200 from the upstream for %s; body %q", r.status, source(r), user, r.body)
	}
}

func decodeJSON(body string, v any) error { return json.NewDecoder(strings.NewReader(body)).Decode(v) }
