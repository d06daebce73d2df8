package rules

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/authgate/authgate/verify/rules/norm"
	"hash/maphash"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// file is the YAML document; decoding is strict, so an unknown key (a
// typo such as "group:") is an error, never a criterion silently dropped.
type file struct {
	Default string     `yaml:"default"`
	Rules   []fileRule `yaml:"rules"`
}

type fileRule struct {
	Name     string   `yaml:"name"`
	Hosts    []string `yaml:"hosts"`
	Paths    []string `yaml:"paths"`
	Methods  []string `yaml:"methods"`
	Networks []string `yaml:"networks"`
	Action   string   `yaml:"action"`
	Groups   []string `yaml:"groups"`
	Users    []string `yaml:"users"`
	MFA      bool     `yaml:"mfa"`
}

// Parse reads a rules file. Every error names the file, the line and the
// rule; warnings name rules that can never match, and the earlier rule
// that takes every request they would.
func Parse(name string, data []byte) (*Set, []string, error) {
	fail := func(line int, rule, format string, args ...any) error {
		where := name
		if line > 0 {
			where = fmt.Sprintf("%s:%d", name, line)
		}
		if rule != "" {
			where += fmt.Sprintf(": rule %q", rule)
		}
		return fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...))
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, fail(0, "", "%s", yamlError(err))
	}
	if err := checkShape(&root, fail); err != nil {
		return nil, nil, err
	}
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, fail(0, "", "empty file: it needs at least `default:`")
		}
		return nil, nil, fail(0, "", "%s", yamlError(err))
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, nil, fail(0, "", "one YAML document only")
	}
	lines := ruleLines(&root)

	s := &Set{exact: map[string][]int32{}, wildcard: map[string][]int32{}, seed: maphash.MakeSeed()}
	var ok bool
	if s.Default, ok = parseAction(f.Default); !ok {
		if f.Default == "" {
			return nil, nil, fail(0, "", "`default:` is required: allow, authenticated or deny")
		}
		return nil, nil, fail(0, "", "default %q: want allow, authenticated or deny", f.Default)
	}
	seen := map[string]int{}
	for i, fr := range f.Rules {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		r, err := buildRule(fr, i+1, line)
		if err != nil {
			return nil, nil, fail(line, fr.Name, "%v", err)
		}
		if first, dup := seen[r.Name]; dup {
			return nil, nil, fail(line, r.Name, "the name is used by rule %d already", first)
		}
		seen[r.Name] = i + 1
		s.Rules = append(s.Rules, r)
	}
	s.index()
	return s, s.unreachable(), nil
}

// yamlError turns the YAML library's messages ("yaml: unmarshal errors:\n
// line 6: ...") into one line that starts with the line number.
func yamlError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.TrimSpace(msg)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

var ruleKeys = map[string]bool{"name": true, "hosts": true, "paths": true, "methods": true, "networks": true, "action": true, "groups": true, "users": true, "mfa": true}

// checkShape walks the document before it is decoded, so the common
// mistakes are told in the file's words: an unknown key (a typo such as
// "group:" must not silently drop a criterion) or a single value where a
// list belongs, with the line and the rule's name.
func checkShape(root *yaml.Node, fail func(line int, rule, format string, args ...any) error) error {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil // empty: the decoder says so
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return fail(top.Line, "", "the file is a mapping with `default:` and `rules:`")
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "default":
		case "rules":
			if v.Kind != yaml.SequenceNode {
				if v.Tag == "!!null" {
					continue
				}
				return fail(v.Line, "", "`rules:` is a list of rules, each starting with `- name:`")
			}
			for _, item := range v.Content {
				if err := checkRule(item, fail); err != nil {
					return err
				}
			}
		default:
			return fail(k.Line, "", "unknown key %q (the file has `default:` and `rules:`)", k.Value)
		}
	}
	return nil
}

func checkRule(item *yaml.Node, fail func(line int, rule, format string, args ...any) error) error {
	if item.Kind != yaml.MappingNode {
		return fail(item.Line, "", "a rule is a mapping such as `- name: x`")
	}
	name := ""
	for i := 0; i+1 < len(item.Content); i += 2 {
		if item.Content[i].Value == "name" {
			name = item.Content[i+1].Value
		}
	}
	for i := 0; i+1 < len(item.Content); i += 2 {
		k, v := item.Content[i], item.Content[i+1]
		if !ruleKeys[k.Value] {
			return fail(k.Line, name, "unknown key %q (a rule has name, hosts, paths, methods, networks, action, groups, users, mfa)", k.Value)
		}
		if k.Value == "mfa" {
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				return fail(v.Line, name, "mfa is true or false, as in `mfa: true`")
			}
			continue
		}
		if k.Value != "name" && k.Value != "action" && v.Kind != yaml.SequenceNode {
			return fail(v.Line, name, "%s is a list, as in `%s: [%s]`", k.Value, k.Value, v.Value)
		}
	}
	return nil
}

// ruleLines finds the line of each item of the rules list.
func ruleLines(root *yaml.Node) []int {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "rules" {
			var lines []int
			for _, item := range m.Content[i+1].Content {
				lines = append(lines, item.Line)
			}
			return lines
		}
	}
	return nil
}

func parseAction(s string) (Action, bool) {
	switch s {
	case "allow":
		return Allow, true
	case "authenticated":
		return Authenticated, true
	case "deny":
		return Deny, true
	}
	return 0, false
}

var (
	ruleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	method   = regexp.MustCompile(`^[A-Z]{1,16}$`)
	listItem = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)
)

func buildRule(fr fileRule, pos, line int) (Rule, error) {
	r := Rule{Name: fr.Name, Position: pos, Line: line}
	if fr.Name == "" {
		return r, errors.New("`name:` is required")
	}
	if !ruleName.MatchString(fr.Name) {
		return r, errors.New("a name is 1-64 letters, digits, '.', '_' or '-'")
	}
	var ok bool
	if r.Action, ok = parseAction(fr.Action); !ok {
		return r, fmt.Errorf("action %q: want allow, authenticated or deny", fr.Action)
	}
	for _, h := range fr.Hosts {
		p := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
		bare, wild := strings.CutPrefix(p, "*.")
		if strings.Contains(bare, "*") || !norm.ValidHost(bare) || wild && norm.IsIP(bare) {
			return r, fmt.Errorf("host %q: a name, or *.name for its subdomains (a * anywhere else is not a pattern)", h)
		}
		r.hosts = append(r.hosts, p)
	}
	for _, p := range fr.Paths {
		if !strings.HasPrefix(p, "/") {
			return r, fmt.Errorf("path %q must start with /", p)
		}
		stem, prefix := strings.CutSuffix(p, "/*")
		if strings.Contains(stem, "*") {
			return r, fmt.Errorf("path %q: * only as a final /*", p)
		}
		if n, safe := norm.Path(stem); !safe || n != stem && !(prefix && stem == "") {
			if prefix {
				n = strings.TrimSuffix(n, "/") + "/*"
			}
			return r, fmt.Errorf("path %q is not in normal form (write it as %q): requests are matched after normalisation", p, n)
		}
		r.paths = append(r.paths, p)
	}
	for _, m := range fr.Methods {
		m = strings.ToUpper(strings.TrimSpace(m))
		if !method.MatchString(m) {
			return r, fmt.Errorf("method %q", m)
		}
		r.methods = append(r.methods, m)
	}
	for _, n := range fr.Networks {
		p, err := parseNetwork(n)
		if err != nil {
			return r, fmt.Errorf("network %q: %v", n, err)
		}
		r.networks = append(r.networks, p)
	}
	if (len(fr.Groups) > 0 || len(fr.Users) > 0 || fr.MFA) && r.Action != Authenticated {
		return r, errors.New("groups, users and mfa are requirements of an authenticated rule; on an allow or deny rule they would mean nothing")
	}
	r.MFA = fr.MFA
	for _, list := range []struct {
		in  []string
		out *[]string
		of  string
	}{{fr.Groups, &r.Groups, "group"}, {fr.Users, &r.Users, "user"}} {
		for _, e := range list.in {
			if !listItem.MatchString(e) {
				return r, fmt.Errorf("%s %q", list.of, e)
			}
			*list.out = append(*list.out, strings.ToLower(e))
		}
	}
	return r, nil
}

func parseNetwork(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// index builds the host index and the list for unknown requests.
func (s *Set) index() {
	for i := range s.Rules {
		r := &s.Rules[i]
		idx := int32(i)
		if len(r.hosts) == 0 {
			s.hostless = append(s.hostless, idx)
		}
		for _, h := range r.hosts {
			if suffix, ok := strings.CutPrefix(h, "*."); ok {
				s.wildcard[suffix] = appendOnce(s.wildcard[suffix], idx)
				if len(suffix) < len(s.wildLen) {
					s.wildLen[len(suffix)] = true
				}
			} else {
				s.exact[h] = appendOnce(s.exact[h], idx)
			}
		}
		if len(r.hosts) == 0 && len(r.paths) == 0 && len(r.methods) == 0 {
			s.unknown = append(s.unknown, idx)
		}
	}
}

func appendOnce(l []int32, i int32) []int32 {
	if len(l) > 0 && l[len(l)-1] == i {
		return l
	}
	return append(l, i)
}

// unreachable reports every rule that an earlier rule shadows: the earlier
// one matches every request the later one would, so the later never
// decides (the "bypass after a wildcard" trap).
func (s *Set) unreachable() []string {
	var out []string
	for j := range s.Rules {
		for i := 0; i < j; i++ {
			if covers(&s.Rules[i], &s.Rules[j]) {
				a, b := &s.Rules[i], &s.Rules[j]
				out = append(out, fmt.Sprintf("rule %q (position %d, line %d) can never match: rule %q (position %d, line %d) before it matches every request it would", b.Name, b.Position, b.Line, a.Name, a.Position, a.Line))
				break
			}
		}
	}
	return out
}

// covers reports whether a matches every request b matches.
func covers(a, b *Rule) bool {
	return coversList(a.hosts, b.hosts, hostCovers) &&
		coversList(a.paths, b.paths, pathCovers) &&
		coversList(a.methods, b.methods, func(x, y string) bool { return x == y }) &&
		coversNetworks(a.networks, b.networks)
}

// coversList: a criterion a omits matches anything; one b omits (while a
// has it) matches more than a does.
func coversList(a, b []string, c func(x, y string) bool) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, y := range b {
		if !slices.ContainsFunc(a, func(x string) bool { return c(x, y) }) {
			return false
		}
	}
	return true
}

func hostCovers(x, y string) bool {
	if x == y {
		return true
	}
	xs, xw := strings.CutPrefix(x, "*.")
	if !xw {
		return false
	}
	ys := strings.TrimPrefix(y, "*.")
	return strings.HasSuffix(ys, "."+xs) || strings.HasPrefix(y, "*.") && ys == xs
}

func pathCovers(x, y string) bool {
	if x == y {
		return true
	}
	xp, xw := strings.CutSuffix(x, "/*")
	if !xw {
		return false
	}
	yp := strings.TrimSuffix(y, "/*")
	return xp == "" || yp == xp || strings.HasPrefix(yp, xp+"/")
}

func coversNetworks(a, b []netip.Prefix) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, y := range b {
		if !slices.ContainsFunc(a, func(x netip.Prefix) bool { return x.Bits() <= y.Bits() && x.Contains(y.Addr()) }) {
			return false
		}
	}
	return true
}
