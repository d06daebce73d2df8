package deploy

import (
	"fmt"
	"slices"
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
	// Data is a ConfigMap's.
	Data map[string]string `yaml:"data"`
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
		SubPath   string `yaml:"subPath"`
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
			ConfigMap *struct {
				Name  string `yaml:"name"`
				Items []any  `yaml:"items"`
			} `yaml:"configMap"`
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
	IngressClassName string             `yaml:"ingressClassName"`
	DefaultBackend   *k8sIngressBackend `yaml:"defaultBackend"`
	Rules            []struct {
		Host string `yaml:"host"`
		HTTP struct {
			Paths []struct {
				Path     string            `yaml:"path"`
				PathType string            `yaml:"pathType"`
				Backend  k8sIngressBackend `yaml:"backend"`
			} `yaml:"paths"`
		} `yaml:"http"`
	} `yaml:"rules"`
}

// k8sIngressBackend is a Service in the Ingress's own namespace, its port
// by name or by number.
type k8sIngressBackend struct {
	Service struct {
		Name string `yaml:"name"`
		Port struct {
			Name   string `yaml:"name"`
			Number int    `yaml:"number"`
		} `yaml:"port"`
	} `yaml:"service"`
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
			Name      string `yaml:"name"`
			Namespace string `yaml:"namespace"` // empty: the IngressRoute's
			Port      int    `yaml:"port"`
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
