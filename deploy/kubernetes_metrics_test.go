package deploy

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// checkMetricsPort: the gate serves its metrics (AUTHGATE_METRICS_LISTEN)
// on a container port named metrics, apart from its own port; the Service
// exposes it for Prometheus; no Ingress or IngressRoute routes to it; and
// the NetworkPolicy admits it from named namespaces only, none of which
// reaches the gate's own port by the same rule. The metrics name no user,
// but they tell whoever reads them how many sign-ins fail, who is locked
// out and whether the store is up.
func (g *gateManifests) checkMetricsPort(t *testing.T) {
	listen, ok := g.env["AUTHGATE_METRICS_LISTEN"]
	if !ok {
		t.Fatal("AUTHGATE_METRICS_LISTEN is not set: the gate serves no metrics")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("AUTHGATE_METRICS_LISTEN %q: %v", listen, err)
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("AUTHGATE_METRICS_LISTEN %q: Prometheus scrapes the pod's address, so listen on every interface (\":%s\") and keep the port private with the NetworkPolicy", listen, port)
	}
	if port == g.listenPort {
		t.Fatalf("AUTHGATE_METRICS_LISTEN and AUTHGATE_LISTEN share the port %s", port)
	}
	var containerPort int
	for _, p := range g.c.Ports {
		if p.Name == "metrics" {
			containerPort = p.ContainerPort
		}
	}
	if strconv.Itoa(containerPort) != port {
		t.Fatalf("container port metrics = %d, AUTHGATE_METRICS_LISTEN port %s", containerPort, port)
	}

	// The Service's port for Prometheus.
	var svcPort int
	var svcPortName string
	for _, p := range g.s.Ports {
		if g.c.port(p.TargetPort) == containerPort {
			if svcPort != 0 {
				t.Errorf("Service %s: several ports target the metrics port", g.svc.Metadata.Name)
			}
			svcPort, svcPortName = p.Port, p.Name
		}
	}
	if svcPort == 0 || svcPortName != "metrics" {
		t.Fatalf("Service %s ports %+v: want a port named metrics targeting the container's port metrics", g.svc.Metadata.Name, g.s.Ports)
	}
	routesToMetrics := func(name, namespace string, portName string, portNumber int) bool {
		return name == g.svc.Metadata.Name && namespace == g.svc.Metadata.Namespace &&
			(portName == svcPortName || portNumber == svcPort)
	}

	// No Ingress or IngressRoute routes to it.
	var ingresses, routes int
	for _, o := range g.objs {
		switch o.Kind {
		case "Ingress":
			ingresses++
			var in k8sIngressSpec
			specOf(t, o, &in)
			backends := []k8sIngressBackend{}
			if in.DefaultBackend != nil {
				backends = append(backends, *in.DefaultBackend)
			}
			for _, r := range in.Rules {
				for _, p := range r.HTTP.Paths {
					backends = append(backends, p.Backend)
				}
			}
			for _, b := range backends {
				if routesToMetrics(b.Service.Name, o.Metadata.Namespace, b.Service.Port.Name, b.Service.Port.Number) {
					t.Errorf("Ingress %s routes to the gate's metrics port", o.Metadata.Name)
				}
			}
		case "IngressRoute":
			var ir traefikIngressRouteSpec
			specOf(t, o, &ir)
			for _, r := range ir.Routes {
				routes++
				for _, sv := range r.Services {
					ns := sv.Namespace
					if ns == "" {
						ns = o.Metadata.Namespace
					}
					if routesToMetrics(sv.Name, ns, "", sv.Port) {
						t.Errorf("IngressRoute %s %s routes to the gate's metrics port", o.Metadata.Name, r.Match)
					}
				}
			}
		}
	}
	if ingresses == 0 || routes == 0 {
		t.Errorf("found %d Ingresses and %d IngressRoute routes: the test no longer reads the proxies' files", ingresses, routes)
	}
	// Nor does any URL in the proxies' files (auth-url, forwardAuth).
	metricsURL := regexp.MustCompile(regexp.QuoteMeta(g.svc.Metadata.Name) + `(\.[a-z0-9.-]+)?:` + strconv.Itoa(svcPort) + `\b`)
	for _, f := range []string{"kubernetes/ingress-nginx.yml", "traefik/kubernetes.yml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := metricsURL.Find(b); m != nil {
			t.Errorf("%s names the gate's metrics port: %s", f, m)
		}
	}

	// The NetworkPolicy: the metrics port from named namespaces, by rules
	// that admit nothing else, and never from an ingress controller's.
	var httpFrom, metricsFrom []string
	for _, o := range g.objs {
		if o.Kind != "NetworkPolicy" || o.Metadata.Namespace != g.dep.Metadata.Namespace {
			continue
		}
		var np k8sNetworkPolicySpec
		specOf(t, o, &np)
		if !np.PodSelector.selects(t, g.podLabels) {
			continue
		}
		for i, rule := range np.Ingress {
			var toHTTP, toMetrics bool
			for _, p := range rule.Ports {
				switch g.c.port(p.Port) {
				case containerPort:
					toMetrics = true
				case g.c.port(g.listenPortNumber(t)):
					toHTTP = true
				}
			}
			if len(rule.Ports) == 0 {
				toHTTP, toMetrics = true, true // checkTrust reports it
			}
			if toHTTP {
				for _, peer := range rule.From {
					if peer.NamespaceSelector != nil {
						httpFrom = append(httpFrom, namespacesNamed(t, *peer.NamespaceSelector)...)
					}
				}
			}
			if !toMetrics {
				continue
			}
			if toHTTP {
				t.Errorf("NetworkPolicy %s: ingress rule %d admits both the gate's port and its metrics port: give Prometheus a rule of its own, on the port metrics only", o.Metadata.Name, i+1)
			}
			for _, peer := range rule.From {
				var names []string
				if peer.NamespaceSelector != nil && peer.IPBlock == nil {
					names = namespacesNamed(t, *peer.NamespaceSelector)
				}
				if len(names) == 0 {
					t.Errorf("NetworkPolicy %s: ingress rule %d admits the metrics port from %+v: name the monitoring namespace (kubernetes.io/metadata.name)", o.Metadata.Name, i+1, peer)
				}
				metricsFrom = append(metricsFrom, names...)
			}
		}
	}
	if len(metricsFrom) == 0 {
		t.Error("no NetworkPolicy rule admits Prometheus to the metrics port")
	}
	for _, ns := range metricsFrom {
		if slices.Contains(httpFrom, ns) {
			t.Errorf("the namespace %s reaches both the gate and its metrics: an ingress controller's namespace must not reach the metrics port", ns)
		}
	}
}

// namespacesNamed is the namespaces a namespaceSelector names by
// kubernetes.io/metadata.name (matchLabels, or matchExpressions with In);
// nil when it selects namespaces some other way, which the test does not
// try to understand.
func namespacesNamed(tb testing.TB, s k8sLabelSelector) []string {
	tb.Helper()
	const key = "kubernetes.io/metadata.name"
	var names []string
	if n, ok := s.MatchLabels[key]; ok {
		names = append(names, n)
	}
	for _, e := range s.MatchExpressions {
		var expr struct {
			Key      string   `yaml:"key"`
			Operator string   `yaml:"operator"`
			Values   []string `yaml:"values"`
		}
		reDecode(tb, "namespaceSelector", e, &expr)
		if expr.Key != key || expr.Operator != "In" {
			return nil
		}
		names = append(names, expr.Values...)
	}
	for k := range s.MatchLabels {
		if k != key {
			return nil
		}
	}
	return names
}

// serviceMonitor is the Prometheus operator's ServiceMonitor, as far as the
// example uses it; decoded strictly, so a misspelt key fails.
type serviceMonitor struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		Selector          k8sLabelSelector `yaml:"selector"`
		NamespaceSelector struct {
			MatchNames []string `yaml:"matchNames"`
			Any        bool     `yaml:"any"`
		} `yaml:"namespaceSelector"`
		Endpoints []struct {
			Port     string `yaml:"port"`
			Path     string `yaml:"path"`
			Scheme   string `yaml:"scheme"`
			Interval string `yaml:"interval"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

// commentedDocument is the YAML that follows the comment line start in
// file, up to the first line that is not a comment, with the comment
// marks removed: an example an operator enables by uncommenting it.
func commentedDocument(tb testing.TB, file, start string) []byte {
	tb.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	i := slices.Index(lines, start)
	if i < 0 {
		tb.Fatalf("%s: no line %q", file, start)
	}
	var doc bytes.Buffer
	for _, l := range lines[i:] {
		if !strings.HasPrefix(l, "#") {
			break
		}
		l = strings.TrimPrefix(strings.TrimPrefix(l, "#"), " ")
		fmt.Fprintln(&doc, l)
	}
	return doc.Bytes()
}

// checkServiceMonitor: the commented ServiceMonitor, uncommented, is a
// valid one that scrapes the gate's Service on its port metrics.
func (g *gateManifests) checkServiceMonitor(t *testing.T) {
	doc := commentedDocument(t, g.authgateYML, "# apiVersion: monitoring.coreos.com/v1")
	var sm serviceMonitor
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&sm); err != nil {
		t.Fatalf("%s: the commented ServiceMonitor: %v\n%s", g.authgateYML, err, doc)
	}
	if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Kind != "ServiceMonitor" || sm.Metadata.Name == "" {
		t.Errorf("commented ServiceMonitor: %s %s %q", sm.APIVersion, sm.Kind, sm.Metadata.Name)
	}
	namespaces := sm.Spec.NamespaceSelector.MatchNames
	if len(namespaces) == 0 && !sm.Spec.NamespaceSelector.Any {
		namespaces = []string{sm.Metadata.Namespace}
	}
	if sm.Spec.NamespaceSelector.Any || !slices.Contains(namespaces, g.svc.Metadata.Namespace) {
		t.Errorf("ServiceMonitor: namespaces %v, want the gate's, %s", namespaces, g.svc.Metadata.Namespace)
	}
	if len(sm.Spec.Selector.MatchLabels) == 0 {
		t.Fatal("ServiceMonitor: an empty selector scrapes every Service")
	}
	var selected []string
	for _, o := range g.objs {
		if o.Kind == "Service" && slices.Contains(namespaces, o.Metadata.Namespace) && sm.Spec.Selector.selects(t, o.Metadata.Labels) {
			selected = append(selected, o.Metadata.Namespace+"/"+o.Metadata.Name)
		}
	}
	if want := g.svc.Metadata.Namespace + "/" + g.svc.Metadata.Name; !slices.Equal(selected, []string{want}) {
		t.Errorf("ServiceMonitor selects the Services %v, want %s alone", selected, want)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor: %d endpoints, want one", len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	var named bool
	for _, p := range g.s.Ports {
		named = named || p.Name == ep.Port && g.c.port(p.TargetPort) == g.c.port("metrics")
	}
	if !named {
		t.Errorf("ServiceMonitor endpoint port %q is not the Service's port for the container's metrics", ep.Port)
	}
	if ep.Path != "" && ep.Path != "/metrics" || ep.Scheme != "" && ep.Scheme != "http" {
		t.Errorf("ServiceMonitor endpoint %s://...%s: the gate serves http, /metrics", ep.Scheme, ep.Path)
	}
}
