package deploy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/authgate/authgate/accounts/redistest"
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

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
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

// pollInterval is how often eventually looks at its condition again.
const pollInterval = 10 * time.Millisecond

// eventually polls cond until it returns nil, failing the test with cond's
// last error when timeout passes first. It is the package's one way to wait
// for something that happens in the background: cond must look at the
// thing itself (a port, a file, an HTTP answer), never at the clock.
func eventually(tb testing.TB, timeout time.Duration, what string, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s after %s: %v", what, timeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// waitUntil is eventually for a condition p serves: it fails at once, with
// p's log, when p ends first.
func waitUntil(tb testing.TB, p *process, what string, timeout time.Duration, ready func() error) {
	tb.Helper()
	eventually(tb, timeout, p.name+": "+what, func() error {
		tb.Helper()
		err := ready()
		if err != nil && p.exited() {
			tb.Fatalf("%s exited (%v) before %s:\n%s", p.name, p.waitErr, what, p.logTail(8<<10))
		}
		return err
	})
}

// freePort returns a loopback TCP port that was free a moment ago.
// freePort is a loopback port for a server about to start (see
// redistest.FreePort for why it is not the kernel's choice).
func freePort(tb testing.TB) int {
	tb.Helper()
	return redistest.FreePort(tb)
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

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
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
