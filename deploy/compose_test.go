package deploy

import (
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

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
		Networks    yaml.Node         `yaml:"networks"`
	} `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
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

	// The gate trusts Traefik's fixed address and nothing else on the
	// network: with the private ranges trusted (the old default) any
	// container could send X-Forwarded-For and pick the address its
	// failures are counted against.
	checkComposeTrust(t, cf)

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

func checkComposeTrust(t *testing.T, cf composeFile) {
	t.Helper()
	var traefikNets map[string]struct {
		IPv4 string `yaml:"ipv4_address"`
	}
	traefikNode := cf.Services["traefik"].Networks
	if err := traefikNode.Decode(&traefikNets); err != nil || len(traefikNets) != 1 {
		t.Fatalf("traefik: want one network with a fixed ipv4_address: %v", err)
	}
	for name, n := range traefikNets {
		addr, err := netip.ParseAddr(n.IPv4)
		if err != nil {
			t.Fatalf("traefik: ipv4_address %q: %v", n.IPv4, err)
		}
		nw, ok := cf.Networks[name]
		if !ok || len(nw.IPAM.Config) != 1 {
			t.Fatalf("network %s: want one ipam subnet", name)
		}
		subnet, err := netip.ParsePrefix(nw.IPAM.Config[0].Subnet)
		if err != nil || !subnet.Contains(addr) {
			t.Fatalf("traefik's %s is not in network %s's subnet %q", addr, name, nw.IPAM.Config[0].Subnet)
		}
		trusted := cf.Services["authgate"].Environment["AUTHGATE_TRUSTED_PROXIES"]
		if trusted != addr.String()+"/32" {
			t.Fatalf("authgate: AUTHGATE_TRUSTED_PROXIES=%q, want exactly Traefik's %s/32", trusted, addr)
		}
		for _, svc := range []string{"authgate", "whoami"} {
			var nets []string
			node := cf.Services[svc].Networks
			if err := node.Decode(&nets); err != nil || !slices.Contains(nets, name) {
				t.Fatalf("%s is not on network %s (%v)", svc, name, nets)
			}
		}
	}
}
