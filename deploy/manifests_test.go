package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// Kubernetes objects, as far as the tests read them.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec yaml.Node `yaml:"spec"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom any    `yaml:"valueFrom"`
	} `yaml:"env"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
}

type k8sDeploymentSpec struct {
	Replicas *int `yaml:"replicas"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			SecurityContext struct {
				RunAsNonRoot *bool `yaml:"runAsNonRoot"`
				RunAsUser    *int  `yaml:"runAsUser"`
			} `yaml:"securityContext"`
			Containers []k8sContainer `yaml:"containers"`
			Volumes    []struct {
				Name   string `yaml:"name"`
				Secret *struct {
					SecretName string `yaml:"secretName"`
				} `yaml:"secret"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

type k8sServiceSpec struct {
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		Name       string `yaml:"name"`
		Port       int    `yaml:"port"`
		TargetPort any    `yaml:"targetPort"`
	} `yaml:"ports"`
}

type k8sIngressSpec struct {
	IngressClassName string `yaml:"ingressClassName"`
	Rules            []struct {
		Host string `yaml:"host"`
		HTTP struct {
			Paths []struct {
				Path     string `yaml:"path"`
				PathType string `yaml:"pathType"`
				Backend  struct {
					Service struct {
						Name string `yaml:"name"`
						Port struct {
							Name   string `yaml:"name"`
							Number int    `yaml:"number"`
						} `yaml:"port"`
					} `yaml:"service"`
				} `yaml:"backend"`
			} `yaml:"paths"`
		} `yaml:"http"`
	} `yaml:"rules"`
}

type traefikIngressRouteSpec struct {
	EntryPoints []string `yaml:"entryPoints"`
	Routes      []struct {
		Match       string `yaml:"match"`
		Kind        string `yaml:"kind"`
		Middlewares []struct {
			Name      string `yaml:"name"`
			Namespace string `yaml:"namespace"`
		} `yaml:"middlewares"`
		Services []struct {
			Name string `yaml:"name"`
			Port int    `yaml:"port"`
		} `yaml:"services"`
	} `yaml:"routes"`
	TLS any `yaml:"tls"`
}

// k8sObjects reads every document of the given files.
func k8sObjects(tb testing.TB, files ...string) []k8sObject {
	tb.Helper()
	var objs []k8sObject
	for _, f := range files {
		for i, doc := range yamlDocuments(tb, f) {
			var o k8sObject
			b, err := yaml.Marshal(doc)
			if err != nil {
				tb.Fatal(err)
			}
			if err := yaml.Unmarshal(b, &o); err != nil {
				tb.Fatalf("%s document %d: %v", f, i+1, err)
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				tb.Errorf("%s document %d: apiVersion, kind and metadata.name are required", f, i+1)
			}
			if o.Kind != "Namespace" && o.Metadata.Namespace == "" {
				tb.Errorf("%s: %s %s has no namespace", f, o.Kind, o.Metadata.Name)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

func find(tb testing.TB, objs []k8sObject, kind, namespace, name string) k8sObject {
	tb.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Metadata.Namespace == namespace && o.Metadata.Name == name {
			return o
		}
	}
	tb.Fatalf("no %s %s/%s", kind, namespace, name)
	return k8sObject{}
}

func specOf(tb testing.TB, o k8sObject, v any) {
	tb.Helper()
	if err := o.Spec.Decode(v); err != nil {
		tb.Fatalf("%s %s: spec: %v", o.Kind, o.Metadata.Name, err)
	}
}

// sameSet reports whether a and b hold the same header names.
func sameSet(a, b []string) bool {
	norm := func(s []string) []string {
		out := make([]string, 0, len(s))
		for _, v := range s {
			out = append(out, http.CanonicalHeaderKey(strings.TrimSpace(v)))
		}
		sort.Strings(out)
		return out
	}
	return slices.Equal(norm(a), norm(b))
}

func isTrue(b *bool) bool { return b != nil && *b }

// checkGateEnv starts the real binary with an environment taken from a
// deployment file (with its file paths and listen address moved into a
// temp dir), so that a setting the gate refuses fails here rather than in
// production, and checks that the probe paths answer 200.
func checkGateEnv(tb testing.TB, env map[string]string, probes ...string) {
	tb.Helper()
	dir := tb.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(tb))
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		tb.Fatal(err)
	}
	vars := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range env {
		switch k {
		case "AUTHGATE_LISTEN":
			v = addr
		case "AUTHGATE_SECRET_FILE":
			v = filepath.Join(dir, "secret")
			writeFile(tb, v, hex.EncodeToString(secret)+"\n")
		case "AUTHGATE_USERS_FILE":
			v = usersFile(tb, dir)
		}
		vars = append(vars, k+"="+v)
	}
	p := startProcess(tb, "authgate", vars, authgateBinary(tb))
	for _, probe := range probes {
		waitUntil(tb, p, probe, 10*time.Second, func() error {
			resp, err := http.Get("http://" + addr + probe)
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
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	objs := k8sObjects(t,
		filepath.Join("kubernetes", "authgate.yml"),
		filepath.Join("kubernetes", "ingress-nginx.yml"),
		filepath.Join("traefik", "kubernetes.yml"),
	)

	dep := find(t, objs, "Deployment", "authgate", "authgate")
	var d k8sDeploymentSpec
	specOf(t, dep, &d)
	if d.Replicas == nil || *d.Replicas != 1 {
		t.Errorf("replicas = %v, want 1: sessions live in one gate's memory", d.Replicas)
	}
	for k, v := range d.Selector.MatchLabels {
		if d.Template.Metadata.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod labels %v", k, v, d.Template.Metadata.Labels)
		}
	}
	if !isTrue(d.Template.Spec.SecurityContext.RunAsNonRoot) {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if len(d.Template.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(d.Template.Spec.Containers))
	}
	c := d.Template.Spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || !isTrue(sc.RunAsNonRoot) || !isTrue(sc.ReadOnlyRootFilesystem) ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Error("container securityContext must set runAsNonRoot, readOnlyRootFilesystem, allowPrivilegeEscalation: false and drop ALL capabilities")
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}

	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	if _, ok := env["AUTHGATE_SECRET"]; ok {
		t.Error("AUTHGATE_SECRET in the environment: use AUTHGATE_SECRET_FILE from a Secret")
	}
	if env["AUTHGATE_REGISTRATION"] != "closed" {
		t.Errorf("AUTHGATE_REGISTRATION = %q, want closed", env["AUTHGATE_REGISTRATION"])
	}
	if v, ok := env["AUTHGATE_COOKIE_SECURE"]; ok && v != "true" {
		t.Errorf("AUTHGATE_COOKIE_SECURE = %q in production", v)
	}
	// Files the gate reads come from Secret volumes.
	for _, name := range []string{"AUTHGATE_SECRET_FILE", "AUTHGATE_USERS_FILE"} {
		file := env[name]
		if file == "" {
			t.Errorf("%s is not set", name)
			continue
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
	// Ports: AUTHGATE_LISTEN, the container port, the probes, the Service.
	_, listenPort, err := net.SplitHostPort(env["AUTHGATE_LISTEN"])
	if err != nil {
		t.Fatalf("AUTHGATE_LISTEN %q: %v", env["AUTHGATE_LISTEN"], err)
	}
	portNames := map[string]int{}
	for _, p := range c.Ports {
		portNames[p.Name] = p.ContainerPort
	}
	if strconv.Itoa(portNames["http"]) != listenPort {
		t.Errorf("container port http = %d, AUTHGATE_LISTEN port %s", portNames["http"], listenPort)
	}
	for name, pr := range map[string]*k8sProbe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
		if pr == nil || pr.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe", name)
			continue
		}
		if pr.HTTPGet.Port != "http" && fmt.Sprint(pr.HTTPGet.Port) != listenPort {
			t.Errorf("%s port %v is not the gate's port", name, pr.HTTPGet.Port)
		}
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("livenessProbe path %q, want /healthz", c.LivenessProbe.HTTPGet.Path)
	}

	svc := find(t, objs, "Service", "authgate", "authgate")
	var s k8sServiceSpec
	specOf(t, svc, &s)
	for k, v := range s.Selector {
		if d.Template.Metadata.Labels[k] != v {
			t.Errorf("Service selector %s=%s matches no pod label", k, v)
		}
	}
	if len(s.Ports) != 1 || (fmt.Sprint(s.Ports[0].TargetPort) != "http" && fmt.Sprint(s.Ports[0].TargetPort) != listenPort) {
		t.Fatalf("Service ports %+v: want one port targeting the container's http port", s.Ports)
	}
	svcPort := strconv.Itoa(s.Ports[0].Port)
	svcHost := svc.Metadata.Name + "." + svc.Metadata.Namespace + ".svc.cluster.local"

	// A verify URL from a proxy config must reach the Service's /verify.
	checkVerifyURL := func(where, raw string) url.Values {
		t.Helper()
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("%s: %q: %v", where, raw, err)
			return nil
		}
		if u.Scheme != "http" || u.Hostname() != svcHost || u.Port() != svcPort || u.Path != "/verify" {
			t.Errorf("%s: %q, want http://%s:%s/verify", where, raw, svcHost, svcPort)
		}
		return u.Query()
	}

	login := env["AUTHGATE_LOGIN_URL"]
	loginURL, err := url.Parse(login)
	if err != nil || loginURL.Scheme != "https" {
		t.Errorf("AUTHGATE_LOGIN_URL %q: want https", login)
	}

	t.Run("ingress-nginx", func(t *testing.T) {
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
							(b.Port.Name != s.Ports[0].Name && strconv.Itoa(b.Port.Number) != svcPort) {
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
				q := checkVerifyURL("Ingress "+o.Metadata.Name, authURL)
				if got := a["nginx.ingress.kubernetes.io/auth-response-headers"]; !sameSet(strings.Split(got, ","), gateHeaders) {
					t.Errorf("Ingress %s: auth-response-headers %q, want %v", o.Metadata.Name, got, gateHeaders)
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
	})

	t.Run("Traefik CRDs", func(t *testing.T) {
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
				checkVerifyURL("Middleware "+o.Metadata.Name, fa.Address)
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
	})

	t.Run("the Deployment's settings start the real gate", func(t *testing.T) {
		checkGateEnv(t, env, c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	})
}

// checkForwardAuth holds a Traefik forwardAuth to what the gate needs.
func checkForwardAuth(tb testing.TB, where string, fa *traefikForwardAuth) {
	tb.Helper()
	if !fa.TrustForwardHeader {
		tb.Errorf("%s: trustForwardHeader is not true (behind a TLS-terminating load balancer the gate would build http:// return URLs)", where)
	}
	if !sameSet(fa.AuthResponseHeaders, gateHeaders) {
		tb.Errorf("%s: authResponseHeaders %v, want %v: a header missing here is passed from the client to the app", where, fa.AuthResponseHeaders, gateHeaders)
	}
	u, err := url.Parse(fa.Address)
	if err != nil || u.Path != "/verify" {
		tb.Errorf("%s: address %q is not a /verify URL", where, fa.Address)
	}
}

// checkTraefikChain checks the middlewares of one protected router: the
// header strip first, then exactly one authgate forwardAuth.
func checkTraefikChain(tb testing.TB, where string, names []string, get func(string) traefikMiddleware) {
	tb.Helper()
	var auths int
	for i, n := range names {
		m := get(n)
		if m.ForwardAuth != nil {
			auths++
		}
		if i == 0 && (m.Headers == nil || len(m.Headers.CustomRequestHeaders) == 0) {
			tb.Errorf("%s: the first middleware %s must strip the identity headers", where, n)
		}
		if m.Headers != nil {
			for h, v := range m.Headers.CustomRequestHeaders {
				if v != "" {
					tb.Errorf("%s: %s sets %s: %q; it must only remove headers", where, n, h, v)
				}
			}
		}
	}
	if auths != 1 {
		tb.Errorf("%s: %d forwardAuth middlewares in %v, want exactly one", where, auths, names)
	}
}

func TestTraefikFileConfig(t *testing.T) {
	t.Parallel()
	var st traefikStatic
	decodeStrict(t, filepath.Join("traefik", "traefik.yml"), &st)
	if len(st.EntryPoints) == 0 {
		t.Fatal("no entry points")
	}
	for name, ep := range st.EntryPoints {
		if ep.HTTP.AliasHeadersStrategy != "delete" {
			t.Errorf("entry point %s: http.aliasHeadersStrategy %q, want delete", name, ep.HTTP.AliasHeadersStrategy)
		}
		if ep.ForwardedHeaders != nil && (ep.ForwardedHeaders.Insecure || len(ep.ForwardedHeaders.TrustedIPs) > 0) {
			t.Errorf("entry point %s trusts clients' forwarded headers; trustForwardHeader would pass them to the gate", name)
		}
	}
	if filepath.Base(st.Providers.File.Filename) != "dynamic.yml" {
		t.Errorf("file provider reads %q, not dynamic.yml", st.Providers.File.Filename)
	}

	var dyn traefikDynamic
	decodeStrict(t, filepath.Join("traefik", "dynamic.yml"), &dyn)
	gateURLs := map[string]bool{}
	for name, m := range dyn.HTTP.Middlewares {
		if fa := m.ForwardAuth; fa != nil {
			checkForwardAuth(t, "middleware "+name, fa)
			u, _ := url.Parse(fa.Address)
			gateURLs[u.Scheme+"://"+u.Host] = true
		}
	}
	if len(gateURLs) != 1 {
		t.Errorf("forwardAuth addresses point at %v, want one gate", gateURLs)
	}
	var protected int
	for name, r := range dyn.HTTP.Routers {
		if _, ok := dyn.HTTP.Services[r.Service]; !ok {
			t.Errorf("router %s: service %q is not defined", name, r.Service)
		}
		for _, mw := range r.Middlewares {
			if _, ok := dyn.HTTP.Middlewares[mw]; !ok {
				t.Errorf("router %s: middleware %q is not defined", name, mw)
			}
		}
		if strings.Contains(r.Rule, "`auth.example.com`") {
			// The login host is the gate itself, and public.
			for _, srv := range dyn.HTTP.Services[r.Service].LoadBalancer.Servers {
				if !gateURLs[srv.URL] {
					t.Errorf("router %s: the login host goes to %s, not the gate", name, srv.URL)
				}
			}
			if len(r.Middlewares) > 0 {
				t.Errorf("router %s: the login host must not be behind forwardAuth", name)
			}
			continue
		}
		protected++
		checkTraefikChain(t, "router "+name, r.Middlewares, func(n string) traefikMiddleware { return dyn.HTTP.Middlewares[n] })
	}
	if protected < 3 {
		t.Errorf("found %d protected routers, want the pages, the API and the admin one", protected)
	}
}

// composeFile is deploy/docker/compose.yml, as far as the tests read it.
type composeFile struct {
	Services map[string]struct {
		Image   string `yaml:"image"`
		Command []string
		Build   *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Environment map[string]string `yaml:"environment"`
		Secrets     []string          `yaml:"secrets"`
		Labels      []string          `yaml:"labels"`
		ReadOnly    bool              `yaml:"read_only"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

func TestDockerCompose(t *testing.T) {
	t.Parallel()
	composePath := filepath.Join("docker", "compose.yml")
	var cf composeFile
	b, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	for _, name := range []string{"traefik", "authgate", "whoami"} {
		if _, ok := cf.Services[name]; !ok {
			t.Fatalf("%s: no service %q", composePath, name)
		}
	}

	// Traefik's entry points: alias headers deleted, clients not trusted.
	entryPoints := map[string]bool{}
	for _, arg := range cf.Services["traefik"].Command {
		low := strings.ToLower(arg)
		if m := regexp.MustCompile(`^--entrypoints\.([a-z0-9_-]+)\.address=`).FindStringSubmatch(low); m != nil {
			entryPoints[m[1]] = true
		}
		if strings.Contains(low, "forwardedheaders.insecure") || strings.Contains(low, "forwardedheaders.trustedips") {
			t.Errorf("traefik %s: the entry point must not trust clients' forwarded headers", arg)
		}
	}
	for ep := range entryPoints {
		if !slices.Contains(lower(cf.Services["traefik"].Command), "--entrypoints."+ep+".http.aliasheadersstrategy=delete") {
			t.Errorf("traefik: entry point %s without --entryPoints.%s.http.aliasHeadersStrategy=delete", ep, ep)
		}
	}

	// Labels hold the same middlewares as deploy/traefik/dynamic.yml.
	labels := map[string]string{}
	for _, svc := range cf.Services {
		for _, l := range svc.Labels {
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Errorf("label %q has no value", l)
			}
			labels[strings.ToLower(k)] = v
		}
	}
	var dyn traefikDynamic
	decodeStrict(t, filepath.Join("traefik", "dynamic.yml"), &dyn)
	for name, m := range dyn.HTTP.Middlewares {
		prefix := "traefik.http.middlewares." + strings.ToLower(name) + "."
		if fa := m.ForwardAuth; fa != nil {
			want, _ := url.Parse(fa.Address)
			got, err := url.Parse(labels[prefix+"forwardauth.address"])
			if err != nil || got.Path != want.Path || got.RawQuery != want.RawQuery {
				t.Errorf("middleware %s: label address %q, dynamic.yml %q: path and query differ", name, labels[prefix+"forwardauth.address"], fa.Address)
			}
			if labels[prefix+"forwardauth.trustforwardheader"] != strconv.FormatBool(fa.TrustForwardHeader) {
				t.Errorf("middleware %s: trustForwardHeader label %q", name, labels[prefix+"forwardauth.trustforwardheader"])
			}
			if got := strings.Split(labels[prefix+"forwardauth.authresponseheaders"], ","); !sameSet(got, fa.AuthResponseHeaders) {
				t.Errorf("middleware %s: authResponseHeaders label %v, dynamic.yml %v", name, got, fa.AuthResponseHeaders)
			}
		}
		if m.Headers != nil {
			for h := range m.Headers.CustomRequestHeaders {
				if v, ok := labels[prefix+"headers.customrequestheaders."+strings.ToLower(h)]; !ok || v != "" {
					t.Errorf("middleware %s: no label removing %s", name, h)
				}
			}
		}
	}
	routers := map[string]map[string]string{}
	for k, v := range labels {
		if rest, ok := strings.CutPrefix(k, "traefik.http.routers."); ok {
			name, field, _ := strings.Cut(rest, ".")
			if routers[name] == nil {
				routers[name] = map[string]string{}
			}
			routers[name][field] = v
		}
	}
	var protected int
	for name, r := range routers {
		if name == "authgate" {
			if r["middlewares"] != "" {
				t.Errorf("router authgate: the login host must not be behind forwardAuth")
			}
			continue
		}
		protected++
		checkTraefikChain(t, "router "+name, strings.Split(r["middlewares"], ","), func(n string) traefikMiddleware { return dyn.HTTP.Middlewares[n] })
	}
	if protected < 3 {
		t.Errorf("found %d protected routers, want the pages, the API and the admin one", protected)
	}

	// The gate's service.
	gate := cf.Services["authgate"]
	if gate.Build == nil {
		t.Fatal("authgate: no build section")
	}
	df := filepath.Join(filepath.Dir(composePath), gate.Build.Context, gate.Build.Dockerfile)
	if _, err := os.Stat(df); err != nil {
		t.Errorf("authgate build: %v", err)
	}
	if abs, _ := filepath.Abs(filepath.Join(filepath.Dir(composePath), gate.Build.Context)); !fileExists(filepath.Join(abs, "go.mod")) {
		t.Errorf("authgate build context %s is not the module root", gate.Build.Context)
	}
	if !gate.ReadOnly {
		t.Error("authgate: read_only is not true")
	}
	env := gate.Environment
	if _, ok := env["AUTHGATE_SECRET"]; ok {
		t.Error("authgate: AUTHGATE_SECRET in the environment; use AUTHGATE_SECRET_FILE")
	}
	secretFile := env["AUTHGATE_SECRET_FILE"]
	if len(gate.Secrets) != 1 || secretFile != "/run/secrets/"+gate.Secrets[0] || cf.Secrets[gate.Secrets[0]].File == "" {
		t.Errorf("authgate: AUTHGATE_SECRET_FILE %q must be a compose secret's file", secretFile)
	}
	_, listenPort, _ := net.SplitHostPort(env["AUTHGATE_LISTEN"])
	if lb := labels["traefik.http.services.authgate.loadbalancer.server.port"]; lb != listenPort {
		t.Errorf("Traefik sends the login host to port %s; the gate listens on %s", lb, listenPort)
	}
	for name, m := range dyn.HTTP.Middlewares {
		if m.ForwardAuth != nil {
			u, _ := url.Parse(labels["traefik.http.middlewares."+strings.ToLower(name)+".forwardauth.address"])
			if u == nil || u.Hostname() != "authgate" || u.Port() != listenPort {
				t.Errorf("middleware %s: address %v is not the authgate service's port %s", name, u, listenPort)
			}
		}
	}
	t.Run("the compose settings start the real gate", func(t *testing.T) {
		checkGateEnv(t, env, "/healthz")
	})
}

func lower(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// dockerInstruction is one Dockerfile instruction, continuation lines joined.
type dockerInstruction struct {
	cmd  string // upper case
	args string
}

func parseDockerfile(tb testing.TB, p string) []dockerInstruction {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	var out []dockerInstruction
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	p := filepath.Join("docker", "Dockerfile")
	ins := parseDockerfile(t, p)
	known := map[string]bool{"FROM": true, "WORKDIR": true, "COPY": true, "RUN": true, "USER": true, "ENV": true,
		"EXPOSE": true, "ENTRYPOINT": true, "CMD": true, "ARG": true, "LABEL": true}
	var froms []string
	var user, entrypoint, listen, expose, build string
	var finalCopies []string
	for _, in := range ins {
		if !known[in.cmd] {
			t.Errorf("%s: unknown instruction %q", p, in.cmd)
		}
		switch in.cmd {
		case "FROM":
			froms = append(froms, in.args)
			user, finalCopies = "", nil
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "ENV":
			if v, ok := strings.CutPrefix(in.args, "AUTHGATE_LISTEN="); ok {
				listen = v
			}
		case "EXPOSE":
			expose = in.args
		case "RUN":
			if strings.Contains(in.args, "go build") {
				build = in.args
			}
		case "COPY":
			finalCopies = append(finalCopies, in.args)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("%s: want a multi-stage build, got FROM %v", p, froms)
	}

	// The build stage's Go is the one go.mod asks for.
	gomod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if want := "golang:" + string(m[1]); !strings.HasPrefix(froms[0], want) {
		t.Errorf("%s: build stage %q, want %s (go.mod says go %s)", p, froms[0], want, m[1])
	}
	if !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(build, "./cmd/authgate") {
		t.Errorf("%s: build step %q must build ./cmd/authgate with CGO_ENABLED=0 (a static binary)", p, build)
	}
	out := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(build)
	final := froms[len(froms)-1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") || !strings.HasSuffix(final, ":nonroot") {
		t.Errorf("%s: final stage %q, want gcr.io/distroless/static...:nonroot", p, final)
	}
	if user != "nonroot" && user != "nonroot:nonroot" && user != "65532" && user != "65532:65532" {
		t.Errorf("%s: final stage USER %q, want nonroot", p, user)
	}
	var entry []string
	if err := json.Unmarshal([]byte(entrypoint), &entry); err != nil || len(entry) == 0 {
		t.Fatalf("%s: ENTRYPOINT %q is not the exec (JSON) form", p, entrypoint)
	}
	copied := false
	for _, c := range finalCopies {
		f := strings.Fields(c)
		copied = copied || (out != nil && len(f) == 3 && strings.HasPrefix(f[0], "--from=") && f[1] == out[1] && f[2] == entry[0])
	}
	if !copied {
		t.Errorf("%s: the final stage does not COPY the built binary (%v) to the ENTRYPOINT %s", p, out, entry[0])
	}
	if _, port, err := net.SplitHostPort(listen); err != nil || port != expose {
		t.Errorf("%s: EXPOSE %q, AUTHGATE_LISTEN %q", p, expose, listen)
	}

	t.Run("dockerignore keeps what the build needs", func(t *testing.T) {
		ignore := filepath.Join("docker", "Dockerfile.dockerignore")
		b, err := os.ReadFile(ignore)
		if err != nil {
			t.Fatal(err)
		}
		var patterns []string
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				patterns = append(patterns, l)
			}
		}
		if !slices.Contains(patterns, "deploy") {
			t.Errorf("%s does not exclude deploy/, where compose.yml's secret lives", ignore)
		}
		cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./cmd/authgate")
		cmd.Dir = ".."
		outb, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		root, _ := filepath.Abs("..")
		for _, dir := range strings.Fields(string(outb)) {
			rel, err := filepath.Rel(root, dir)
			if err != nil || strings.HasPrefix(rel, "..") {
				continue // a module dependency, downloaded by go mod download
			}
			for _, pat := range patterns {
				if ok, _ := filepath.Match(pat, strings.Split(rel, string(filepath.Separator))[0]); ok {
					t.Errorf("%s excludes %s, which ./cmd/authgate needs", ignore, rel)
				}
			}
		}
	})
}
