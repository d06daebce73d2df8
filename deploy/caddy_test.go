package deploy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// caddyVersion is the Caddy the shipped Caddyfile is tested with; the
// Makefile's test-deps builds it into the cache folder below.
const caddyVersion = "v2.11.9"

// caddyBinary finds Caddy: $AUTHGATE_TEST_CADDY (the Makefile sets it),
// else the cache folder `make test` builds it into.
func caddyBinary(tb testing.TB) string {
	tb.Helper()
	path := os.Getenv("AUTHGATE_TEST_CADDY")
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			tb.Fatalf("no $AUTHGATE_TEST_CADDY and no home directory: %v", err)
		}
		path = filepath.Join(home, ".cache", "authgate", "caddy-"+caddyVersion, "caddy")
	}
	bin, err := executable(path)
	if err != nil {
		tb.Fatalf("Caddy %s is needed to test deploy/caddy/Caddyfile and was not found (%v). "+
			"Run `make test`: its test-deps step builds it once into ~/.cache/authgate (go install "+
			"github.com/caddyserver/caddy/v2/cmd/caddy@%s), or set AUTHGATE_TEST_CADDY.", caddyVersion, err, caddyVersion)
	}
	return bin
}

// TestCaddy runs deploy/caddy/Caddyfile, changed only in its upstream
// addresses, in a real Caddy in front of the real gate. A global options
// block gives Caddy the test's ports and its own local CA instead of ACME;
// the site blocks are exactly the shipped ones, HTTPS included.
func TestCaddy(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := startCaddy(t, nil)
	t.Run("exotic alias header names are dropped", func(t *testing.T) {
		tok, _ := s.login(t, bob)
		h := bearer(tok)
		for _, name := range []string{"Remote!User", "Remote$User", "Remote%User", "Remote&User", "Remote'User",
			"Remote+User", "Remote^User", "Remote|User", "Remote~User", "Remote#User", "Remote*User", "Remote`User",
			"X-Forwarded-Preferred-Username"} {
			h[name] = "spoof-" + name
		}
		r := s.do(t, http.MethodGet, s.app+"/whoami", "", h)
		wantIdentity(t, r, bob)
		if r.seen == nil {
			return
		}
		for k, vs := range r.seen.Header {
			for _, v := range vs {
				if strings.Contains(v, "spoof") {
					t.Errorf("upstream received %s: %q, sent by the client", k, v)
				}
			}
		}
	})
	t.Run("an allow rule behind the proxy=caddy marker", func(t *testing.T) {
		r := s.do(t, http.MethodGet, s.app+"/public/index.html", "", navigation)
		if r.status != http.StatusOK || r.seen == nil {
			t.Fatalf("public path without credentials: %d from %s, want 200 from the upstream", r.status, source(r))
		}
		if u := r.seen.Header.Get("Remote-User"); u != "" {
			t.Fatalf("anonymous request reached the app as %q", u)
		}
		// The client's own X-Original-URL is dropped by the Caddyfile and
		// cannot point the rules at another path.
		r = s.do(t, http.MethodGet, s.app+"/private", "", with(navigation, "X-Original-URL", s.app+"/public/x"))
		if r.status == http.StatusOK {
			t.Fatalf("a client's X-Original-URL opened /private: %d", r.status)
		}
	})
	runScenarios(t, s)
	t.Logf("caddy scenarios took %s in all", time.Since(start).Round(time.Millisecond))
}

// startCaddy starts the gate (with gateEnv on top of the tests' settings
// and a rules file: the scenarios' default, plus an allow rule for
// app.example.com/public/*), the echo upstream and Caddy with the shipped
// Caddyfile.
func startCaddy(t *testing.T, gateEnv []string) *stack {
	t.Helper()
	start := time.Now()
	bin := caddyBinary(t)
	dir := t.TempDir()
	up := newUpstream(t)
	gateAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	httpsPort, httpPort := freePort(t), freePort(t)
	login := fmt.Sprintf("https://auth.example.com:%d/login", httpsPort)
	// A rules file whose default is what the scenarios expect without
	// one, plus a public area: the shipped Caddyfile sends a query on
	// every verify URL (proxy=caddy at least), which must not turn an
	// allow into a sign-in.
	rulesFile := filepath.Join(dir, "rules.yaml")
	writeFile(t, rulesFile, "default: authenticated\nrules:\n  - name: public\n    hosts: [app.example.com]\n    paths: [\"/public/*\"]\n    action: allow\n")
	gate := startGate(t, gateConfig{addr: gateAddr, loginURL: login, extraEnv: append([]string{"AUTHGATE_RULES_FILE=" + rulesFile}, gateEnv...)})

	site := render(t, filepath.Join("caddy", "Caddyfile"),
		replacement{"127.0.0.1:8080", gateAddr},
		replacement{"127.0.0.1:3000", up.addr()},
	)
	if strings.HasPrefix(strings.TrimSpace(stripComments(site)), "{") {
		t.Fatal("the shipped Caddyfile has a global options block; merge it with the test's below")
	}
	global := fmt.Sprintf(`{
	admin off
	persist_config off
	local_certs
	skip_install_trust
	default_bind 127.0.0.1
	http_port %d
	https_port %d
}

`, httpPort, httpsPort)
	confPath := filepath.Join(dir, "Caddyfile")
	writeFile(t, confPath, global+site)
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
	}
	if out, err := exec.Command(bin, "validate", "--config", confPath, "--adapter", "caddyfile").CombinedOutput(); err != nil {
		t.Fatalf("caddy validate rejects the Caddyfile: %v\n%s", err, out)
	}
	p := startProcess(t, "caddy", env, bin, "run", "--config", confPath, "--adapter", "caddyfile")

	// Caddy makes its local CA and the sites' certificates in the
	// background after it starts listening.
	rootPath := filepath.Join(dir, "data", "caddy", "pki", "authorities", "local", "root.crt")
	roots := x509.NewCertPool()
	waitUntil(t, p, "local CA", 20*time.Second, func() error {
		b, err := os.ReadFile(rootPath)
		if err != nil {
			return err
		}
		if !roots.AppendCertsFromPEM(b) {
			return errors.New("no certificate in " + rootPath)
		}
		return nil
	})
	for _, name := range []string{"app.example.com", "auth.example.com"} {
		waitUntil(t, p, "certificate for "+name, 20*time.Second, func() error {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp",
				fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{ServerName: name, RootCAs: roots})
			if err != nil {
				return err
			}
			return c.Close()
		})
	}
	t.Logf("caddy ready after %s", time.Since(start).Round(time.Millisecond))

	s := &stack{
		app:            fmt.Sprintf("https://app.example.com:%d", httpsPort),
		auth:           fmt.Sprintf("https://auth.example.com:%d", httpsPort),
		loginURL:       login,
		gateDownStatus: http.StatusBadGateway,
		gate:           gate,
		up:             up,
		client:         newClient(roots),
	}
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

// stripComments drops Caddyfile comment lines.
func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
