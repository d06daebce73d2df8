package deploy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The gate's metrics as Prometheus sees them: the tests here scrape the
// real binary's metrics listener (AUTHGATE_METRICS_LISTEN) and hold the
// dashboard, the README and the manifests' queries to what it exports.

// sample is one line of the text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// exposition is one scrape: each family's type (from # TYPE) and every
// sample.
type exposition struct {
	types   map[string]string
	samples []sample
}

// scrapeMetrics reads http://addr/metrics.
func scrapeMetrics(tb testing.TB, addr string) exposition {
	tb.Helper()
	e, err := tryScrape(addr)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func tryScrape(addr string) (exposition, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return exposition{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return exposition{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return exposition{}, fmt.Errorf("GET /metrics on %s: %s", addr, resp.Status)
	}
	return parseExposition(string(b))
}

// waitMetrics waits until the gate p serves its metrics at addr.
func waitMetrics(tb testing.TB, p *process, addr string) {
	tb.Helper()
	waitUntil(tb, p, "metrics at "+addr, 10*time.Second, func() error {
		_, err := tryScrape(addr)
		return err
	})
}

// parseExposition reads Prometheus's text format, as far as the gate's
// client library writes it.
func parseExposition(text string) (exposition, error) {
	e := exposition{types: map[string]string{}}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			e.types[f[2]] = f[3]
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return e, fmt.Errorf("/metrics line %d %q: %v", i+1, line, err)
		}
		e.samples = append(e.samples, s)
	}
	if len(e.samples) == 0 {
		return e, errors.New("/metrics: no samples")
	}
	return e, nil
}

// parseSample reads `name{label="value",...} value [timestamp]`.
func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, errors.New("no name")
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for {
			line = strings.TrimLeft(line, ", ")
			if rest, ok := strings.CutPrefix(line, "}"); ok {
				line = rest
				break
			}
			name, rest, ok := strings.Cut(line, `="`)
			if !ok {
				return s, errors.New("bad label")
			}
			var v strings.Builder
			closed := false
			for j := 0; j < len(rest) && !closed; j++ {
				switch c := rest[j]; {
				case c == '\\' && j+1 < len(rest):
					j++
					if rest[j] == 'n' {
						v.WriteByte('\n')
					} else {
						v.WriteByte(rest[j])
					}
				case c == '"':
					closed, line = true, rest[j+1:]
				default:
					v.WriteByte(c)
				}
			}
			if !closed {
				return s, errors.New("unterminated label value")
			}
			s.labels[name] = v.String()
		}
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return s, errors.New("no value")
	}
	var err error
	s.value, err = strconv.ParseFloat(f[0], 64)
	return s, err
}

// family is the metric family a series name belongs to: itself, or the
// histogram (or summary) whose _bucket, _sum or _count it is.
func (e exposition) family(name string) (string, bool) {
	if _, ok := e.types[name]; ok {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if t := e.types[base]; t == "histogram" || t == "summary" {
				return base, true
			}
		}
	}
	return "", false
}

// families is every exported family whose name starts with prefix.
func (e exposition) families(prefix string) []string {
	var out []string
	for name := range e.types {
		if strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// labels is the label names of a family's series ("le" of a histogram's
// buckets included).
func (e exposition) labels(family string) map[string]bool {
	out := map[string]bool{}
	for _, s := range e.samples {
		if f, _ := e.family(s.name); f == family {
			for k := range s.labels {
				out[k] = true
			}
		}
	}
	return out
}

// labelValues is the values a family's label takes.
func (e exposition) labelValues(family, label string) map[string]bool {
	out := map[string]bool{}
	for _, s := range e.samples {
		if f, _ := e.family(s.name); f == family {
			if v, ok := s.labels[label]; ok {
				out[v] = true
			}
		}
	}
	return out
}

// sum adds the samples named name whose labels include match.
func (e exposition) sum(name string, match map[string]string) float64 {
	var total float64
	for _, s := range e.samples {
		if s.name != name {
			continue
		}
		ok := true
		for k, v := range match {
			ok = ok && s.labels[k] == v
		}
		if ok {
			total += s.value
		}
	}
	return total
}

// Labels whose values are not from a fixed set the gate creates at start:
// a histogram's buckets and the build's versions.
var openLabels = map[string]bool{"le": true, "version": true, "goversion": true}

// targetLabels are the labels Prometheus adds to every series it scrapes.
var targetLabels = map[string]bool{"instance": true, "job": true}

var (
	promName     = regexp.MustCompile(`\bauthgate_[a-z_]+`)
	promSelector = regexp.MustCompile(`\b(authgate_[a-z_]+)\s*\{([^}]*)\}`)
	promMatcher  = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"\\]*)"\s*$`)
	promGrouping = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	promLiterals = regexp.MustCompile(`^[a-zA-Z0-9_]+(\|[a-zA-Z0-9_]+)*$`)
)

// checkPromQL holds a PromQL expression to what the gate exports: every
// authgate_ metric it names is an exported family (or a histogram's
// _bucket, _sum, _count), every label it matches or groups by is one of
// those metrics' labels (or a target label), and every value it matches
// a label from a fixed set against (reason, code, result, op) is one the
// gate exports. A regular expression must be a list of such values.
func checkPromQL(tb testing.TB, where, expr string, e exposition) {
	tb.Helper()
	if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") ||
		strings.Count(expr, "[") != strings.Count(expr, "]") {
		tb.Errorf("%s: unbalanced brackets in %q", where, expr)
	}
	names := promName.FindAllString(expr, -1)
	if len(names) == 0 {
		tb.Errorf("%s: %q names no authgate_ metric", where, expr)
	}
	usable := map[string]bool{}
	for l := range targetLabels {
		usable[l] = true
	}
	for _, n := range names {
		f, ok := e.family(n)
		if !ok {
			tb.Errorf("%s: %s is not exported by the gate (%q)", where, n, expr)
			continue
		}
		for l := range e.labels(f) {
			if l != "le" || strings.HasSuffix(n, "_bucket") {
				usable[l] = true
			}
		}
	}
	for _, m := range promSelector.FindAllStringSubmatch(expr, -1) {
		f, ok := e.family(m[1])
		if !ok {
			continue // reported above
		}
		labels := e.labels(f)
		for _, part := range strings.Split(m[2], ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			mm := promMatcher.FindStringSubmatch(part)
			if mm == nil {
				tb.Errorf("%s: %s: cannot read the matcher %q", where, m[1], part)
				continue
			}
			label, op, value := mm[1], mm[2], mm[3]
			if !labels[label] && !targetLabels[label] {
				tb.Errorf("%s: %s has no label %s (%q)", where, m[1], label, expr)
				continue
			}
			if openLabels[label] || targetLabels[label] {
				continue
			}
			values := []string{value}
			if op == "=~" || op == "!~" {
				if !promLiterals.MatchString(value) {
					tb.Errorf("%s: %s{%s%s%q}: write the values out, a|b|c, so the test can check them", where, m[1], label, op, value)
					continue
				}
				values = strings.Split(value, "|")
			}
			exported := e.labelValues(f, label)
			for _, v := range values {
				if !exported[v] {
					tb.Errorf("%s: %s{%s=%q}: the gate exports no such %s (it has %v)", where, m[1], label, v, label, sortedKeys(exported))
				}
			}
		}
	}
	for _, m := range promGrouping.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !usable[l] {
				tb.Errorf("%s: groups by %s, which no metric of %q has", where, l, expr)
			}
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// exportedMetrics starts the real gate with its metrics listener on (and
// an access rules file, so the rules' metrics exist too) and scrapes what
// it exports before any request: every series of a fixed label set is
// created at start.
func exportedMetrics(t *testing.T) exposition {
	t.Helper()
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, rulesFile, "default: authenticated\nrules:\n  - name: health\n    hosts: [app.example.com]\n    paths: [/healthz]\n    action: allow\n")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	maddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startGate(t, gateConfig{addr: addr, loginURL: "https://auth.example.com/login",
		extraEnv: []string{"AUTHGATE_METRICS_LISTEN=" + maddr, "AUTHGATE_RULES_FILE=" + rulesFile}})
	// The log names the listener, as an operator would look for it.
	waitUntil(t, p, "the metrics listener's log line", 10*time.Second, func() error {
		if !strings.Contains(p.logTail(1<<16), `msg="metrics listening" addr=`+maddr) {
			return errors.New(`no "metrics listening" line naming ` + maddr)
		}
		return nil
	})
	waitMetrics(t, p, maddr)
	e := scrapeMetrics(t, maddr)
	if len(e.families("authgate_")) == 0 {
		t.Fatal("the gate exports no authgate_ metric")
	}
	return e
}

// TestMetricsDocumented holds the README's Observability section to what
// the gate exports: its metric table lists every authgate_ family with its
// type and labels, and nothing else; its reason table lists every reason;
// every value of a fixed label set is named; and its PromQL examples pass
// checkPromQL.
func TestMetricsDocumented(t *testing.T) {
	t.Parallel()
	e := exportedMetrics(t)
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Observability\n")
	if !ok {
		t.Fatal("README.md has no section ## Observability")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	if !strings.Contains(string(b), "(#observability)") {
		t.Error("README.md: Contents does not link #observability")
	}
	if !strings.Contains(string(b), "| `AUTHGATE_METRICS_LISTEN` |") {
		t.Error("README.md: the configuration table lacks AUTHGATE_METRICS_LISTEN")
	}

	lines := strings.Split(section, "\n")
	documented := map[string]bool{}
	backticked := regexp.MustCompile("`([^`]+)`")
	for _, l := range lines {
		if !strings.HasPrefix(l, "| `authgate_") {
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		if len(cells) != 4 {
			t.Errorf("README metric row %q: want | metric | type | labels | meaning |", l)
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[0]), "`")
		typ := strings.TrimSpace(cells[1])
		var labels []string
		for _, m := range backticked.FindAllStringSubmatch(cells[2], -1) {
			labels = append(labels, m[1])
		}
		slices.Sort(labels)
		documented[name] = true
		if e.types[name] == "" {
			t.Errorf("README documents %s, which the gate does not export", name)
			continue
		}
		if typ != e.types[name] {
			t.Errorf("README: %s is a %s, the gate exports a %s", name, typ, e.types[name])
		}
		var want []string
		for l := range e.labels(name) {
			if l != "le" {
				want = append(want, l)
			}
		}
		slices.Sort(want)
		if !slices.Equal(labels, want) {
			t.Errorf("README: %s labels %v, the gate exports %v", name, labels, want)
		}
	}
	for _, f := range e.families("authgate_") {
		if !documented[f] {
			t.Errorf("README's metric table lacks %s (%s)", f, e.types[f])
		}
	}

	// The reason table: | reason | answer | when |.
	var reasons []string
	inTable := false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "| reason |"):
			inTable = true
		case inTable && strings.HasPrefix(l, "| `"):
			reasons = append(reasons, backticked.FindStringSubmatch(l)[1])
		case inTable && !strings.HasPrefix(l, "|"):
			inTable = false
		}
	}
	slices.Sort(reasons)
	if want := sortedKeys(e.labelValues("authgate_verify_requests_total", "reason")); !slices.Equal(reasons, want) {
		t.Errorf("README's reason table lists %v, the gate exports %v", reasons, want)
	}

	// Every value of a fixed label set, named somewhere in the section.
	for _, f := range e.families("authgate_") {
		for l := range e.labels(f) {
			if openLabels[l] {
				continue
			}
			for v := range e.labelValues(f, l) {
				if !strings.Contains(section, "`"+v+"`") {
					t.Errorf("README's Observability section does not name the %s %q of %s", l, v, f)
				}
			}
		}
	}

	// The PromQL examples.
	var exprs int
	for _, block := range strings.Split(section, "```promql\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		for _, expr := range strings.Split(block, "\n") {
			if expr = strings.TrimSpace(expr); expr != "" && !strings.HasPrefix(expr, "#") {
				exprs++
				checkPromQL(t, "README.md", expr, e)
			}
		}
	}
	if exprs == 0 {
		t.Error("README's Observability section has no ```promql example")
	}
}

// TestCheckPromQL: the checker the dashboard and the README rely on
// refuses what it should.
func TestCheckPromQL(t *testing.T) {
	t.Parallel()
	e, err := parseExposition(`# TYPE authgate_verify_requests_total counter
authgate_verify_requests_total{code="200",reason="ok"} 3
authgate_verify_requests_total{code="401",reason="no_credentials"} 1
# TYPE authgate_verify_duration_seconds histogram
authgate_verify_duration_seconds_bucket{le="0.001"} 1
authgate_verify_duration_seconds_bucket{le="+Inf"} 4
authgate_verify_duration_seconds_sum 0.01
authgate_verify_duration_seconds_count 4
# TYPE authgate_build_info gauge
authgate_build_info{goversion="go1.26.8",version="v1.0.0 \"x\""} 1
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.sum("authgate_verify_requests_total", nil); got != 4 {
		t.Errorf("sum = %v, want 4", got)
	}
	if got := e.labelValues("authgate_build_info", "version"); !got[`v1.0.0 "x"`] {
		t.Errorf("escaped label value: %v", got)
	}
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{`sum by (code) (rate(authgate_verify_requests_total[5m]))`, true},
		{`histogram_quantile(0.99, sum by (le) (rate(authgate_verify_duration_seconds_bucket[5m])))`, true},
		{`sum by (reason) (rate(authgate_verify_requests_total{code!="200"}[5m]))`, true},
		{`sum(rate(authgate_verify_requests_total{reason=~"ok|no_credentials", instance="x"}[5m]))`, true},
		{`count by (version) (authgate_build_info{version="anything"})`, true},
		{`rate(authgate_verify_request_total[5m])`, false},                          // no such metric
		{`rate(authgate_verify_requests_total{reason="denied"}[5m])`, false},        // no such reason
		{`rate(authgate_verify_requests_total{reason=~"no_.*"}[5m])`, false},        // a pattern, unchecked
		{`rate(authgate_verify_requests_total{result="ok"}[5m])`, false},            // no such label
		{`sum by (result) (rate(authgate_verify_requests_total[5m]))`, false},       // no such label
		{`sum by (le) (rate(authgate_verify_requests_total[5m]))`, false},           // le without buckets
		{`rate(authgate_verify_duration_seconds_total[5m])`, false},                 // not a histogram suffix
		{`sum(rate(authgate_verify_requests_total{code="500"}[5m])`, false},         // no such code, unbalanced
		{`histogram_quantile(0.5, rate(authgate_build_info_bucket[5m]))`, false},    // not a histogram
		{`rate(authgate_verify_requests_total{code="200" reason="ok"}[5m])`, false}, // unreadable matcher
	} {
		ft := &fakeTB{TB: t}
		checkPromQL(ft, "test", tc.expr, e)
		if ft.failed == tc.ok {
			t.Errorf("checkPromQL(%q): failed=%v, want ok=%v (%v)", tc.expr, ft.failed, tc.ok, ft.msgs)
		}
	}
}

// fakeTB records failures instead of failing the test.
type fakeTB struct {
	testing.TB
	failed bool
	msgs   []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.failed = true
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}
