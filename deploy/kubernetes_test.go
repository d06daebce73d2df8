package deploy

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// documentedRedisHost finds the host of the Redis URLs that the manifests
// and the README tell operators to put in the Secret authgate-redis
// (redis://:PASSWORD@redis.authgate.svc.cluster.local:6379/0): service,
// namespace and port.
var documentedRedisHost = regexp.MustCompile(`@([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)/\d+`)

// TestKubernetesManifests checks the shipped manifests, one subtest per
// object; the real gate and redis-server then run with their settings.
func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	g := loadGateManifests(t)

	t.Run("each file creates its namespaces", g.checkNamespaces)
	t.Run("Deployment", func(t *testing.T) {
		t.Run("replicas and security", g.checkDeployment)
		t.Run("spread over nodes", g.checkSpread)
		t.Run("environment", g.checkEnv)
		t.Run("files from Secret volumes", g.checkSecretFiles)
		t.Run("access rules from the ConfigMap authgate-rules", g.checkRulesConfigMap)
		t.Run("ports and probes", g.checkPortsAndProbes)
	})
	t.Run("PodDisruptionBudget", g.checkPDB)
	t.Run("trusted proxies and NetworkPolicy authgate", g.checkTrust)
	rd := checkRedisManifest(t, g.objs, g.dep.Metadata.Namespace, g.podLabels)
	t.Run("Secret authgate-redis URL names the Redis Service", func(t *testing.T) {
		g.checkDocumentedRedisURL(t, rd)
	})
	t.Run("Service", g.checkService)
	t.Run("ingress-nginx", g.checkIngressNginx)
	t.Run("Traefik CRDs", g.checkTraefikCRDs)
	t.Run("metrics port: exposed to Prometheus, routed by no Ingress", g.checkMetricsPort)
	t.Run("commented ServiceMonitor", g.checkServiceMonitor)

	t.Run("the Deployment's settings run replicas on one Redis", func(t *testing.T) {
		t.Parallel()
		checkReplicasShareRedis(t, g.c, g.configMapFiles(t))
	})

	t.Run("an edit of the ConfigMap authgate-rules takes effect without a restart", func(t *testing.T) {
		t.Parallel()
		checkRulesReload(t, g.rulesYAML(t))
	})

	t.Run("redis.yml's arguments start the real redis-server", func(t *testing.T) {
		t.Parallel()
		checkRedisRuns(t, rd)
	})
}

// gateManifests is what TestKubernetesManifests reads, decoded once:
// every object of the manifests, and the gate's Deployment and Service.
// What the subtests cannot do without fails the whole test here.
type gateManifests struct {
	authgateYML, redisYML string
	objs                  []k8sObject

	dep        k8sObject
	d          k8sDeploymentSpec
	c          k8sContainer // the Deployment's only container
	podLabels  map[string]string
	replicas   int
	env        map[string]string    // c's literal values
	fromSecret map[string]k8sEnvVar // c's values from a secretKeyRef
	listenPort string               // AUTHGATE_LISTEN's port

	svc              k8sObject
	s                k8sServiceSpec
	svcPort, svcHost string
	svcPortName      string // the Service's port that targets the container's http

	login    string // AUTHGATE_LOGIN_URL
	loginURL *url.URL
	loginErr error
}

func loadGateManifests(t *testing.T) *gateManifests {
	t.Helper()
	g := &gateManifests{
		authgateYML: filepath.Join("kubernetes", "authgate.yml"),
		redisYML:    filepath.Join("kubernetes", "redis.yml"),
	}
	g.objs = k8sObjects(t,
		g.authgateYML,
		g.redisYML,
		filepath.Join("kubernetes", "ingress-nginx.yml"),
		filepath.Join("traefik", "kubernetes.yml"),
	)

	g.dep = find(t, g.objs, "Deployment", "authgate", "authgate")
	specOf(t, g.dep, &g.d)
	g.podLabels = g.d.Template.Metadata.Labels
	g.replicas = 1 // the default
	if g.d.Replicas != nil {
		g.replicas = *g.d.Replicas
	}
	if len(g.d.Template.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(g.d.Template.Spec.Containers))
	}
	g.c = g.d.Template.Spec.Containers[0]
	g.env = map[string]string{}
	g.fromSecret = map[string]k8sEnvVar{}
	for _, e := range g.c.Env {
		if e.ValueFrom == nil {
			g.env[e.Name] = e.Value
		}
		if e.secretRef() != "" {
			g.fromSecret[e.Name] = e
		}
	}
	_, listenPort, err := net.SplitHostPort(g.env["AUTHGATE_LISTEN"])
	if err != nil {
		t.Fatalf("AUTHGATE_LISTEN %q: %v", g.env["AUTHGATE_LISTEN"], err)
	}
	g.listenPort = listenPort
	for name, pr := range map[string]*k8sProbe{"livenessProbe": g.c.LivenessProbe, "readinessProbe": g.c.ReadinessProbe} {
		if pr == nil || pr.HTTPGet == nil {
			t.Fatalf("%s: want an httpGet probe", name)
		}
	}

	g.svc = find(t, g.objs, "Service", "authgate", "authgate")
	specOf(t, g.svc, &g.s)
	for _, p := range g.s.Ports {
		if fmt.Sprint(p.TargetPort) == "http" || fmt.Sprint(p.TargetPort) == listenPort {
			if g.svcPort != "" {
				t.Fatalf("Service ports %+v: want one port targeting the container's http port, not several", g.s.Ports)
			}
			g.svcPort, g.svcPortName = strconv.Itoa(p.Port), p.Name
		}
	}
	if g.svcPort == "" {
		t.Fatalf("Service ports %+v: want a port targeting the container's http port", g.s.Ports)
	}
	g.svcHost = g.svc.Metadata.Name + "." + g.svc.Metadata.Namespace + ".svc.cluster.local"

	g.login = g.env["AUTHGATE_LOGIN_URL"]
	g.loginURL, g.loginErr = url.Parse(g.login)
	return g
}

// `kubectl apply -f redis.yml -f authgate.yml` works in either order on
// an empty cluster: each file creates the namespaces it uses.
func (g *gateManifests) checkNamespaces(t *testing.T) {
	for _, f := range []string{g.authgateYML, g.redisYML} {
		created := map[string]bool{}
		for _, o := range k8sObjects(t, f) {
			if o.Kind == "Namespace" {
				created[o.Metadata.Name] = true
			}
		}
		for _, o := range k8sObjects(t, f) {
			if o.Kind != "Namespace" && !created[o.Metadata.Namespace] {
				t.Errorf("%s: %s %s is in namespace %s, which the file does not create", f, o.Kind, o.Metadata.Name, o.Metadata.Namespace)
			}
		}
	}
}

func (g *gateManifests) checkDeployment(t *testing.T) {
	d, c, podLabels := g.d, g.c, g.podLabels
	// Scale-out: more than one replica, which is what the shared store,
	// the shared key and the disruption budget below are for.
	if g.replicas < 2 {
		t.Errorf("replicas = %d, want at least 2", g.replicas)
	}
	if len(d.Selector.MatchLabels) == 0 || !d.Selector.selects(t, podLabels) {
		t.Errorf("selector %v does not match the pod labels %v", d.Selector.MatchLabels, podLabels)
	}
	if !isTrue(d.Template.Spec.SecurityContext.RunAsNonRoot) {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	checkHardened(t, "Deployment authgate", d.Template, c)
	if c.SecurityContext == nil || !isTrue(c.SecurityContext.RunAsNonRoot) {
		t.Error("container securityContext.runAsNonRoot is not true")
	}
}

// Replicas spread over nodes, preferably: a required rule would leave
// pods Pending on a cluster with fewer nodes than replicas.
func (g *gateManifests) checkSpread(t *testing.T) {
	d, podLabels := g.d, g.podLabels
	spread := false
	for _, tsc := range d.Template.Spec.TopologySpreadConstraints {
		if tsc.TopologyKey != "kubernetes.io/hostname" {
			continue
		}
		if tsc.WhenUnsatisfiable != "ScheduleAnyway" {
			t.Errorf("topologySpreadConstraints on %s: whenUnsatisfiable %q, want ScheduleAnyway (so that all replicas still run on one node)", tsc.TopologyKey, tsc.WhenUnsatisfiable)
		}
		if len(tsc.LabelSelector.MatchLabels) == 0 || !tsc.LabelSelector.selects(t, podLabels) {
			t.Errorf("topologySpreadConstraints on %s: labelSelector %v does not select the gate's pods", tsc.TopologyKey, tsc.LabelSelector.MatchLabels)
		}
		spread = true
	}
	if a := d.Template.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		if len(a.PodAntiAffinity.Required) > 0 {
			t.Error("requiredDuringScheduling pod anti-affinity: pods stay Pending on a cluster with fewer nodes than replicas; use preferred")
		}
		for _, p := range a.PodAntiAffinity.Preferred {
			if p.PodAffinityTerm.TopologyKey == "kubernetes.io/hostname" && len(p.PodAffinityTerm.LabelSelector.MatchLabels) > 0 &&
				p.PodAffinityTerm.LabelSelector.selects(t, podLabels) {
				spread = true
			}
		}
	}
	if !spread {
		t.Error("the replicas are not spread over nodes (topologySpreadConstraints or preferred pod anti-affinity on kubernetes.io/hostname)")
	}
}

func (g *gateManifests) checkEnv(t *testing.T) {
	c, env, fromSecret := g.c, g.env, g.fromSecret
	for _, e := range c.Env {
		if strings.Contains(e.Value, "://") {
			if u, err := url.Parse(e.Value); err == nil && u.User != nil {
				t.Errorf("%s carries credentials in the manifest (%s); take it from a Secret", e.Name, u.Redacted())
			}
		}
	}
	for _, e := range c.Env {
		if e.Name == "AUTHGATE_SECRET" {
			t.Error("AUTHGATE_SECRET in the environment: use AUTHGATE_SECRET_FILE from a Secret")
		}
	}
	if env["AUTHGATE_REGISTRATION"] != "closed" {
		t.Errorf("AUTHGATE_REGISTRATION = %q, want closed", env["AUTHGATE_REGISTRATION"])
	}
	if v, ok := env["AUTHGATE_COOKIE_SECURE"]; ok && v != "true" {
		t.Errorf("AUTHGATE_COOKIE_SECURE = %q in production", v)
	}
	// The shared store: AUTHGATE_STORE from a Secret, never a literal (the
	// URL carries Redis's password), and required, so a missing Secret
	// keeps the pod from starting rather than starting it on memory.
	store, ok := fromSecret["AUTHGATE_STORE"]
	switch {
	case !ok:
		t.Errorf("AUTHGATE_STORE must come from a secretKeyRef (literal: %q): replicas share users and sessions only through it, and its URL holds Redis's password", env["AUTHGATE_STORE"])
	case store.ValueFrom.SecretKeyRef.Optional != nil && *store.ValueFrom.SecretKeyRef.Optional:
		t.Error("AUTHGATE_STORE's secretKeyRef is optional: without the Secret every replica would keep its own memory store")
	}
	grace, err := time.ParseDuration(env["AUTHGATE_REDIS_GRACE"])
	if err != nil || grace <= 0 {
		t.Errorf("AUTHGATE_REDIS_GRACE = %q, want an explicit positive duration", env["AUTHGATE_REDIS_GRACE"])
	}
	// A Redis outage fails /readyz on every replica at once; a pod taken out
	// of the Service before the grace ends throws away the sessions it could
	// still pass.
	if rp := c.ReadinessProbe; rp != nil && grace > 0 && rp.window() < grace {
		t.Errorf("readinessProbe takes pods out after %v of failures, before AUTHGATE_REDIS_GRACE (%v) ends", rp.window(), grace)
	}
	if g.loginErr != nil || g.loginURL.Scheme != "https" {
		t.Errorf("AUTHGATE_LOGIN_URL %q: want https", g.login)
	}
}

// Files the gate reads come from Secret volumes (but the access rules,
// from a ConfigMap): the signing key above all, which every replica must share (a random key per pod would make
// each replica refuse the others' tokens).
func (g *gateManifests) checkSecretFiles(t *testing.T) {
	d, c, env := g.d, g.c, g.env
	if env["AUTHGATE_SECRET_FILE"] == "" {
		t.Error("AUTHGATE_SECRET_FILE is not set: each replica would sign with its own random key")
	}
	for name, file := range env {
		if !strings.HasSuffix(name, "_FILE") || name == "AUTHGATE_RULES_FILE" {
			continue // the rules are no secret: checkRulesConfigMap
		}
		var from string
		for _, m := range c.VolumeMounts {
			if path.Dir(file) == path.Clean(m.MountPath) {
				if !m.ReadOnly {
					t.Errorf("%s: mount %s is not readOnly", name, m.MountPath)
				}
				for _, v := range d.Template.Spec.Volumes {
					if v.Name == m.Name && v.Secret != nil {
						from = v.Secret.SecretName
					}
				}
			}
		}
		if from == "" {
			t.Errorf("%s=%s is not in a mounted Secret volume", name, file)
		}
	}
}

// Ports: AUTHGATE_LISTEN, the container port, the probes (the Service's
// is checked by loadGateManifests, as the proxy checks need it).
func (g *gateManifests) checkPortsAndProbes(t *testing.T) {
	c, listenPort := g.c, g.listenPort
	portNames := map[string]int{}
	for _, p := range c.Ports {
		portNames[p.Name] = p.ContainerPort
	}
	if strconv.Itoa(portNames["http"]) != listenPort {
		t.Errorf("container port http = %d, AUTHGATE_LISTEN port %s", portNames["http"], listenPort)
	}
	// Both are httpGet probes: loadGateManifests fails the test otherwise.
	for name, pr := range map[string]*k8sProbe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
		if pr.HTTPGet.Port != "http" && fmt.Sprint(pr.HTTPGet.Port) != listenPort {
			t.Errorf("%s port %v is not the gate's port", name, pr.HTTPGet.Port)
		}
	}
	// /healthz stays 200 while Redis is away (a restart would not help);
	// /readyz does not.
	if c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("livenessProbe path %q, want /healthz", c.LivenessProbe.HTTPGet.Path)
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readinessProbe path %q, want /readyz", c.ReadinessProbe.HTTPGet.Path)
	}
}

// Voluntary disruptions (drains, upgrades) leave most replicas running
// and never block on the budget.
func (g *gateManifests) checkPDB(t *testing.T) {
	objs, dep, podLabels, replicas := g.objs, g.dep, g.podLabels, g.replicas
	var pdbs int
	for _, o := range objs {
		if o.Kind != "PodDisruptionBudget" || o.Metadata.Namespace != dep.Metadata.Namespace {
			continue
		}
		var pdb k8sPDBSpec
		specOf(t, o, &pdb)
		if len(pdb.Selector.MatchLabels) == 0 || !pdb.Selector.selects(t, podLabels) {
			continue
		}
		pdbs++
		if o.APIVersion != "policy/v1" {
			t.Errorf("PodDisruptionBudget %s: apiVersion %q, want policy/v1", o.Metadata.Name, o.APIVersion)
		}
		minA, hasMin := pdb.MinAvailable.(int)
		maxU, hasMax := pdb.MaxUnavailable.(int)
		switch {
		case pdb.MinAvailable != nil && pdb.MaxUnavailable != nil:
			t.Errorf("PodDisruptionBudget %s sets both minAvailable and maxUnavailable", o.Metadata.Name)
		case hasMin:
			if minA < 1 || minA >= replicas {
				t.Errorf("PodDisruptionBudget %s: minAvailable %d with %d replicas: want at least 1 and fewer than the replicas, or no drain can proceed", o.Metadata.Name, minA, replicas)
			}
		case hasMax:
			if maxU < 1 || maxU >= replicas {
				t.Errorf("PodDisruptionBudget %s: maxUnavailable %d with %d replicas: want at least 1 and fewer than the replicas", o.Metadata.Name, maxU, replicas)
			}
		default:
			t.Errorf("PodDisruptionBudget %s: want an integer minAvailable or maxUnavailable, got %v / %v", o.Metadata.Name, pdb.MinAvailable, pdb.MaxUnavailable)
		}
	}
	if pdbs != 1 {
		t.Errorf("%d PodDisruptionBudgets select the gate's pods %v, want one", pdbs, podLabels)
	}
}

// The URL to put in the Secret authgate-redis, wherever it is written
// down, names the Redis Service.
func (g *gateManifests) checkDocumentedRedisURL(t *testing.T, rd redisDeployment) {
	for _, f := range []string{g.authgateYML, g.redisYML, "README.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ms := documentedRedisHost.FindAllStringSubmatch(string(b), -1)
		if len(ms) == 0 && f != g.redisYML {
			t.Errorf("%s does not show the Redis URL for the Secret authgate-redis (redis://:PASSWORD@%s.%s.svc.cluster.local:%d/0)", f, rd.service, rd.namespace, rd.port)
		}
		for _, m := range ms {
			if m[1] != rd.service || m[2] != rd.namespace || m[3] != strconv.Itoa(rd.port) {
				t.Errorf("%s: Redis URL host %s, want the Service %s.%s.svc.cluster.local:%d", f, strings.TrimPrefix(m[0], "@"), rd.service, rd.namespace, rd.port)
			}
		}
	}
}

// The Service's ports are checked by loadGateManifests, as the proxy
// checks need them.
func (g *gateManifests) checkService(t *testing.T) {
	for k, v := range g.s.Selector {
		if g.d.Template.Metadata.Labels[k] != v {
			t.Errorf("Service selector %s=%s matches no pod label", k, v)
		}
	}
}

// checkVerifyURL checks that a verify URL from a proxy config reaches the
// Service's /verify, and returns its query.
func (g *gateManifests) checkVerifyURL(t *testing.T, where, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Errorf("%s: %q: %v", where, raw, err)
		return nil
	}
	if u.Scheme != "http" || u.Hostname() != g.svcHost || u.Port() != g.svcPort || u.Path != "/verify" {
		t.Errorf("%s: %q, want http://%s:%s/verify", where, raw, g.svcHost, g.svcPort)
	}
	return u.Query()
}

func (g *gateManifests) checkIngressNginx(t *testing.T) {
	objs, svc, svcPort, login, loginURL := g.objs, g.svc, g.svcPort, g.login, g.loginURL
	var appIngresses int
	for _, o := range objs {
		if o.Kind != "Ingress" {
			continue
		}
		var in k8sIngressSpec
		specOf(t, o, &in)
		a := o.Metadata.Annotations
		authURL := a["nginx.ingress.kubernetes.io/auth-url"]
		for _, r := range in.Rules {
			if r.Host == loginURL.Host {
				// The login host: public, served by the gate.
				if authURL != "" {
					t.Errorf("Ingress %s: the login host must not be behind auth-url", o.Metadata.Name)
				}
				for _, p := range r.HTTP.Paths {
					if b := p.Backend.Service; b.Name != svc.Metadata.Name || o.Metadata.Namespace != svc.Metadata.Namespace ||
						(b.Port.Name != g.svcPortName && strconv.Itoa(b.Port.Number) != svcPort) {
						t.Errorf("Ingress %s: login host backend %+v is not the authgate Service", o.Metadata.Name, b)
					}
				}
				continue
			}
			appIngresses++
			if authURL == "" {
				t.Errorf("Ingress %s: host %s without nginx.ingress.kubernetes.io/auth-url is not protected", o.Metadata.Name, r.Host)
				continue
			}
			q := g.checkVerifyURL(t, "Ingress "+o.Metadata.Name, authURL)
			if got := a["nginx.ingress.kubernetes.io/auth-response-headers"]; !sameSet(strings.Split(got, ","), proxyHeaders) {
				t.Errorf("Ingress %s: auth-response-headers %q, want %v", o.Metadata.Name, got, proxyHeaders)
			}
			signin, hasSignin := a["nginx.ingress.kubernetes.io/auth-signin"]
			for _, p := range r.HTTP.Paths {
				api := strings.HasPrefix(p.Path, "/api")
				if api && hasSignin {
					t.Errorf("Ingress %s: an API path with auth-signin would redirect API clients", o.Metadata.Name)
				}
				if !api && signin != login {
					t.Errorf("Ingress %s: auth-signin %q, want AUTHGATE_LOGIN_URL %q (ingress-nginx adds rd itself)", o.Metadata.Name, signin, login)
				}
				if strings.HasPrefix(p.Path, "/admin") && q.Get("groups") != "admins" {
					t.Errorf("Ingress %s: /admin without groups=admins on the verify URL", o.Metadata.Name)
				}
			}
		}
	}
	if appIngresses < 3 {
		t.Errorf("found %d protected Ingress rules, want the pages, the API and the admin one", appIngresses)
	}
}

func (g *gateManifests) checkTraefikCRDs(t *testing.T) {
	objs, svc, svcPort, loginURL := g.objs, g.svc, g.svcPort, g.loginURL
	middlewares := map[string]traefikMiddleware{}
	for _, o := range objs {
		if o.Kind != "Middleware" {
			continue
		}
		if o.APIVersion != "traefik.io/v1alpha1" {
			t.Errorf("Middleware %s: apiVersion %q, want traefik.io/v1alpha1", o.Metadata.Name, o.APIVersion)
		}
		var m traefikMiddleware
		var node any
		if err := o.Spec.Decode(&node); err != nil {
			t.Fatal(err)
		}
		reDecode(t, "Middleware "+o.Metadata.Name, node, &m)
		middlewares[o.Metadata.Namespace+"/"+o.Metadata.Name] = m
		if fa := m.ForwardAuth; fa != nil {
			g.checkVerifyURL(t, "Middleware "+o.Metadata.Name, fa.Address)
			checkForwardAuth(t, "Middleware "+o.Metadata.Name, fa)
		}
	}
	var routes int
	for _, o := range objs {
		if o.Kind != "IngressRoute" {
			continue
		}
		var ir traefikIngressRouteSpec
		specOf(t, o, &ir)
		for _, r := range ir.Routes {
			if strings.Contains(r.Match, "`"+loginURL.Host+"`") {
				for _, sv := range r.Services {
					if sv.Name != svc.Metadata.Name || o.Metadata.Namespace != svc.Metadata.Namespace || strconv.Itoa(sv.Port) != svcPort {
						t.Errorf("IngressRoute %s: login host goes to %s:%d, not the authgate Service", o.Metadata.Name, sv.Name, sv.Port)
					}
				}
				continue
			}
			routes++
			var names []string
			for _, mw := range r.Middlewares {
				ns := mw.Namespace
				if ns == "" {
					ns = o.Metadata.Namespace
				}
				if _, ok := middlewares[ns+"/"+mw.Name]; !ok {
					t.Errorf("IngressRoute %s: middleware %s/%s is not defined", o.Metadata.Name, ns, mw.Name)
				}
				names = append(names, ns+"/"+mw.Name)
			}
			checkTraefikChain(t, "IngressRoute "+o.Metadata.Name+" "+r.Match, names, func(n string) traefikMiddleware { return middlewares[n] })
		}
	}
	if routes < 3 {
		t.Errorf("found %d protected IngressRoute routes, want the pages, the API and the admin one", routes)
	}
}

// checkTrust: the Deployment names the proxies it trusts (the default is
// loopback only, and trusting the private ranges by default let any pod
// pick the address its failures are counted against), and a NetworkPolicy
// admits only named namespaces to the gate's pods, each rule on named
// ports, so no other pod can send forwarded headers from inside that
// range. Which namespace reaches which port: checkMetricsPort.
func (g *gateManifests) checkTrust(t *testing.T) {
	trusted, ok := g.env["AUTHGATE_TRUSTED_PROXIES"]
	if !ok {
		t.Fatal("AUTHGATE_TRUSTED_PROXIES is not set: the default (loopback) would ignore the ingress controller's forwarded headers")
	}
	for _, p := range strings.Split(trusted, ",") {
		pre, err := netip.ParsePrefix(strings.TrimSpace(p))
		if err != nil || pre.Bits() < 8 {
			t.Errorf("AUTHGATE_TRUSTED_PROXIES entry %q: want a pod range, not %v", p, err)
		}
	}
	var found bool
	for _, o := range g.objs {
		if o.Kind != "NetworkPolicy" || o.Metadata.Namespace != g.dep.Metadata.Namespace {
			continue
		}
		var np k8sNetworkPolicySpec
		specOf(t, o, &np)
		if !np.PodSelector.selects(t, g.podLabels) {
			continue
		}
		found = true
		if !slices.Contains(np.PolicyTypes, "Ingress") {
			t.Errorf("NetworkPolicy %s: policyTypes %v without Ingress", o.Metadata.Name, np.PolicyTypes)
		}
		if len(np.Ingress) == 0 {
			t.Errorf("NetworkPolicy %s: no ingress rule: the gate would be unreachable", o.Metadata.Name)
		}
		for i, rule := range np.Ingress {
			if len(rule.From) == 0 {
				t.Errorf("NetworkPolicy %s: ingress rule %d has no from: every pod may reach the gate", o.Metadata.Name, i+1)
			}
			for _, peer := range rule.From {
				if peer.NamespaceSelector == nil || peer.IPBlock != nil || peer.PodSelector != nil ||
					len(peer.NamespaceSelector.MatchLabels) == 0 && len(peer.NamespaceSelector.MatchExpressions) == 0 {
					t.Errorf("NetworkPolicy %s: ingress rule %d must admit named namespaces only", o.Metadata.Name, i+1)
				}
			}
			// A rule without ports admits every port, the metrics' too.
			if len(rule.Ports) == 0 {
				t.Errorf("NetworkPolicy %s: ingress rule %d names no port: it admits the metrics port too", o.Metadata.Name, i+1)
			}
			for _, p := range rule.Ports {
				if n := g.c.port(p.Port); n == 0 || (n != g.c.port(g.listenPortNumber(t)) && n != g.c.port("metrics")) {
					t.Errorf("NetworkPolicy %s: port %v is neither the gate's %s nor its metrics port", o.Metadata.Name, p.Port, g.listenPort)
				}
			}
		}
	}
	if !found {
		t.Fatal("no NetworkPolicy selects the gate's pods: any pod can reach it and send forwarded headers")
	}
}

func (g *gateManifests) listenPortNumber(t *testing.T) int {
	n, err := strconv.Atoi(g.listenPort)
	if err != nil {
		t.Fatalf("AUTHGATE_LISTEN port %q", g.listenPort)
	}
	return n
}
