package deploy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The authgate binary is built once per test run, the first time a test
// asks for it, into a directory TestMain removes.
var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error

	hashOnce  sync.Once
	hashLines string
	hashErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// authgateBinary returns the path of a freshly built ./cmd/authgate.
func authgateBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "authgate-deploy-test-")
		if buildErr != nil {
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("the go tool is not on PATH: %w", err)
			return
		}
		buildBin = filepath.Join(buildDir, "authgate")
		cmd := exec.Command(goTool, "build", "-o", buildBin, "./cmd/authgate")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/authgate: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return buildBin
}

// Test users, from an AUTHGATE_USERS_FILE: group membership can only be
// given there.
type testUser struct {
	name, password string
	groups         []string
}

var (
	alice = testUser{name: "alice", password: "alice-Deploy-test-7319", groups: []string{"admins", "staff"}}
	bob   = testUser{name: "bob", password: "bob-Deploy-test-4852", groups: []string{"staff"}}
)

// Argon2 parameters small enough for tests; the hashes carry them, so the
// gate verifies with the same ones.
var fastArgon2 = []string{"AUTHGATE_ARGON2_MEMORY=1024", "AUTHGATE_ARGON2_TIME=1"}

// usersFile writes a users file for alice and bob into dir. The hashes come
// from `authgate hash-password`, as an operator would make them.
func usersFile(tb testing.TB, dir string) string {
	tb.Helper()
	bin := authgateBinary(tb)
	hashOnce.Do(func() {
		var b strings.Builder
		for _, u := range []testUser{alice, bob} {
			cmd := exec.Command(bin, "hash-password")
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, fastArgon2...)
			cmd.Stdin = strings.NewReader(u.password + "\n")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				hashErr = fmt.Errorf("authgate hash-password: %v: %s", err, stderr.String())
				return
			}
			fmt.Fprintf(&b, "%s:%s:%s\n", u.name, strings.TrimSpace(string(out)), strings.Join(u.groups, ","))
		}
		hashLines = b.String()
	})
	if hashErr != nil {
		tb.Fatal(hashErr)
	}
	path := filepath.Join(dir, "users")
	if err := os.WriteFile(path, []byte(hashLines), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// process is a child process the test started. Its output goes to a log
// file that is printed when the test fails.
type process struct {
	name     string
	cmd      *exec.Cmd
	logPath  string
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// startProcess starts path with args in its own process group, so that
// stop can end the whole group (nginx's workers too) by the group's id.
func startProcess(tb testing.TB, name string, env []string, path string, args ...string) *process {
	tb.Helper()
	logPath := filepath.Join(tb.TempDir(), name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		tb.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	tb.Cleanup(func() {
		p.stop(tb)
		if tb.Failed() {
			tb.Logf("--- %s log (%s) ---\n%s", name, logPath, p.logTail(16<<10))
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to end (SIGTERM), and kills its process group if
// it has not ended within 10 seconds. It is safe to call more than once.
func (p *process) stop(tb testing.TB) {
	tb.Helper()
	p.stopOnce.Do(func() {
		if p.exited() {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			tb.Errorf("%s did not stop within 10s of SIGTERM; killing its process group", p.name)
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

func (p *process) logTail(n int64) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

// waitUntil polls ready until it returns nil, failing the test when the
// process ends first or the timeout passes.
func waitUntil(tb testing.TB, p *process, what string, timeout time.Duration, ready func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = ready(); err == nil {
			return
		}
		if p.exited() {
			tb.Fatalf("%s exited (%v) before %s:\n%s", p.name, p.waitErr, what, p.logTail(8<<10))
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: %s not ready after %s: %v", p.name, what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tcpReady(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// gateConfig is what startGate needs.
type gateConfig struct {
	addr     string // 127.0.0.1:port
	loginURL string
	extraEnv []string
}

// startGate runs the authgate binary with a users file and a clean
// environment (nothing from the developer's shell leaks in).
func startGate(tb testing.TB, cfg gateConfig) *process {
	tb.Helper()
	bin := authgateBinary(tb)
	dir := tb.TempDir()
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		tb.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"AUTHGATE_LISTEN=" + cfg.addr,
		"AUTHGATE_SECRET=" + hex.EncodeToString(secret),
		"AUTHGATE_LOGIN_URL=" + cfg.loginURL,
		"AUTHGATE_COOKIE_DOMAIN=example.com",
		"AUTHGATE_REDIRECT_DOMAINS=example.com",
		"AUTHGATE_REGISTRATION=closed",
		"AUTHGATE_USERS_FILE=" + usersFile(tb, dir),
		"AUTHGATE_SHUTDOWN_TIMEOUT=2s",
		"AUTHGATE_LOG_LEVEL=debug",
	}
	env = append(env, fastArgon2...)
	env = append(env, cfg.extraEnv...)
	p := startProcess(tb, "authgate", env, bin)
	waitUntil(tb, p, "/healthz", 10*time.Second, func() error {
		resp, err := http.Get("http://" + cfg.addr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz: %s", resp.Status)
		}
		return nil
	})
	return p
}

// seenRequest is what the upstream application received.
type seenRequest struct {
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

// upstream is the protected application: it records every request and
// answers with what it saw, as JSON.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

func newUpstream(tb testing.TB) *upstream {
	tb.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		s := seenRequest{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(), Body: string(body)}
		u.mu.Lock()
		u.seen = append(u.seen, s)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", "echo")
		_ = json.NewEncoder(w).Encode(s)
	}))
	tb.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) addr() string { return u.srv.Listener.Addr().String() }

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// certificate is a self-signed certificate for the test host names, acting
// as its own root.
type certificate struct {
	certPath, keyPath string
	pool              *x509.CertPool
}

func selfSignedCert(tb testing.TB, dir string, names ...string) certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	c := certificate{certPath: filepath.Join(dir, "fullchain.pem"), keyPath: filepath.Join(dir, "privkey.pem"), pool: x509.NewCertPool()}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(c.certPath, certPEM, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(c.keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		tb.Fatal(err)
	}
	c.pool.AppendCertsFromPEM(certPEM)
	return c
}

// newClient returns an HTTP client that resolves every host name to
// 127.0.0.1 (keeping the port), so requests carry the real host names in
// SNI and Host, trusts only roots, and never follows redirects.
func newClient(roots *x509.CertPool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
			},
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			// HTTP/1.1 only: header names are sent exactly as written, so
			// the tests can send "remote-user" and "Remote_User".
			ForceAttemptHTTP2: false,
			MaxIdleConns:      8,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// replacement is one templating step: old must occur in the shipped file.
type replacement struct{ old, new string }

// render reads a shipped file and changes only what the test must change
// (ports and paths). Every old string must be present, so an edit to the
// shipped file that the test would silently stop covering fails instead.
// Replacement is a single pass: a new value is never replaced again.
func render(tb testing.TB, path string, reps ...replacement) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	src := string(b)
	var pairs []string
	for _, r := range reps {
		if !strings.Contains(src, r.old) {
			tb.Fatalf("%s no longer contains %q, which the test replaces; update the test with the file", path, r.old)
		}
		pairs = append(pairs, r.old, r.new)
	}
	return strings.NewReplacer(pairs...).Replace(src)
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// executable returns the first of paths that is an executable file.
func executable(paths ...string) (string, error) {
	var errs []error
	for _, p := range paths {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
		if err == nil {
			err = errors.New("not an executable file")
		}
		errs = append(errs, fmt.Errorf("%s: %w", p, err))
	}
	return "", errors.Join(errs...)
}
