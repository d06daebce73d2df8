package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogsNeverCarrySecrets sends tokens, cookies, Authorization headers,
// passwords and query strings in every kind of request, with JSON logs at
// debug level and every decision logged, and checks that none of their
// values appears anywhere in the log.
func TestLogsNeverCarrySecrets(t *testing.T) {
	const (
		pw      = "Correct-Horse-Battery-9137"
		wrongPW = "Wrong-Guess-5521-xyzzy"
		queryA  = "qsecret-a-7731"
		queryB  = "qsecret-b-1190"
	)
	logs := &lockedBuffer{}
	cfg, err := loadConfig([]string{"AUTHGATE_SECRET=" + goodSecret, "AUTHGATE_ARGON2_MEMORY=64", "AUTHGATE_ARGON2_TIME=1",
		"AUTHGATE_LOG_LEVEL=debug", "AUTHGATE_LOG_FORMAT=json", "AUTHGATE_DECISION_LOG=all", "AUTHGATE_COOKIE_SECURE=false"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(context.Background(), cfg, newLogger(cfg, logs))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	send := func(method, target, ctype, body string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.RemoteAddr = "127.0.0.1:5555"
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		s.handler.ServeHTTP(w, r)
		return w
	}
	if w := send("POST", "/register?"+queryA+"=1", "application/json", `{"username":"alice","password":"`+pw+`"}`, nil); w.Code != 201 {
		t.Fatalf("register: %d %s", w.Code, w.Body)
	}
	w := send("POST", "/login", "application/json", `{"username":"alice","password":"`+pw+`"}`, nil)
	var resp struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &resp)
	tok := resp.AccessToken
	if tok == "" {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	basicRight := base64.StdEncoding.EncodeToString([]byte("alice:" + pw))
	basicWrong := base64.StdEncoding.EncodeToString([]byte("alice:" + wrongPW))
	send("POST", "/login", "application/json", `{"username":"alice","password":"`+wrongPW+`"}`, nil)
	send("POST", "/login", "application/x-www-form-urlencoded", "username=alice&password="+wrongPW, nil)
	send("POST", "/login", "", "", map[string]string{"Authorization": "Basic " + basicWrong})
	fwd := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/reports?" + queryB + "=1"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range fwd {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	send("GET", "/verify?groups=admins&"+queryA+"=2", "", "", with("Authorization", "Bearer "+tok))
	send("GET", "/verify", "", "", with("Authorization", "Bearer "+tok))
	send("GET", "/verify", "", "", with("Cookie", "authgate_session="+tok))
	send("GET", "/verify", "", "", with("Authorization", "Bearer "+tok+"x"))
	send("GET", "/verify", "", "", with("Authorization", "Basic "+basicRight))
	send("GET", "/verify", "", "", with("Authorization", "Basic "+basicWrong))
	send("GET", "/", "", "", map[string]string{"Cookie": "authgate_session=" + tok})
	send("POST", "/logout", "", "", map[string]string{"Authorization": "Bearer " + tok})
	send("POST", "/register", "text/plain", `password=`+pw, nil)

	out := logs.String()
	if !strings.Contains(out, `"msg":"verify decision"`) || !strings.Contains(out, `"level":"DEBUG"`) {
		t.Fatalf("the log is not at debug with decisions:\n%s", out)
	}
	parts := strings.Split(tok, ".")
	for name, secret := range map[string]string{
		"password": pw, "wrong password": wrongPW, "token": tok, "token signature": parts[len(parts)-1],
		"Basic credentials": basicRight, "wrong Basic credentials": basicWrong, "query string": queryA, "original query string": queryB,
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the log carries the %s", name)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
	}
	if w := send("GET", "/verify", "", "", with("Authorization", "Bearer "+tok)); w.Code != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", w.Code)
	}
}
