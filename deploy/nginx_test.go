package deploy

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nginxBinary finds nginx: $AUTHGATE_TEST_NGINX, then PATH, then Debian's
// /usr/sbin/nginx (not on a normal user's PATH).
func nginxBinary(tb testing.TB) string {
	tb.Helper()
	var candidates []string
	if p := os.Getenv("AUTHGATE_TEST_NGINX"); p != "" {
		candidates = append(candidates, p)
	} else {
		if p, err := exec.LookPath("nginx"); err == nil {
			candidates = append(candidates, p)
		}
		candidates = append(candidates, "/usr/sbin/nginx")
	}
	bin, err := executable(candidates...)
	if err != nil {
		tb.Fatalf("nginx is needed to test deploy/nginx/authgate.conf and was not found (%v). "+
			"Run `make test`: its test-deps step installs it (apt-get install nginx), or set AUTHGATE_TEST_NGINX.", err)
	}
	out, _ := exec.Command(bin, "-V").CombinedOutput()
	if !strings.Contains(string(out), "http_auth_request_module") {
		tb.Fatalf("%s was built without the auth_request module, which deploy/nginx/authgate.conf needs:\n%s", bin, out)
	}
	return bin
}

// TestNginx runs deploy/nginx/authgate.conf, changed only in its ports and
// certificate paths, in a real nginx in front of the real gate.
func TestNginx(t *testing.T) {
	t.Parallel()
	start := time.Now()
	n := startNginx(t, nil)
	s := n.stack
	t.Run("plain HTTP redirects to HTTPS", func(t *testing.T) {
		r := s.do(t, http.MethodGet, fmt.Sprintf("http://app.example.com:%d/docs?x=1", n.httpPort), "", navigation)
		if r.status != http.StatusMovedPermanently || r.header.Get("Location") != "https://app.example.com/docs?x=1" {
			t.Errorf("got %d Location %q, want 301 to https://app.example.com/docs?x=1", r.status, r.header.Get("Location"))
		}
	})
	runScenarios(t, s)
	t.Logf("nginx scenarios took %s in all", time.Since(start).Round(time.Millisecond))
}

// TestNginxLockedBasicClient: a client locked out after wrong Basic
// passwords gets 401 with Retry-After through nginx, not the 500 nginx
// makes of any other status from auth_request (a 429 became an error page).
func TestNginxLockedBasicClient(t *testing.T) {
	t.Parallel()
	n := startNginx(t, []string{"AUTHGATE_MAX_FAILURES=2", "AUTHGATE_MAX_FAILURES_PER_IP=100"})
	s := n.stack
	basic := func(pw string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(bob.name+":"+pw))}
	}
	if r := s.do(t, http.MethodGet, s.app+"/api/items", "", basic(bob.password)); r.status != http.StatusOK || r.seen == nil || r.seen.Header.Get("Remote-User") != bob.name {
		t.Fatalf("right Basic password: %d", r.status)
	}
	for i := range 2 {
		if r := s.do(t, http.MethodGet, s.app+"/api/items", "", basic("wrong password")); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i+1, r.status)
		}
	}
	r := s.do(t, http.MethodGet, s.app+"/api/items", "", basic(bob.password))
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != http.StatusUnauthorized || err != nil || ra < 800 || ra > 900 || r.seen != nil {
		t.Fatalf("locked client through nginx: %d Retry-After %q, want 401 with about 900", r.status, r.header.Get("Retry-After"))
	}
	if r := s.do(t, http.MethodGet, s.app+"/api/items", "", nil); r.header.Get("Retry-After") != "" {
		t.Fatalf("Retry-After on an answer without a lock: %q", r.header.Get("Retry-After"))
	}
}

// TestNginxRules runs the shipped nginx config in front of a gate with an
// access rules file (AUTHGATE_RULES_FILE): a public path passes without
// credentials, and with none of the client's identity headers; a path for
// the group admins refuses other users; a retired host is refused to
// everyone; and the verify URL's own groups still apply after an allow.
func TestNginxRules(t *testing.T) {
	t.Parallel()
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, rulesFile, `default: authenticated
rules:
  - name: public
    hosts: [app.example.com]
    paths: ["/public/*"]
    methods: [GET, HEAD]
    action: allow
  # In nginx's location "/": the file alone asks for the group.
  - name: console
    hosts: [app.example.com]
    paths: ["/console/*"]
    action: authenticated
    groups: [admins]
  # In nginx's location /admin, whose verify URL says groups=admins.
  - name: admin-help
    hosts: [app.example.com]
    paths: [/admin/help]
    action: allow
  - name: retired
    hosts: [old.example.com]
    action: deny
`)
	n := startNginx(t, []string{"AUTHGATE_RULES_FILE=" + rulesFile},
		// The retired application, still served by this nginx.
		replacement{"server_name app.example.com;", "server_name app.example.com old.example.com;"})
	s := n.stack
	old := fmt.Sprintf("https://old.example.com:%d", n.httpsPort)
	aliceTok, aliceCookie := s.login(t, alice)
	bobTok, bobCookie := s.login(t, bob)

	t.Run("public path without credentials", func(t *testing.T) {
		for _, h := range []map[string]string{nil, navigation, with(apiClient,
			"Remote-User", "spoof-user", "Remote-Groups", "spoof-admins", "Remote-Email", "spoof@evil.example", "Remote-Name", "spoof")} {
			r := s.do(t, http.MethodGet, s.app+"/public/index.html?x=1", "", h)
			if r.status != http.StatusOK || r.seen == nil {
				t.Fatalf("status %d from %s, want 200 from the upstream; body %q", r.status, source(r), r.body)
			}
			for _, k := range []string{"Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name"} {
				for _, v := range r.seen.Header.Values(k) {
					if v != "" {
						t.Errorf("upstream %s = %q on an anonymous public request, want empty or absent", k, v)
					}
				}
			}
		}
	})
	t.Run("public path with a session names the user", func(t *testing.T) {
		wantIdentity(t, s.do(t, http.MethodGet, s.app+"/public/index.html", "", cookie(bobCookie)), bob)
	})
	// In nginx's location "/", every 401 becomes the redirect to the
	// login page.
	t.Run("a method the public rule does not list must sign in", func(t *testing.T) {
		r := s.do(t, http.MethodPost, s.app+"/public/form", "x=1", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		s.wantLoginRedirect(t, r, s.app+"/public/form")
	})
	t.Run("paths outside the public rule must sign in", func(t *testing.T) {
		for _, path := range []string{"/publicity", "/public/../whoami", "/public/..%2fwhoami", "/public%2F..%2Fwhoami", "/PUBLIC/index.html"} {
			r := s.do(t, http.MethodGet, s.app+path, "", apiClient)
			if r.seen != nil || r.status != http.StatusFound && r.status != http.StatusBadRequest {
				t.Errorf("anonymous %s: status %d from %s, want 302 to the login page (or 400 from nginx)", path, r.status, source(r))
			}
		}
	})
	t.Run("the group's area", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			creds      map[string]string
			user       *testUser // nil: 403
		}{
			{"member with a cookie", "/console/settings", cookie(aliceCookie), &alice},
			{"member with a token on the bare path", "/console", bearer(aliceTok), &alice},
			{"non-member with a cookie", "/console/settings", cookie(bobCookie), nil},
			{"non-member with a token", "/console", bearer(bobTok), nil},
			{"non-member through the public path", "/public/../console/settings", bearer(bobTok), nil},
			{"non-member with an escaped path", "/%63onsole/settings", bearer(bobTok), nil},
			{"non-member with an encoded slash", "/public%2f..%2fconsole/settings", bearer(bobTok), nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.do(t, http.MethodGet, s.app+tc.path, "", tc.creds)
				if tc.user != nil {
					wantIdentity(t, r, *tc.user)
					return
				}
				if r.seen != nil || r.status != http.StatusForbidden && r.status != http.StatusBadRequest {
					t.Fatalf("status %d from %s, want 403 (or 400 from nginx)", r.status, source(r))
				}
			})
		}
		r := s.do(t, http.MethodGet, s.app+"/console/settings", "", navigation)
		s.wantLoginRedirect(t, r, s.app+"/console/settings")
	})
	t.Run("an allow does not lift the verify URL's groups", func(t *testing.T) {
		r := s.do(t, http.MethodGet, s.app+"/admin/help", "", navigation)
		s.wantLoginRedirect(t, r, s.app+"/admin/help")
		if r := s.do(t, http.MethodGet, s.app+"/admin/help", "", bearer(bobTok)); r.status != http.StatusForbidden {
			t.Errorf("bob: status %d from %s, want 403", r.status, source(r))
		}
		wantIdentity(t, s.do(t, http.MethodGet, s.app+"/admin/help", "", bearer(aliceTok)), alice)
	})
	t.Run("the retired host is refused to everyone", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			headers    map[string]string
		}{
			{"anonymous browser", "/", navigation},
			{"anonymous API client", "/api/items", apiClient},
			{"admin with a session", "/", cookie(aliceCookie)},
			{"admin with a token in the group location", "/admin/users", bearer(aliceTok)},
			{"public path of the other host", "/public/index.html", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if r := s.do(t, http.MethodGet, old+tc.path, "", tc.headers); r.status != http.StatusForbidden {
					t.Fatalf("status %d from %s, want 403", r.status, source(r))
				}
			})
		}
		// The same session still opens the application next door.
		wantIdentity(t, s.do(t, http.MethodGet, s.app+"/whoami", "", cookie(aliceCookie)), alice)
	})
}

// nginxStack is the shipped nginx config running in front of the real gate.
type nginxStack struct {
	*stack
	httpsPort, httpPort int
	cert                certificate
}

// startNginx starts the gate, the echo upstream and nginx with
// deploy/nginx/authgate.conf, changed in its ports and certificate paths
// and by extra (for example, more host names for the application).
func startNginx(t *testing.T, gateEnv []string, extra ...replacement) *nginxStack {
	t.Helper()
	start := time.Now()
	bin := nginxBinary(t)
	dir := t.TempDir()
	cert := selfSignedCert(t, dir, "app.example.com", "auth.example.com", "wiki.example.com", "old.example.com")
	up := newUpstream(t)
	gateAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	httpsPort, httpPort := freePort(t), freePort(t)
	login := fmt.Sprintf("https://auth.example.com:%d/login", httpsPort)
	gate := startGate(t, gateConfig{addr: gateAddr, loginURL: login, extraEnv: gateEnv})

	conf := render(t, filepath.Join("nginx", "authgate.conf"), append([]replacement{
		{"listen 443 ssl;", fmt.Sprintf("listen 127.0.0.1:%d ssl;", httpsPort)},
		{"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", httpPort)},
		{"server 127.0.0.1:8080;", "server " + gateAddr + ";"},
		{"server 127.0.0.1:3000;", "server " + up.addr() + ";"},
		{"/etc/letsencrypt/live/example.com/fullchain.pem", cert.certPath},
		{"/etc/letsencrypt/live/example.com/privkey.pem", cert.keyPath},
	}, extra...)...)
	writeFile(t, filepath.Join(dir, "authgate.conf"), conf)
	// The main file is the test's own: nginx.conf is the operator's, and
	// the shipped file is what goes into its http block.
	var user string
	if os.Geteuid() == 0 {
		user = "user root;\n" // workers would otherwise run as nobody, outside the 0700 temp dir
	}
	for _, sub := range []string{"body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	main := fmt.Sprintf(`%sdaemon off;
master_process on;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log stderr notice;
events { worker_connections 256; }
http {
    access_log %[2]s/access.log;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[2]s/authgate.conf;
}
`, user, dir)
	confPath := filepath.Join(dir, "nginx.conf")
	writeFile(t, confPath, main)

	if out, err := exec.Command(bin, "-t", "-p", dir+"/", "-c", confPath, "-e", "stderr").CombinedOutput(); err != nil {
		t.Fatalf("nginx -t rejects the config: %v\n%s", err, out)
	}
	p := startProcess(t, "nginx", []string{"PATH=" + os.Getenv("PATH")}, bin, "-p", dir+"/", "-c", confPath, "-e", "stderr")
	waitUntil(t, p, "listening", 10*time.Second, tcpReady(fmt.Sprintf("127.0.0.1:%d", httpsPort)))
	t.Logf("nginx ready after %s", time.Since(start).Round(time.Millisecond))

	s := &stack{
		app:            fmt.Sprintf("https://app.example.com:%d", httpsPort),
		auth:           fmt.Sprintf("https://auth.example.com:%d", httpsPort),
		loginURL:       login,
		gateDownStatus: http.StatusInternalServerError,
		gate:           gate,
		up:             up,
		client:         newClient(cert.pool),
	}
	t.Cleanup(s.client.CloseIdleConnections)
	return &nginxStack{stack: s, httpsPort: httpsPort, httpPort: httpPort, cert: cert}
}
