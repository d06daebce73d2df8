package deploy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
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

// gateConfig is what startGate needs. Without env the gate runs with the
// tests' own settings: a random secret, a users file with alice and bob,
// loginURL, and extraEnv on top. With env (from localEnv) it runs with
// exactly that environment, as a deployment file sets it.
type gateConfig struct {
	addr     string // 127.0.0.1:port
	loginURL string
	extraEnv []string
	env      []string // the whole environment; loginURL and extraEnv must then be empty
	probes   []string // paths that must answer 200 before startGate returns; /healthz when empty
}

// startGate runs the authgate binary with a clean environment (nothing
// from the developer's shell leaks in) and waits until every probe path
// answers 200.
func startGate(tb testing.TB, cfg gateConfig) *process {
	tb.Helper()
	env := cfg.env
	if env == nil {
		env = defaultGateEnv(tb, cfg)
	} else if cfg.loginURL != "" || cfg.extraEnv != nil {
		tb.Fatal("startGate: give either env or loginURL and extraEnv")
	}
	probes := cfg.probes
	if len(probes) == 0 {
		probes = []string{"/healthz"}
	}
	p := startProcess(tb, "authgate-"+cfg.addr, env, authgateBinary(tb))
	// Its own log line first: a probe alone could be answered by another
	// server that took the port.
	waitUntil(tb, p, "authgate listening", 10*time.Second, func() error {
		if !strings.Contains(p.logTail(1<<16), "authgate listening") {
			return errors.New("not listening yet")
		}
		return nil
	})
	for _, probe := range probes {
		waitUntil(tb, p, probe, 10*time.Second, func() error {
			resp, err := http.Get("http://" + cfg.addr + probe)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", probe, resp.Status)
			}
			return nil
		})
	}
	return p
}

// defaultGateEnv is the tests' own gate environment: a users file, a
// random secret and the example.com domains.
func defaultGateEnv(tb testing.TB, cfg gateConfig) []string {
	tb.Helper()
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
	return append(env, cfg.extraEnv...)
}

// localEnv turns a deployment's environment into one the real binary runs
// with here: AUTHGATE_LISTEN becomes addr, AUTHGATE_METRICS_LISTEN (when
// set) a free loopback address (metricsAddr reads it back), and every
// *_FILE a file in dir,
// written by the first caller, so gates given the same dir share the
// signing key, as replicas mounting one Secret do. files holds the content
// of the files the test cannot make up (the ConfigMap's rules), by variable.
func localEnv(tb testing.TB, env, files map[string]string, dir, addr string) []string {
	tb.Helper()
	vars := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range env {
		switch {
		case k == "AUTHGATE_LISTEN":
			v = addr
		case k == "AUTHGATE_METRICS_LISTEN" && v != "":
			v = fmt.Sprintf("127.0.0.1:%d", freePort(tb))
		case k == "AUTHGATE_SECRET_FILE":
			v = filepath.Join(dir, "secret")
			if !fileExists(v) {
				secret := make([]byte, 32)
				if _, err := rand.Read(secret); err != nil {
					tb.Fatal(err)
				}
				writeFile(tb, v, hex.EncodeToString(secret)+"\n")
			}
		case k == "AUTHGATE_USERS_FILE":
			v = usersFile(tb, dir)
		case strings.HasSuffix(k, "_FILE"):
			content, ok := files[k]
			if !ok {
				tb.Fatalf("%s: the test does not know what file to put there", k)
			}
			v = filepath.Join(dir, strings.ToLower(strings.TrimPrefix(k, "AUTHGATE_")))
			if !fileExists(v) {
				writeFile(tb, v, content)
			}
		}
		vars = append(vars, k+"="+v)
	}
	sort.Strings(vars)
	return vars
}

// metricsAddr is AUTHGATE_METRICS_LISTEN in vars (KEY=VALUE lines), where
// localEnv moved it; "" when metrics are off.
func metricsAddr(vars []string) string {
	for _, kv := range vars {
		if v, ok := strings.CutPrefix(kv, "AUTHGATE_METRICS_LISTEN="); ok {
			return v
		}
	}
	return ""
}

// checkGateEnv starts the real binary with an environment taken from a
// deployment file (with its file paths and listen address moved into a
// temp dir), so that a setting the gate refuses fails here rather than in
// production, and checks that the probe paths answer 200.
func checkGateEnv(tb testing.TB, env map[string]string, probes ...string) {
	tb.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(tb))
	startGate(tb, gateConfig{addr: addr, env: localEnv(tb, env, nil, tb.TempDir(), addr), probes: probes})
}
