//go:build loadharness

package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadNginx is LOAD_NGINX=1: the gate's cost as users see it, through
// nginx. wrk asks the real nginx, with the protected server of the
// shipped deploy/nginx/authgate.conf reduced to plain HTTP on loopback,
// for a page of a test application, in three arms on the same nginx:
//
//	no auth_request   the same server with "auth_request off;"
//	bare gate         auth_request to a bare Echo handler answering 200
//	                  with the four identity headers (testdata/bareecho,
//	                  BARE_IDENTITY=1)
//	authgate          auth_request to authgate, with a valid session cookie
//
// in alternating rounds. Everything shares the machine, as it would on a
// small host: nginx with one worker, each Go server with GOMAXPROCS=1,
// wrk with one thread; nothing is pinned.
func loadNginx(b *testing.B, wrk, gateBin, bareBin string, gateEnv []string, duration time.Duration, rounds int) {
	nginx := loadNginxBinary(b)
	// Like for like: the bare gate answers the four identity headers and
	// no signed assertion, so authgate runs without an assertion key here
	// (the direct harness measures the assertion's cost on its own).
	var env []string
	for _, kv := range gateEnv {
		if !strings.HasPrefix(kv, "AUTHGATE_ASSERTION_KEY_FILE=") {
			env = append(env, kv)
		}
	}
	gate := loadStartGate(b, "authgate", nil, gateBin, append(env, "GOMAXPROCS=1"))
	_, cookie := gate.signUp(b, "bench")
	bareGate := loadStart(b, "bare gate", nil, bareBin, []string{loadFreeAddr(b)}, []string{"GOMAXPROCS=1", "BARE_IDENTITY=1"})
	app := loadStart(b, "app", nil, bareBin, []string{loadFreeAddr(b)}, []string{"GOMAXPROCS=1"})
	for _, s := range []*loadServer{bareGate, app} {
		s.base = "http://" + s.cmd.Args[len(s.cmd.Args)-1]
		eventually(b, 30*time.Second, s.name+" to listen", func() error {
			if strings.Contains(s.output(), "listening ") {
				return nil
			}
			return fmt.Errorf("no \"listening\" line yet:\n%s", s.output())
		})
	}

	arms := []struct{ key, name, upstream string }{
		{"none", "no auth_request", ""},
		{"bare", "bare gate", strings.TrimPrefix(bareGate.base, "http://")},
		{"authgate", "authgate", strings.TrimPrefix(gate.base, "http://")},
	}
	ports := map[string]string{}
	var servers strings.Builder
	for _, a := range arms {
		port := strings.TrimPrefix(loadFreeAddr(b), "127.0.0.1:")
		ports[a.key] = port
		servers.WriteString(loadNginxServer(b, a.key, port, a.upstream, strings.TrimPrefix(app.base, "http://")))
	}
	loadStartNginx(b, nginx, servers.String(), ports["none"])

	url := func(key string) string { return "http://127.0.0.1:" + ports[key] + "/reports" }
	headers := []string{"Host: app.example.com", "Cookie: authgate_session=" + cookie}
	for _, a := range arms {
		loadExpectStatus(b, url(a.key), headers, http.StatusOK, "through nginx, "+a.name)
	}
	// The gate is really asked: without the cookie, nginx sends the
	// browser to the login page.
	loadExpectStatus(b, url("authgate"), headers[:1], http.StatusFound, "through nginx to authgate, no cookie")

	fmt.Printf("\nnginx end to end: %s\n", loadMachine())
	fmt.Printf("wrk -t1 -c64 -d%s --latency -> nginx (1 worker, shipped config, plain HTTP) -> app; auth_request to the bare gate or authgate (GOMAXPROCS=1 each); nothing pinned; %d round(s), arms alternately\n",
		loadWrkDur(duration), rounds)
	for _, a := range arms {
		loadRunWrk(b, wrk, nil, 2*time.Second, url(a.key), headers) // warm-up
	}
	results := map[string][]loadWrkResult{}
	for round := range rounds {
		fmt.Printf("round %d/%d\n", round+1, rounds)
		order := []int{0, 1, 2}
		if round%2 == 1 {
			order = []int{2, 1, 0}
		}
		for _, i := range order {
			a := arms[i]
			r := loadRunWrk(b, wrk, nil, duration, url(a.key), headers)
			fmt.Printf("  %-16s %10.0f req/s  p50 %9s  p99 %9s\n", a.name, r.rps, loadFmtUS(r.p50), loadFmtUS(r.p99))
			if r.non2xx > 0 {
				b.Errorf("through nginx, %s: %d answers were not 2xx/3xx", a.name, r.non2xx)
			}
			results[a.key] = append(results[a.key], r)
		}
	}
	rps := func(x loadWrkResult) float64 { return x.rps }
	p50 := func(x loadWrkResult) float64 { return x.p50 }
	p99 := func(x loadWrkResult) float64 { return x.p99 }
	fmt.Printf("\nthrough nginx: median of %d round(s) of %s each (min-max req/s)\n", rounds, loadWrkDur(duration))
	fmt.Printf("%-16s %22s %9s %9s\n", "arm", "req/s", "p50", "p99")
	for _, a := range arms {
		r := results[a.key]
		lo, hi := r[0].rps, r[0].rps
		for _, x := range r {
			lo, hi = min(lo, x.rps), max(hi, x.rps)
		}
		fmt.Printf("%-16s %8.0f (%5.0f-%5.0f) %9s %9s\n", a.name, loadMedianOf(r, rps), lo, hi, loadFmtUS(loadMedianOf(r, p50)), loadFmtUS(loadMedianOf(r, p99)))
	}
	ratio := loadMedianOf(results["authgate"], rps) / loadMedianOf(results["bare"], rps)
	cost := loadMedianOf(results["bare"], rps) / loadMedianOf(results["none"], rps)
	p99Ratio := loadMedianOf(results["authgate"], p99) / loadMedianOf(results["bare"], p99)
	fmt.Printf("authgate / bare gate req/s = %.3f (p99 %.2f); bare gate / no auth_request = %.3f (what auth_request itself costs nginx)\n\n", ratio, p99Ratio, cost)
	b.ReportMetric(ratio, "nginx-authgate-ratio")
	b.ReportMetric(p99Ratio, "nginx-authgate-p99-ratio")
	b.ReportMetric(cost, "nginx-auth-request-ratio")
}

func loadNginxBinary(b *testing.B) string {
	bin := "/usr/sbin/nginx"
	if p, err := exec.LookPath("nginx"); err == nil {
		bin = p
	}
	out, err := exec.Command(bin, "-V").CombinedOutput()
	if err != nil {
		b.Fatalf("LOAD_NGINX=1 needs nginx (`make test-deps` installs it): %v", err)
	}
	if !strings.Contains(string(out), "http_auth_request_module") {
		b.Fatalf("%s has no auth_request module:\n%s", bin, out)
	}
	return bin
}

// loadNginxServer is the shipped config's protected server on port, plain
// HTTP, asking upstream (none: no auth_request) and passing to app.
func loadNginxServer(b *testing.B, key, port, upstream, app string) string {
	src, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nginx", "authgate.conf"))
	if err != nil {
		b.Fatal(err)
	}
	text := string(src)
	i := strings.Index(text, "# The application, protected.")
	if i < 0 {
		b.Fatal("deploy/nginx/authgate.conf: no \"# The application, protected.\" server")
	}
	server := text[i:]
	var lines []string
	for _, l := range strings.Split(server, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "ssl_") {
			continue
		}
		lines = append(lines, l)
	}
	server = strings.Join(lines, "\n")
	gateName, appName := "gate_"+key, "app_"+key
	for _, r := range []struct{ old, new string }{
		{"listen 443 ssl;", "listen 127.0.0.1:" + port + ";"},
		{"proxy_pass http://authgate/", "proxy_pass http://" + gateName + "/"},
		{"proxy_pass http://app;", "proxy_pass http://" + appName + ";"},
	} {
		if !strings.Contains(server, r.old) {
			b.Fatalf("deploy/nginx/authgate.conf: the protected server has no %q", r.old)
		}
		server = strings.ReplaceAll(server, r.old, r.new)
	}
	if upstream == "" {
		server = strings.Replace(server, "    auth_request /_authgate/verify/;", "    auth_request off;", 1)
		upstream = app // never asked
	}
	// As shipped: keep-alive connections to the gate.
	return fmt.Sprintf("upstream %s {\n    server %s;\n    keepalive 16;\n}\nupstream %s {\n    server %s;\n    keepalive 16;\n}\n%s\n",
		gateName, upstream, appName, app, server)
}

func loadStartNginx(b *testing.B, bin, servers, port string) {
	dir := b.TempDir()
	for _, sub := range []string{"body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n"
	}
	conf := fmt.Sprintf(`%sdaemon off;
master_process on;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
%[3]s
}
`, user, dir, servers)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", dir+"/", "-c", path, "-e", "stderr").CombinedOutput(); err != nil {
		b.Fatalf("nginx -t: %v\n%s\n%s", err, out, conf)
	}
	s := loadStart(b, "nginx", nil, bin, []string{"-p", dir + "/", "-c", path, "-e", "stderr"}, nil)
	// SIGTERM, not the SIGKILL loadStart's cleanup sends: the master then
	// stops its worker, which would otherwise live on holding the output
	// pipe, and the harness would wait for it forever. Cleanups run last
	// first, so this one runs before loadStart's.
	b.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
		}
	})
	eventually(b, 10*time.Second, "nginx to listen", func() error {
		resp, err := http.Get("http://127.0.0.1:" + port + "/")
		if err != nil {
			if s.exited() {
				return stopWaiting(fmt.Errorf("nginx exited:\n%s", s.output()))
			}
			return err
		}
		resp.Body.Close()
		return nil
	})
}
