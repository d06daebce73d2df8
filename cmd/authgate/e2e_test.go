package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestEndToEnd(t *testing.T) {
	g := startGate(t, "AUTHGATE_SECRET="+goodSecret, "AUTHGATE_LOGIN_URL=https://auth.example.com/login", "AUTHGATE_COOKIE_DOMAIN=example.com")

	resp, body := g.do(t, "POST", "/register", "application/json", `{"username":"Alice","password":"correct horse battery","email":"alice@example.com"}`, nil)
	if resp.StatusCode != 201 || !strings.Contains(body, `"username":"alice"`) {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	resp, body = g.do(t, "POST", "/login", "application/json", `{"username":"alice","password":"correct horse battery"}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal([]byte(body), &tok)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "authgate_session" {
			cookie = c
		}
	}
	if tok.AccessToken == "" || cookie == nil || cookie.Value != tok.AccessToken {
		t.Fatalf("login gave token %q and cookie %+v", tok.AccessToken, cookie)
	}

	for name, hdr := range map[string]map[string]string{
		"bearer": {"Authorization": "Bearer " + tok.AccessToken},
		"cookie": {"Cookie": "authgate_session=" + cookie.Value},
	} {
		resp, _ := g.do(t, "GET", "/verify", "", "", hdr)
		if resp.StatusCode != 200 || resp.Header.Get("Remote-User") != "alice" || resp.Header.Get("Remote-Email") != "alice@example.com" {
			t.Fatalf("verify %s: %d %v", name, resp.StatusCode, resp.Header)
		}
	}

	// A browser navigation relayed by Traefik/Caddy is sent to the login page.
	resp, _ = g.do(t, "GET", "/verify", "", "", map[string]string{
		"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/reports", "Accept": "text/html",
	})
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://auth.example.com/login?rd=https%3A%2F%2Fapp.example.com%2Freports" {
		t.Fatalf("navigation: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	resp, _ = g.do(t, "POST", "/logout", "", "", map[string]string{"Authorization": "Bearer " + tok.AccessToken})
	if resp.StatusCode != 204 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	for _, hdr := range []map[string]string{
		{"Authorization": "Bearer " + tok.AccessToken},
		{"Cookie": "authgate_session=" + cookie.Value},
	} {
		resp, _ := g.do(t, "GET", "/verify", "", "", hdr)
		if resp.StatusCode != 401 || resp.Header.Get("Remote-User") != "" {
			t.Fatalf("verify after logout: %d", resp.StatusCode)
		}
	}
	if strings.Contains(g.Logs(), tok.AccessToken) || strings.Contains(g.Logs(), "correct horse battery") {
		t.Fatal("a token or password reached the log")
	}
}

func TestRestartEndsSessions(t *testing.T) {
	env := []string{"AUTHGATE_SECRET=" + goodSecret}
	g := startGate(t, env...)
	g.do(t, "POST", "/register", "application/json", `{"username":"bob","password":"correct horse battery"}`, nil)
	_, body := g.do(t, "POST", "/login", "application/json", `{"username":"bob","password":"correct horse battery"}`, nil)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal([]byte(body), &tok)
	_ = g.cmd.Process.Kill()
	g2 := startGate(t, env...)
	resp, _ := g2.do(t, "GET", "/verify", "", "", map[string]string{"Authorization": "Bearer " + tok.AccessToken})
	if resp.StatusCode != 401 {
		t.Fatalf("token from before the restart: %d, want 401", resp.StatusCode)
	}
}

func TestUsersFileAndHashPassword(t *testing.T) {
	cmd := exec.Command(buildBinary(t, ".", "-race"), "hash-password")
	cmd.Env = []string{"AUTHGATE_ARGON2_MEMORY=1024", "AUTHGATE_ARGON2_TIME=1"}
	cmd.Stdin = strings.NewReader("static password 1\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hash-password: %v", err)
	}
	hash := strings.TrimSpace(string(out))
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash-password printed %q", hash)
	}
	file := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(file, []byte("# ops\nRoot:"+hash+":admins,ops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGate(t, "AUTHGATE_USERS_FILE="+file, "AUTHGATE_REGISTRATION=closed")
	resp, body := g.do(t, "POST", "/login", "", "", map[string]string{"Authorization": "Basic " + basicAuth("root", "static password 1")})
	if resp.StatusCode != 200 {
		t.Fatalf("static user login: %d %s", resp.StatusCode, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal([]byte(body), &tok)
	resp, _ = g.do(t, "GET", "/verify?groups=admins", "", "", map[string]string{"Authorization": "Bearer " + tok.AccessToken})
	if resp.StatusCode != 200 || resp.Header.Get("Remote-Groups") != "admins,ops" {
		t.Fatalf("verify static user: %d %q", resp.StatusCode, resp.Header.Get("Remote-Groups"))
	}
	resp, body = g.do(t, "POST", "/register", "application/json", `{"username":"x","password":"correct horse battery"}`, nil)
	if resp.StatusCode != 403 || !strings.Contains(body, `"error"`) {
		t.Fatalf("closed registration: %d %s", resp.StatusCode, body)
	}

	// No password on stdin is an error, and a password is never taken
	// from the command line.
	cmd = exec.Command(buildBinary(t, ".", "-race"), "hash-password")
	cmd.Stdin = strings.NewReader("")
	if err := cmd.Run(); err == nil {
		t.Fatal("hash-password without input succeeded")
	}
}

func basicAuth(u, p string) string { return base64.StdEncoding.EncodeToString([]byte(u + ":" + p)) }

func TestLimits(t *testing.T) {
	g := startGate(t, "AUTHGATE_BODY_LIMIT=2048", "AUTHGATE_MAX_HEADER_BYTES=4096")
	resp, body := g.do(t, "POST", "/register", "application/json", `{"username":"a","password":"`+strings.Repeat("x", 4000)+`"}`, nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"error"`) {
		t.Fatalf("big body: %d %s", resp.StatusCode, body)
	}
	resp, _ = g.do(t, "GET", "/verify", "", "", map[string]string{"X-Big": strings.Repeat("x", 16384)})
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("big header: %d", resp.StatusCode)
	}
	resp, body = g.do(t, "GET", "/nope", "", "", nil)
	if resp.StatusCode != 404 || !strings.Contains(body, `{"error":"Not Found"}`) {
		t.Fatalf("404: %d %s", resp.StatusCode, body)
	}
	resp, _ = g.do(t, "GET", "/healthz", "", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	resp, _ = g.do(t, "GET", "/readyz", "", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("readyz: %d", resp.StatusCode)
	}
}

// TestGracefulShutdown sends SIGTERM while a slow login (expensive argon2
// parameters) is in flight: the login still completes and the process exits
// cleanly. The login is sent with "Expect: 100-continue" and its body held
// back: the server answers 100 Continue only when the handler starts
// reading the body, so the request is known to be in the handler when the
// signal goes; the body follows once the gate has logged that it is
// shutting down.
func TestGracefulShutdown(t *testing.T) {
	g := startGate(t, "AUTHGATE_ARGON2_MEMORY=65536", "AUTHGATE_ARGON2_TIME=8")
	resp, body := g.do(t, "POST", "/register", "application/json", `{"username":"slow","password":"correct horse battery"}`, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}

	loginBody := `{"username":"slow","password":"correct horse battery"}`
	bodyR, bodyW := io.Pipe()
	inHandler := make(chan struct{})
	trace := &httptrace.ClientTrace{Got100Continue: func() { close(inHandler) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", g.base+"/login", bodyR)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(loginBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	// The transport must wait for the 100 however long the server takes.
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	defer client.CloseIdleConnections()
	result := make(chan int, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			result <- -1
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()

	select {
	case <-inHandler:
	case code := <-result:
		t.Fatalf("login answered %d before its body was read", code)
	case <-time.After(20 * time.Second):
		t.Fatal("no 100 Continue: the login never reached the handler")
	}
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the gate to start shutting down", func() error {
		if !strings.Contains(g.Logs(), "shutting down; finishing in-flight requests") {
			return errors.New("no shutdown line in its log yet")
		}
		return nil
	})
	if _, err := io.WriteString(bodyW, loginBody); err != nil {
		t.Fatalf("sending the login body after SIGTERM: %v", err)
	}
	_ = bodyW.Close()

	if code := <-result; code != 200 {
		t.Fatalf("in-flight login during shutdown: %d", code)
	}
	select {
	case <-g.exited:
		if g.exitErr != nil {
			t.Fatalf("exit: %v\n%s", g.exitErr, g.Logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
}

// TestSlowClientTimeout: a client that trickles its headers (slowloris) is
// cut off after AUTHGATE_READ_HEADER_TIMEOUT instead of holding a
// connection forever.
func TestSlowClientTimeout(t *testing.T) {
	g := startGate(t, "AUTHGATE_READ_HEADER_TIMEOUT=300ms")
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /verify HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	// The deadline is far beyond the configured timeout: hitting it means
	// the server never closed the connection.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}
