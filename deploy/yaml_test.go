package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// decodeStrict decodes the single YAML document in path into v, refusing
// keys v does not name: a misspelt option (trustForwardHeaders) would be
// ignored by the proxy and so must fail here.
func decodeStrict(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		tb.Fatalf("%s: want one YAML document, found more (%v)", path, err)
	}
}

// yamlDocuments decodes every document of a multi-document file into
// generic maps.
func yamlDocuments(tb testing.TB, path string) []map[string]any {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("%s: document %d: %v", path, len(docs)+1, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		tb.Fatalf("%s: no YAML documents", path)
	}
	return docs
}

// reDecode converts a generic document into a typed one, strictly.
func reDecode(tb testing.TB, where string, doc any, v any) {
	tb.Helper()
	b, err := yaml.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: %v", where, err)
	}
}

// Traefik's file-provider dynamic configuration, as far as deploy/ uses it.
type traefikDynamic struct {
	HTTP struct {
		Middlewares map[string]traefikMiddleware `yaml:"middlewares"`
		Routers     map[string]struct {
			Rule        string   `yaml:"rule"`
			EntryPoints []string `yaml:"entryPoints"`
			Middlewares []string `yaml:"middlewares"`
			Service     string   `yaml:"service"`
		} `yaml:"routers"`
		Services map[string]struct {
			LoadBalancer struct {
				Servers []struct {
					URL string `yaml:"url"`
				} `yaml:"servers"`
			} `yaml:"loadBalancer"`
		} `yaml:"services"`
	} `yaml:"http"`
}

// traefikMiddleware is a middleware in the file provider and the spec of a
// Middleware CRD alike.
type traefikMiddleware struct {
	ForwardAuth *traefikForwardAuth `yaml:"forwardAuth"`
	Headers     *struct {
		CustomRequestHeaders map[string]string `yaml:"customRequestHeaders"`
	} `yaml:"headers"`
}

type traefikForwardAuth struct {
	Address             string   `yaml:"address"`
	TrustForwardHeader  bool     `yaml:"trustForwardHeader"`
	AuthResponseHeaders []string `yaml:"authResponseHeaders"`
}

// Traefik's static configuration, as far as deploy/ uses it.
type traefikStatic struct {
	EntryPoints map[string]struct {
		Address          string `yaml:"address"`
		ForwardedHeaders *struct {
			Insecure   bool     `yaml:"insecure"`
			TrustedIPs []string `yaml:"trustedIPs"`
		} `yaml:"forwardedHeaders"`
		HTTP struct {
			AliasHeadersStrategy string `yaml:"aliasHeadersStrategy"`
			Redirections         any    `yaml:"redirections"`
			TLS                  any    `yaml:"tls"`
		} `yaml:"http"`
	} `yaml:"entryPoints"`
	Providers struct {
		File struct {
			Filename string `yaml:"filename"`
			Watch    bool   `yaml:"watch"`
		} `yaml:"file"`
	} `yaml:"providers"`
	CertificatesResolvers any `yaml:"certificatesResolvers"`
}
