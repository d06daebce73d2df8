package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/authgate/authgate/accounts/redistest"
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
	Exec *struct {
		Command []string `yaml:"command"`
	} `yaml:"exec"`
	TCPSocket *struct {
		Port any `yaml:"port"`
	} `yaml:"tcpSocket"`
	PeriodSeconds    *int `yaml:"periodSeconds"`
	FailureThreshold *int `yaml:"failureThreshold"`
}

// window is how long the probe takes to act on a failure that starts just
// after a success: periodSeconds x failureThreshold (defaults 10 and 3).
func (p *k8sProbe) window() time.Duration {
	period, threshold := 10, 3
	if p.PeriodSeconds != nil {
		period = *p.PeriodSeconds
	}
	if p.FailureThreshold != nil {
		threshold = *p.FailureThreshold
	}
	return time.Duration(period*threshold) * time.Second
}

type k8sEnvVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name     string `yaml:"name"`
			Key      string `yaml:"key"`
			Optional *bool  `yaml:"optional"`
		} `yaml:"secretKeyRef"`
		ConfigMapKeyRef  any `yaml:"configMapKeyRef"`
		FieldRef         any `yaml:"fieldRef"`
		ResourceFieldRef *struct {
			Resource string `yaml:"resource"`
		} `yaml:"resourceFieldRef"`
	} `yaml:"valueFrom"`
}

// secretRef is "secret/key" for a variable taken from a Secret, else "".
func (e k8sEnvVar) secretRef() string {
	if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		return ""
	}
	return e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env          []k8sEnvVar `yaml:"env"`
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
		RunAsUser                *int  `yaml:"runAsUser"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
}

// port resolves a probe's or Service's port (a name or a number) to the
// container's port number; 0 when it names no port of c.
func (c k8sContainer) port(p any) int {
	for _, cp := range c.Ports {
		if fmt.Sprint(p) == cp.Name || fmt.Sprint(p) == strconv.Itoa(cp.ContainerPort) {
			return cp.ContainerPort
		}
	}
	return 0
}

// k8sLabelSelector is a selector with matchLabels only; the tests refuse
// matchExpressions rather than guess what they select.
type k8sLabelSelector struct {
	MatchLabels      map[string]string `yaml:"matchLabels"`
	MatchExpressions []any             `yaml:"matchExpressions"`
}

// selects reports whether pods with labels match. An empty selector
// selects every pod, as in Kubernetes.
func (s k8sLabelSelector) selects(tb testing.TB, labels map[string]string) bool {
	tb.Helper()
	if len(s.MatchExpressions) > 0 {
		tb.Fatalf("selector %+v: matchExpressions are not understood by this test; use matchLabels", s)
	}
	for k, v := range s.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

type k8sPodTemplate struct {
	Metadata struct {
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		SecurityContext struct {
			RunAsNonRoot *bool `yaml:"runAsNonRoot"`
			RunAsUser    *int  `yaml:"runAsUser"`
		} `yaml:"securityContext"`
		TopologySpreadConstraints []struct {
			MaxSkew           int              `yaml:"maxSkew"`
			TopologyKey       string           `yaml:"topologyKey"`
			WhenUnsatisfiable string           `yaml:"whenUnsatisfiable"`
			LabelSelector     k8sLabelSelector `yaml:"labelSelector"`
		} `yaml:"topologySpreadConstraints"`
		Affinity *struct {
			PodAntiAffinity *struct {
				Required  []any `yaml:"requiredDuringSchedulingIgnoredDuringExecution"`
				Preferred []struct {
					PodAffinityTerm struct {
						TopologyKey   string           `yaml:"topologyKey"`
						LabelSelector k8sLabelSelector `yaml:"labelSelector"`
					} `yaml:"podAffinityTerm"`
				} `yaml:"preferredDuringSchedulingIgnoredDuringExecution"`
			} `yaml:"podAntiAffinity"`
		} `yaml:"affinity"`
		Containers []k8sContainer `yaml:"containers"`
		Volumes    []struct {
			Name   string `yaml:"name"`
			Secret *struct {
				SecretName string `yaml:"secretName"`
			} `yaml:"secret"`
		} `yaml:"volumes"`
	} `yaml:"spec"`
}

type k8sDeploymentSpec struct {
	Replicas *int             `yaml:"replicas"`
	Selector k8sLabelSelector `yaml:"selector"`
	Template k8sPodTemplate   `yaml:"template"`
}

type k8sStatefulSetSpec struct {
	Replicas             *int             `yaml:"replicas"`
	ServiceName          string           `yaml:"serviceName"`
	Selector             k8sLabelSelector `yaml:"selector"`
	Template             k8sPodTemplate   `yaml:"template"`
	VolumeClaimTemplates []struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			Resources struct {
				Requests map[string]string `yaml:"requests"`
			} `yaml:"resources"`
		} `yaml:"spec"`
	} `yaml:"volumeClaimTemplates"`
}

type k8sPDBSpec struct {
	MinAvailable   any              `yaml:"minAvailable"`
	MaxUnavailable any              `yaml:"maxUnavailable"`
	Selector       k8sLabelSelector `yaml:"selector"`
}

type k8sNetworkPolicySpec struct {
	PodSelector k8sLabelSelector `yaml:"podSelector"`
	PolicyTypes []string         `yaml:"policyTypes"`
	Ingress     []struct {
		From []struct {
			PodSelector       *k8sLabelSelector `yaml:"podSelector"`
			NamespaceSelector *k8sLabelSelector `yaml:"namespaceSelector"`
			IPBlock           any               `yaml:"ipBlock"`
		} `yaml:"from"`
		Ports []struct {
			Protocol string `yaml:"protocol"`
			Port     any    `yaml:"port"`
		} `yaml:"ports"`
	} `yaml:"ingress"`
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

// resolveEnv is a container's environment as Kubernetes would give it:
// literal values, secretKeyRef values from secrets ("secret/key" to the
// value the test stands in for it), and limits.memory in bytes. A source
// the test does not know fails it, so that a new one is mapped here.
func resolveEnv(tb testing.TB, c k8sContainer, secrets map[string]string) map[string]string {
	tb.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.secretRef() != "":
			v, ok := secrets[e.secretRef()]
			if !ok {
				tb.Fatalf("%s: %s comes from the Secret key %s, which the test does not stand in for", c.Name, e.Name, e.secretRef())
			}
			env[e.Name] = v
		case e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory":
			env[e.Name] = strconv.FormatInt(quantityBytes(tb, c.Resources.Limits["memory"]), 10)
		default:
			tb.Fatalf("%s: %s has a valueFrom the test does not resolve", c.Name, e.Name)
		}
	}
	return env
}

// quantityBytes reads a Kubernetes memory quantity such as 256Mi.
func quantityBytes(tb testing.TB, q string) int64 {
	tb.Helper()
	mult := int64(1)
	for _, s := range []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}} {
		if n, ok := strings.CutSuffix(q, s.suffix); ok {
			q, mult = n, s.mult
			break
		}
	}
	n, err := strconv.ParseInt(q, 10, 64)
	if err != nil || n <= 0 {
		tb.Fatalf("memory quantity %q: want a positive integer with Ki, Mi, Gi, k, M or G", q)
	}
	return n * mult
}

// localEnv turns a deployment's environment into one the real binary runs
// with here: AUTHGATE_LISTEN becomes addr, and every *_FILE a file in dir,
// written by the first caller, so gates given the same dir share the
// signing key, as replicas mounting one Secret do.
func localEnv(tb testing.TB, env map[string]string, dir, addr string) []string {
	tb.Helper()
	vars := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range env {
		switch {
		case k == "AUTHGATE_LISTEN":
			v = addr
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
			tb.Fatalf("%s: the test does not know what file to put there", k)
		}
		vars = append(vars, k+"="+v)
	}
	sort.Strings(vars)
	return vars
}

// startGateEnv starts the real binary with vars (from localEnv) and waits
// until every probe path on addr answers 200.
func startGateEnv(tb testing.TB, vars []string, addr string, probes ...string) *process {
	tb.Helper()
	p := startProcess(tb, "authgate-"+addr, vars, authgateBinary(tb))
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
	return p
}

// checkGateEnv starts the real binary with an environment taken from a
// deployment file (with its file paths and listen address moved into a
// temp dir), so that a setting the gate refuses fails here rather than in
// production, and checks that the probe paths answer 200.
func checkGateEnv(tb testing.TB, env map[string]string, probes ...string) {
	tb.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(tb))
	startGateEnv(tb, localEnv(tb, env, tb.TempDir(), addr), addr, probes...)
}

// checkHardened holds a pod's container to the security settings every
// workload here uses, and to having resources and both probes.
func checkHardened(tb testing.TB, where string, pod k8sPodTemplate, c k8sContainer) {
	tb.Helper()
	sc := c.SecurityContext
	if !isTrue(pod.Spec.SecurityContext.RunAsNonRoot) && (sc == nil || !isTrue(sc.RunAsNonRoot)) {
		tb.Errorf("%s: runAsNonRoot is not true", where)
	}
	if sc == nil || !isTrue(sc.ReadOnlyRootFilesystem) ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		tb.Errorf("%s: container securityContext must set readOnlyRootFilesystem, allowPrivilegeEscalation: false and drop ALL capabilities", where)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		tb.Errorf("%s: resources %+v: want cpu and memory requests and a memory limit", where, c.Resources)
	}
	if c.LivenessProbe == nil || c.ReadinessProbe == nil {
		tb.Errorf("%s: want a liveness and a readiness probe", where)
	}
}

// runAsUser is the uid a container runs as, the container's setting first.
func runAsUser(pod k8sPodTemplate, c k8sContainer) int {
	if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
		return *c.SecurityContext.RunAsUser
	}
	if pod.Spec.SecurityContext.RunAsUser != nil {
		return *pod.Spec.SecurityContext.RunAsUser
	}
	return -1
}

// documentedRedisHost finds the host of the Redis URLs that the manifests
// and the README tell operators to put in the Secret authgate-redis
// (redis://:PASSWORD@redis.authgate.svc.cluster.local:6379/0): service,
// namespace and port.
var documentedRedisHost = regexp.MustCompile(`@([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)/\d+`)

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	authgateYML := filepath.Join("kubernetes", "authgate.yml")
	redisYML := filepath.Join("kubernetes", "redis.yml")
	objs := k8sObjects(t,
		authgateYML,
		redisYML,
		filepath.Join("kubernetes", "ingress-nginx.yml"),
		filepath.Join("traefik", "kubernetes.yml"),
	)

	// `kubectl apply -f redis.yml -f authgate.yml` works in either order on
	// an empty cluster: each file creates the namespaces it uses.
	for _, f := range []string{authgateYML, redisYML} {
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

	dep := find(t, objs, "Deployment", "authgate", "authgate")
	var d k8sDeploymentSpec
	specOf(t, dep, &d)
	podLabels := d.Template.Metadata.Labels
	// Scale-out: more than one replica, which is what the shared store,
	// the shared key and the disruption budget below are for.
	replicas := 1 // the default
	if d.Replicas != nil {
		replicas = *d.Replicas
	}
	if replicas < 2 {
		t.Errorf("replicas = %d, want at least 2", replicas)
	}
	if len(d.Selector.MatchLabels) == 0 || !d.Selector.selects(t, podLabels) {
		t.Errorf("selector %v does not match the pod labels %v", d.Selector.MatchLabels, podLabels)
	}
	if !isTrue(d.Template.Spec.SecurityContext.RunAsNonRoot) {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if len(d.Template.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(d.Template.Spec.Containers))
	}
	c := d.Template.Spec.Containers[0]
	checkHardened(t, "Deployment authgate", d.Template, c)
	if c.SecurityContext == nil || !isTrue(c.SecurityContext.RunAsNonRoot) {
		t.Error("container securityContext.runAsNonRoot is not true")
	}

	// Replicas spread over nodes, preferably: a required rule would leave
	// pods Pending on a cluster with fewer nodes than replicas.
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

	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	fromSecret := map[string]k8sEnvVar{}
	for _, e := range c.Env {
		if e.secretRef() != "" {
			fromSecret[e.Name] = e
		}
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

	// Files the gate reads come from Secret volumes: the signing key above
	// all, which every replica must share (a random key per pod would make
	// each replica refuse the others' tokens).
	if env["AUTHGATE_SECRET_FILE"] == "" {
		t.Error("AUTHGATE_SECRET_FILE is not set: each replica would sign with its own random key")
	}
	for name, file := range env {
		if !strings.HasSuffix(name, "_FILE") {
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
			t.Fatalf("%s: want an httpGet probe", name)
		}
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

	// Voluntary disruptions (drains, upgrades) leave most replicas running
	// and never block on the budget.
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

	rd := checkRedisManifest(t, objs, dep.Metadata.Namespace, podLabels)
	// The URL to put in the Secret authgate-redis, wherever it is written
	// down, names the Redis Service.
	for _, f := range []string{authgateYML, redisYML, "README.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ms := documentedRedisHost.FindAllStringSubmatch(string(b), -1)
		if len(ms) == 0 && f != redisYML {
			t.Errorf("%s does not show the Redis URL for the Secret authgate-redis (redis://:PASSWORD@%s.%s.svc.cluster.local:%d/0)", f, rd.service, rd.namespace, rd.port)
		}
		for _, m := range ms {
			if m[1] != rd.service || m[2] != rd.namespace || m[3] != strconv.Itoa(rd.port) {
				t.Errorf("%s: Redis URL host %s, want the Service %s.%s.svc.cluster.local:%d", f, strings.TrimPrefix(m[0], "@"), rd.service, rd.namespace, rd.port)
			}
		}
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

	t.Run("the Deployment's settings run replicas on one Redis", func(t *testing.T) {
		t.Parallel()
		checkReplicasShareRedis(t, c)
	})

	t.Run("redis.yml's arguments start the real redis-server", func(t *testing.T) {
		t.Parallel()
		checkRedisRuns(t, rd)
	})
}

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

// checkRedisManifest checks redis.yml: a persistent, password-protected,
// non-root Redis, a Service that reaches it on 6379, and a NetworkPolicy
// that admits the gate's pods (gateLabels) and nobody else.
func checkRedisManifest(tb testing.TB, objs []k8sObject, ns string, gateLabels map[string]string) redisDeployment {
	tb.Helper()
	rd := redisDeployment{service: "redis", namespace: ns}
	sts := find(tb, objs, "StatefulSet", ns, "redis")
	var ss k8sStatefulSetSpec
	specOf(tb, sts, &ss)
	rd.pod = ss.Template
	labels := ss.Template.Metadata.Labels
	if ss.Replicas != nil && *ss.Replicas != 1 {
		tb.Errorf("StatefulSet redis: replicas %d, want 1 (more pods would be separate, empty databases)", *ss.Replicas)
	}
	if len(ss.Selector.MatchLabels) == 0 || !ss.Selector.selects(tb, labels) {
		tb.Errorf("StatefulSet redis: selector %v does not match its pod labels %v", ss.Selector.MatchLabels, labels)
	}
	if (k8sLabelSelector{MatchLabels: gateLabels}).selects(tb, labels) {
		tb.Errorf("StatefulSet redis: pod labels %v carry the gate's labels %v; the gate's Service would send requests to Redis", labels, gateLabels)
	}
	if len(ss.Template.Spec.Containers) != 1 {
		tb.Fatalf("StatefulSet redis: want one container, got %d", len(ss.Template.Spec.Containers))
	}
	c := ss.Template.Spec.Containers[0]
	rd.container = c
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
	rd.args = redisArgs(tb, c.Args)
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

	// The Service.
	svc := find(tb, objs, "Service", ns, rd.service)
	var s k8sServiceSpec
	specOf(tb, svc, &s)
	if ss.ServiceName != rd.service {
		tb.Errorf("StatefulSet redis: serviceName %q, want the Service %q", ss.ServiceName, rd.service)
	}
	if len(s.Selector) == 0 || !(k8sLabelSelector{MatchLabels: s.Selector}).selects(tb, labels) {
		tb.Errorf("Service redis: selector %v does not select the StatefulSet's pods %v", s.Selector, labels)
	}
	if (k8sLabelSelector{MatchLabels: s.Selector}).selects(tb, gateLabels) {
		tb.Errorf("Service redis: selector %v also selects the gate's pods", s.Selector)
	}
	for _, p := range s.Ports {
		if c.port(p.TargetPort) == 6379 || (p.TargetPort == nil && c.port(p.Port) == 6379) {
			rd.port = p.Port
		}
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

	// The NetworkPolicy: only the gate's pods reach Redis.
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
	return rd
}

// checkReplicasShareRedis starts two gates with the Deployment's
// environment, on one real redis-server and one signing key, as two
// replicas would run: a user added with `authgate users add` (run with the
// same environment, as `kubectl exec` does) signs in on one and is let
// through by the other, and a logout on the second is refused by the first.
func checkReplicasShareRedis(t *testing.T, c k8sContainer) {
	srv := redistest.Start(t)
	env := resolveEnv(t, c, map[string]string{"authgate-redis/url": srv.URL()})
	dir := t.TempDir() // one signing key for both, as one Secret mounted by every replica
	var gates []string
	for range 2 {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		vars := append(localEnv(t, env, dir, addr), fastArgon2...)
		startGateEnv(t, vars, addr, c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
		gates = append(gates, "http://"+addr)
	}
	a, b := gates[0], gates[1]

	const name, password = "carol", "correct horse battery"
	cmd := exec.Command(authgateBinary(t), "users", "add", name, "-groups", "admins")
	cmd.Env = append(localEnv(t, env, dir, "127.0.0.1:0"), fastArgon2...)
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
	for {
		resp, _ = do(http.MethodGet, a+"/verify", "", bearer)
		if resp.StatusCode == http.StatusUnauthorized {
			t.Logf("logout on B refused on A after %v", time.Since(start).Round(time.Microsecond))
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("replica A still answers %s a second after the logout on B", resp.Status)
		}
		time.Sleep(10 * time.Millisecond)
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
