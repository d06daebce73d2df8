package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// redisDeployment is what the tests learned from redis.yml.
type redisDeployment struct {
	service, namespace string
	port               int // the Service's port
	pod                k8sPodTemplate
	container          k8sContainer
	args               map[string][]string // redis-server options, without the leading --
}

// redisArgs splits redis-server arguments (--name value...) into options.
func redisArgs(tb testing.TB, args []string) map[string][]string {
	tb.Helper()
	if len(args) > 0 && args[0] == "redis-server" {
		args = args[1:]
	}
	opts := map[string][]string{}
	var cur string
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			cur = strings.ToLower(name)
			if _, dup := opts[cur]; dup {
				tb.Errorf("redis-server option --%s is given twice", cur)
			}
			opts[cur] = []string{}
			continue
		}
		if cur == "" {
			tb.Fatalf("redis-server argument %q before any --option (a config file is not shipped)", a)
		}
		opts[cur] = append(opts[cur], a)
	}
	return opts
}

// kubeExpand replaces $(VAR) in s with env[VAR], as Kubernetes does in
// command and args; a reference to an undefined variable is left as it
// is by Kubernetes, which for --requirepass would make the literal text
// the password, so it fails the test.
func kubeExpand(tb testing.TB, s string, env map[string]string) string {
	tb.Helper()
	return regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := env[name]
		if !ok {
			tb.Errorf("argument %q refers to $(%s), which the container does not define", s, name)
			return m
		}
		return v
	})
}

// checkRedisManifest checks redis.yml, one subtest per object: a
// persistent, password-protected, non-root Redis, a Service that reaches
// it on 6379, and a NetworkPolicy that admits the gate's pods (gateLabels)
// and nobody else. What the subtests and checkRedisRuns cannot do without
// fails t here.
func checkRedisManifest(t *testing.T, objs []k8sObject, ns string, gateLabels map[string]string) redisDeployment {
	t.Helper()
	rd := redisDeployment{service: "redis", namespace: ns}
	sts := find(t, objs, "StatefulSet", ns, "redis")
	var ss k8sStatefulSetSpec
	specOf(t, sts, &ss)
	rd.pod = ss.Template
	if len(ss.Template.Spec.Containers) != 1 {
		t.Fatalf("StatefulSet redis: want one container, got %d", len(ss.Template.Spec.Containers))
	}
	c := ss.Template.Spec.Containers[0]
	rd.container = c
	rd.args = redisArgs(t, c.Args)
	svc := find(t, objs, "Service", ns, rd.service)
	var s k8sServiceSpec
	specOf(t, svc, &s)
	for _, p := range s.Ports {
		if c.port(p.TargetPort) == 6379 || (p.TargetPort == nil && c.port(p.Port) == 6379) {
			rd.port = p.Port
		}
	}

	t.Run("StatefulSet redis", func(t *testing.T) { checkRedisStatefulSet(t, ss, rd, gateLabels) })
	t.Run("Service redis", func(t *testing.T) { checkRedisService(t, objs, ss, s, rd, gateLabels) })
	t.Run("NetworkPolicy redis", func(t *testing.T) { checkRedisNetworkPolicy(t, objs, rd, gateLabels) })
	return rd
}

// checkRedisStatefulSet checks the Redis pods: one, hardened, pinned,
// persistent and password-protected.
func checkRedisStatefulSet(tb testing.TB, ss k8sStatefulSetSpec, rd redisDeployment, gateLabels map[string]string) {
	tb.Helper()
	labels, c := rd.pod.Metadata.Labels, rd.container
	if ss.Replicas != nil && *ss.Replicas != 1 {
		tb.Errorf("StatefulSet redis: replicas %d, want 1 (more pods would be separate, empty databases)", *ss.Replicas)
	}
	if len(ss.Selector.MatchLabels) == 0 || !ss.Selector.selects(tb, labels) {
		tb.Errorf("StatefulSet redis: selector %v does not match its pod labels %v", ss.Selector.MatchLabels, labels)
	}
	if (k8sLabelSelector{MatchLabels: gateLabels}).selects(tb, labels) {
		tb.Errorf("StatefulSet redis: pod labels %v carry the gate's labels %v; the gate's Service would send requests to Redis", labels, gateLabels)
	}
	checkHardened(tb, "StatefulSet redis", ss.Template, c)
	if uid := runAsUser(ss.Template, c); uid <= 0 {
		tb.Errorf("StatefulSet redis: runAsUser %d, want the image's redis user (999)", uid)
	}
	if !strings.HasPrefix(c.Image, "redis:") || strings.HasSuffix(c.Image, ":latest") || strings.Count(c.Image, ".") < 2 {
		tb.Errorf("StatefulSet redis: image %q, want a pinned redis:X.Y.Z tag", c.Image)
	}
	if len(c.Command) > 0 {
		tb.Errorf("StatefulSet redis: command %v replaces the image's entrypoint; give redis-server options in args", c.Command)
	}
	if got := rd.args["appendonly"]; !slices.Equal(got, []string{"yes"}) {
		tb.Errorf("StatefulSet redis: --appendonly %v, want yes: without it a restart loses every account and session", got)
	}
	if p := rd.args["maxmemory-policy"]; p != nil && !slices.Equal(p, []string{"noeviction"}) {
		tb.Errorf("StatefulSet redis: --maxmemory-policy %v would evict accounts and sessions; want noeviction", p)
	}
	// The password comes from a Secret, through a variable.
	pass := rd.args["requirepass"]
	if len(pass) != 1 {
		tb.Errorf("StatefulSet redis: --requirepass %v, want one value", pass)
	} else {
		m := regexp.MustCompile(`^\$\(([A-Za-z_][A-Za-z0-9_]*)\)$`).FindStringSubmatch(pass[0])
		if m == nil {
			tb.Errorf("StatefulSet redis: --requirepass %q: want $(VAR) with VAR from a Secret, never the password itself", pass[0])
		} else {
			var fromSecret bool
			for _, e := range c.Env {
				fromSecret = fromSecret || (e.Name == m[1] && e.secretRef() != "")
			}
			if !fromSecret {
				tb.Errorf("StatefulSet redis: --requirepass $(%s): %s is not taken from a Secret", m[1], m[1])
			}
		}
	}
	// The data directory is the claim's volume; the root filesystem is
	// read-only.
	dir := "/data" // the image's WORKDIR, Redis's default dir
	if d := rd.args["dir"]; len(d) == 1 {
		dir = d[0]
	}
	var onClaim bool
	for _, m := range c.VolumeMounts {
		for _, vct := range ss.VolumeClaimTemplates {
			if m.Name == vct.Metadata.Name && path.Clean(m.MountPath) == path.Clean(dir) && !m.ReadOnly {
				onClaim = true
				if vct.Spec.Resources.Requests["storage"] == "" {
					tb.Errorf("StatefulSet redis: volumeClaimTemplate %s requests no storage", vct.Metadata.Name)
				}
			}
		}
	}
	if !onClaim {
		tb.Errorf("StatefulSet redis: the data dir %s is not a writable mount of a volumeClaimTemplate", dir)
	}
	for name, pr := range map[string]*k8sProbe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
		if pr == nil {
			continue
		}
		switch {
		case pr.TCPSocket != nil:
			if c.port(pr.TCPSocket.Port) != 6379 {
				tb.Errorf("StatefulSet redis: %s tcpSocket port %v is not Redis's 6379", name, pr.TCPSocket.Port)
			}
		case pr.Exec != nil:
			if !strings.Contains(strings.Join(pr.Exec.Command, " "), "redis-cli") {
				tb.Errorf("StatefulSet redis: %s runs %v, want redis-cli", name, pr.Exec.Command)
			}
		default:
			tb.Errorf("StatefulSet redis: %s: want tcpSocket or exec (redis-cli)", name)
		}
	}
}

// checkRedisService checks that the Service reaches Redis on 6379, and
// that no other Service reaches it.
func checkRedisService(tb testing.TB, objs []k8sObject, ss k8sStatefulSetSpec, s k8sServiceSpec, rd redisDeployment, gateLabels map[string]string) {
	tb.Helper()
	labels, ns := rd.pod.Metadata.Labels, rd.namespace
	if ss.ServiceName != rd.service {
		tb.Errorf("StatefulSet redis: serviceName %q, want the Service %q", ss.ServiceName, rd.service)
	}
	if len(s.Selector) == 0 || !(k8sLabelSelector{MatchLabels: s.Selector}).selects(tb, labels) {
		tb.Errorf("Service redis: selector %v does not select the StatefulSet's pods %v", s.Selector, labels)
	}
	if (k8sLabelSelector{MatchLabels: s.Selector}).selects(tb, gateLabels) {
		tb.Errorf("Service redis: selector %v also selects the gate's pods", s.Selector)
	}
	if rd.port != 6379 {
		tb.Errorf("Service redis: ports %+v, want 6379 reaching the container's 6379", s.Ports)
	}
	// The gate's own Service must not reach Redis.
	for _, o := range objs {
		if o.Kind == "Service" && o.Metadata.Namespace == ns && o.Metadata.Name != rd.service {
			var other k8sServiceSpec
			specOf(tb, o, &other)
			if len(other.Selector) == 0 || (k8sLabelSelector{MatchLabels: other.Selector}).selects(tb, labels) {
				tb.Errorf("Service %s: selector %v also selects the Redis pods", o.Metadata.Name, other.Selector)
			}
		}
	}
}

// checkRedisNetworkPolicy checks that only the gate's pods reach Redis.
func checkRedisNetworkPolicy(tb testing.TB, objs []k8sObject, rd redisDeployment, gateLabels map[string]string) {
	tb.Helper()
	labels, c, ns := rd.pod.Metadata.Labels, rd.container, rd.namespace
	var admitted, policies int
	for _, o := range objs {
		if o.Kind != "NetworkPolicy" || o.Metadata.Namespace != ns {
			continue
		}
		var np k8sNetworkPolicySpec
		specOf(tb, o, &np)
		if !np.PodSelector.selects(tb, labels) {
			continue
		}
		policies++
		if o.APIVersion != "networking.k8s.io/v1" {
			tb.Errorf("NetworkPolicy %s: apiVersion %q", o.Metadata.Name, o.APIVersion)
		}
		if len(np.PolicyTypes) > 0 && !slices.Contains(np.PolicyTypes, "Ingress") {
			tb.Errorf("NetworkPolicy %s: policyTypes %v do not include Ingress", o.Metadata.Name, np.PolicyTypes)
		}
		for i, rule := range np.Ingress {
			if len(rule.From) == 0 {
				tb.Errorf("NetworkPolicy %s: ingress rule %d has no from: it admits every source", o.Metadata.Name, i+1)
			}
			for _, peer := range rule.From {
				if peer.IPBlock != nil || peer.NamespaceSelector != nil || peer.PodSelector == nil || len(peer.PodSelector.MatchLabels) == 0 {
					tb.Errorf("NetworkPolicy %s: ingress rule %d admits an ipBlock, a namespaceSelector or every pod; want only a podSelector with the gate's pod labels (this namespace)", o.Metadata.Name, i+1)
					continue
				}
				if !peer.PodSelector.selects(tb, gateLabels) {
					tb.Errorf("NetworkPolicy %s: ingress rule %d admits pods %v, which are not the gate's %v", o.Metadata.Name, i+1, peer.PodSelector.MatchLabels, gateLabels)
					continue
				}
				ports := len(rule.Ports) == 0
				for _, p := range rule.Ports {
					ports = ports || ((p.Protocol == "" || p.Protocol == "TCP") && c.port(p.Port) == 6379)
				}
				if ports {
					admitted++
				}
			}
		}
	}
	if policies == 0 {
		tb.Error("no NetworkPolicy selects the Redis pods: any pod in the cluster can reach Redis")
	}
	if admitted == 0 {
		tb.Errorf("no NetworkPolicy rule admits the gate's pods %v to Redis on 6379", gateLabels)
	}
}

// checkRedisRuns runs the local redis-server with redis.yml's arguments
// (the password variable filled in, the data dir and port moved here), so
// an option Redis refuses fails here; checks that the append-only file is
// written, that the readiness probe's command passes only with the
// password, and that the gate reaches it with the URL form the Secret
// authgate-redis holds.
func checkRedisRuns(t *testing.T, rd redisDeployment) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found (%v): `make test` installs it with apt-get (Debian package redis-server)", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli not found (%v): it comes with Debian's redis-server package", err)
	}
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	password := hex.EncodeToString(secret)
	secrets := map[string]string{}
	for _, e := range rd.container.Env {
		if ref := e.secretRef(); ref != "" {
			secrets[ref] = password // redis.yml reads one Secret, the password
		}
	}
	env := resolveEnv(t, rd.container, secrets)

	dataDir := t.TempDir()
	port := freePort(t)
	args := slices.Clone(rd.container.Args)
	if len(args) > 0 && args[0] == "redis-server" {
		args = args[1:]
	}
	for i, a := range args {
		if i > 0 && strings.EqualFold(args[i-1], "--dir") {
			a = dataDir
		}
		args[i] = kubeExpand(t, a, env)
	}
	if rd.args["dir"] == nil {
		args = append(args, "--dir", dataDir)
	}
	args = append(args, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--daemonize", "no")
	p := startProcess(t, "redis-server", []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dataDir}, bin, args...)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	waitUntil(t, p, "redis port", 10*time.Second, tcpReady(addr))

	// The readiness probe, with a redis-cli that knows the port.
	probe := rd.container.ReadinessProbe
	if probe == nil || probe.Exec == nil {
		t.Fatal("the Redis readinessProbe is not an exec probe; this test runs it")
	}
	wrapDir := t.TempDir()
	writeFile(t, filepath.Join(wrapDir, "redis-cli"), fmt.Sprintf("#!/bin/sh\nexec %s -p %d \"$@\"\n", cli, port))
	if err := os.Chmod(filepath.Join(wrapDir, "redis-cli"), 0o700); err != nil {
		t.Fatal(err)
	}
	runProbe := func(pass string) error {
		cmd := exec.Command(probe.Exec.Command[0], probe.Exec.Command[1:]...)
		cmd.Env = []string{"PATH=" + wrapDir + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + dataDir}
		for k, v := range env {
			if v == password {
				v = pass
			}
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	waitUntil(t, p, "readiness probe", 10*time.Second, func() error { return runProbe(password) })
	if err := runProbe("not-" + password); err == nil {
		t.Error("the Redis readiness probe passes with a wrong password: it would pass whatever Redis answers")
	}

	out, err := exec.Command(cli, "-p", strconv.Itoa(port), "--no-auth-warning", "-a", password, "config", "get", "appendonly").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "yes") {
		t.Errorf("CONFIG GET appendonly: %v %s", err, out)
	}
	if out, err := exec.Command(cli, "-p", strconv.Itoa(port), "ping").CombinedOutput(); err == nil && strings.Contains(string(out), "PONG") {
		t.Error("Redis answers without the password")
	}

	// The gate with the URL form of the Secret authgate-redis.
	users := func(pass string) error {
		cmd := exec.Command(authgateBinary(t), "users", "list")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dataDir,
			"AUTHGATE_STORE=redis://:" + pass + "@" + addr + "/0"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if strings.Contains(string(out), pass) {
			t.Errorf("authgate users list printed the Redis password:\n%s", out)
		}
		return nil
	}
	if err := users(password); err != nil {
		t.Errorf("authgate users list on redis://:PASSWORD@host:port/0: %v", err)
	}
	if err := users("not-" + password); err == nil {
		t.Error("authgate users list with a wrong Redis password succeeded")
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) == 0 {
		t.Errorf("redis-server wrote nothing in its data dir %s", dataDir)
	}
}
