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
	cert := selfSignedCert(t, dir, "app.example.com", "auth.example.com", "wiki.example.com")
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
