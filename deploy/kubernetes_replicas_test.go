package deploy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts/redistest"
)

// checkReplicasShareRedis starts two gates with the Deployment's
// environment (its ConfigMap files in files, by variable), on one real
// redis-server and one signing key, as two replicas would run: a user added with `authgate users add` (run with the
// same environment, as `kubectl exec` does) signs in on one and is let
// through by the other, and a logout on the second is refused by the first.
// Each replica serves its metrics (AUTHGATE_METRICS_LISTEN, moved to a
// loopback port), and their counters follow those requests.
func checkReplicasShareRedis(t *testing.T, c k8sContainer, files map[string]string) {
	srv := redistest.Start(t)
	env := resolveEnv(t, c, map[string]string{"authgate-redis/url": srv.URL()})
	dir := t.TempDir() // one signing key for both, as one Secret mounted by every replica
	var gates, metrics []string
	for range 2 {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		vars := append(localEnv(t, env, files, dir, addr), fastArgon2...)
		maddr := metricsAddr(vars)
		if maddr == "" {
			t.Fatal("the Deployment does not set AUTHGATE_METRICS_LISTEN")
		}
		p := startGate(t, gateConfig{addr: addr, env: vars, probes: []string{c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path}})
		waitMetrics(t, p, maddr)
		gates, metrics = append(gates, "http://"+addr), append(metrics, maddr)
	}
	a, b := gates[0], gates[1]
	metricsA, metricsB := metrics[0], metrics[1]
	passed := map[string]string{"code": "200", "reason": "ok"}
	passedBefore := scrapeMetrics(t, metricsB).sum("authgate_verify_requests_total", passed)

	const name, password = "carol", "correct horse battery"
	cmd := exec.Command(authgateBinary(t), "users", "add", name, "-groups", "admins")
	cmd.Env = append(localEnv(t, env, files, dir, "127.0.0.1:0"), fastArgon2...)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("authgate users add: %v\n%s", err, out)
	}

	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, u, body string, header map[string]string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, u, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, u, err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		return resp, string(rb)
	}

	creds, _ := json.Marshal(map[string]string{"username": name, "password": password})
	resp, body := do(http.MethodPost, a+"/login", string(creds), map[string]string{"Content-Type": "application/json"})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &tok); resp.StatusCode != http.StatusOK || err != nil || tok.AccessToken == "" {
		t.Fatalf("login on replica A: %s %s", resp.Status, body)
	}
	if got := scrapeMetrics(t, metricsA).sum("authgate_logins_total", map[string]string{"result": "success"}); got != 1 {
		t.Errorf("replica A: authgate_logins_total{result=\"success\"} = %v after one sign-in, want 1", got)
	}
	bearer := map[string]string{"Authorization": "Bearer " + tok.AccessToken}
	verifies := []string{"", "?groups=admins"}
	for _, q := range verifies {
		resp, body = do(http.MethodGet, b+"/verify"+q, "", bearer)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("verify%s on replica B with A's token: %s %s", q, resp.Status, body)
		}
		if got := resp.Header.Get("Remote-User"); got != name {
			t.Errorf("verify%s on replica B: Remote-User %q, want %q", q, got, name)
		}
		if got := resp.Header.Get("Remote-Groups"); got != "admins" {
			t.Errorf("verify%s on replica B: Remote-Groups %q, want admins (from `authgate users add -groups`)", q, got)
		}
	}

	mb := scrapeMetrics(t, metricsB)
	if got := mb.sum("authgate_verify_requests_total", passed) - passedBefore; got != float64(len(verifies)) {
		t.Errorf("replica B: authgate_verify_requests_total{code=\"200\",reason=\"ok\"} moved by %v after %d passed /verify requests", got, len(verifies))
	}
	if got := mb.sum("authgate_verify_duration_seconds_count", nil); got != float64(len(verifies)) {
		t.Errorf("replica B: authgate_verify_duration_seconds_count = %v after %d /verify requests", got, len(verifies))
	}

	if resp, body = do(http.MethodPost, b+"/logout", "", bearer); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout on replica B: %s %s", resp.Status, body)
	}
	if got := scrapeMetrics(t, metricsB).sum("authgate_logouts_total", nil); got != 1 {
		t.Errorf("replica B: authgate_logouts_total = %v after one logout, want 1", got)
	}
	start := time.Now()
	eventually(t, time.Second, "replica A refusing the token logged out on B", func() error {
		if resp, _ := do(http.MethodGet, a+"/verify", "", bearer); resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("replica A still answers %s", resp.Status)
		}
		return nil
	})
	t.Logf("logout on B refused on A after %v", time.Since(start).Round(time.Microsecond))
	if got := scrapeMetrics(t, metricsA).sum("authgate_verify_requests_total", map[string]string{"code": "401", "reason": "session_ended"}); got != 1 {
		t.Errorf("replica A: authgate_verify_requests_total{code=\"401\",reason=\"session_ended\"} = %v after one refused token, want 1", got)
	}
}
