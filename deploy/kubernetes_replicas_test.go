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
func checkReplicasShareRedis(t *testing.T, c k8sContainer, files map[string]string) {
	srv := redistest.Start(t)
	env := resolveEnv(t, c, map[string]string{"authgate-redis/url": srv.URL()})
	dir := t.TempDir() // one signing key for both, as one Secret mounted by every replica
	var gates []string
	for range 2 {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		vars := append(localEnv(t, env, files, dir, addr), fastArgon2...)
		startGate(t, gateConfig{addr: addr, env: vars, probes: []string{c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path}})
		gates = append(gates, "http://"+addr)
	}
	a, b := gates[0], gates[1]

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
	bearer := map[string]string{"Authorization": "Bearer " + tok.AccessToken}
	for _, q := range []string{"", "?groups=admins"} {
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

	if resp, body = do(http.MethodPost, b+"/logout", "", bearer); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout on replica B: %s %s", resp.Status, body)
	}
	start := time.Now()
	eventually(t, time.Second, "replica A refusing the token logged out on B", func() error {
		if resp, _ := do(http.MethodGet, a+"/verify", "", bearer); resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("replica A still answers %s", resp.Status)
		}
		return nil
	})
	t.Logf("logout on B refused on A after %v", time.Since(start).Round(time.Microsecond))
}
