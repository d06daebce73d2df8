// Package rules owns the access rules file (AUTHGATE_RULES_FILE): its
// format and strict loading, the matching of the original request's host,
// path, method and client address, and the one evaluator that both /verify
// and "authgate rules explain" use. The first matching rule decides; none
// matching, the default does. groups, users and mfa (a second factor) are
// requirements of an authenticated rule, never match criteria, so a rule's place in the file
// is the only thing that decides which rule applies.
//
// A Set is immutable once loaded and safe for concurrent use; a reload
// builds a new one and swaps it in whole (Holder), so no request sees a
// half-loaded set. It imports nothing of authgate but verify/rules/norm,
// which puts paths and hosts in the form rules compare.
package rules

import (
	"github.com/authgate/authgate/verify/rules/norm"
	"hash/maphash"
	"net/netip"
	"strings"
	"sync/atomic"
)

// Action is what a rule (or the default) decides.
type Action uint8

const (
	// Authenticated requires valid credentials, then the rule's groups
	// and users.
	Authenticated Action = iota
	// Allow lets anyone through.
	Allow
	// Deny refuses everyone.
	Deny
)

func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "authenticated"
}

// Rule is one entry of the file.
type Rule struct {
	Name     string
	Position int // 1-based, in file order
	Line     int
	Action   Action
	Groups   []string // authenticated only: member of any (lower case)
	Users    []string // authenticated only: one of (lower case)
	// MFA (authenticated only): the session must have been established
	// with a second factor.
	MFA bool

	hosts    []string // exact names, and "*.suffix" patterns, normalised
	paths    []string // "/exact" or "/prefix/*"
	methods  []string // upper case
	networks []netip.Prefix
}

// Request is what a decision is made on: the original request as the
// proxy described it, and the client's address.
type Request struct {
	// Known is false when the original request is unknown (the caller is
	// not a trusted proxy, or sent no forwarded headers): host, path and
	// method criteria then match nothing.
	Known  bool
	Host   string // as sent, with port: normalised here
	Path   string // raw path, query allowed: normalised here
	Method string
	Client netip.Addr // the zero Addr matches no network
	// ClientPending says Client has not been looked up yet: Decide then
	// stops at the first rule that names networks and answers NeedClient,
	// so the lookup is paid only by requests that meet such a rule.
	ClientPending bool
	// Unsafe says the original request was described, but not so that
	// it can be read one way only: forwarded headers that contradict each
	// other (one dialect's set by the proxy, the other's slipped in by the
	// client), or a description that cannot be parsed. An invalid host
	// makes a request unsafe too. Such a request never matches a rule that
	// allows by host, path or method, and matches the host, path and
	// method criteria of every other rule: it is refused, or must sign in
	// and meet the first protecting rule, never waved through.
	Unsafe bool
}

// Decision is the outcome: the action, and the rule that decided (nil for
// the default).
type Decision struct {
	Action Action
	Rule   *Rule
	// NeedClient: the request's client address is needed to decide (it
	// was pending); decide again with it.
	NeedClient bool
}

// RuleName is the deciding rule's name, or "default".
func (d Decision) RuleName() string {
	if d.Rule == nil {
		return "default"
	}
	return d.Rule.Name
}

// Permits reports whether an authenticated user passes the deciding rule's
// groups and users (always, without a rule or requirements).
func (d Decision) Permits(user string, groups []string) bool {
	return d.Rule == nil || d.Rule.AllowsUser(user) && d.Rule.AllowsGroups(groups)
}

// AllowsUser reports whether user is one of the rule's users (any user,
// when it names none).
func (r *Rule) AllowsUser(user string) bool {
	return len(r.Users) == 0 || containsFold(r.Users, user)
}

// AllowsGroups reports whether any of groups is one of the rule's groups
// (any groups, when it names none).
func (r *Rule) AllowsGroups(groups []string) bool {
	if len(r.Groups) == 0 {
		return true
	}
	for _, g := range groups {
		if containsFold(r.Groups, g) {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

// Set is a loaded rules file.
type Set struct {
	Default Action
	Rules   []Rule

	// The host index: the rules a request can match are those without
	// host criteria, those naming its host, and those whose "*.suffix"
	// patterns cover it, merged back into file order.
	hostless []int32
	exact    map[string][]int32
	wildcard map[string][]int32 // suffix without "*." -> rules
	// wildLen marks the lengths of the wildcard suffixes, so a host's
	// suffixes of other lengths cost no map lookup.
	wildLen [256]bool
	// unknown lists the rules an unknown original request can match: no
	// host, path or method criteria.
	unknown []int32

	// recent remembers decisions by the exact host, path and method
	// strings the proxy sent (direct-mapped, lock-free: a slot holds one
	// immutable entry; a collision replaces it). Only decisions that did
	// not need the client address are kept: they depend on nothing else,
	// and the Set never changes (a reload builds a new Set, and a new
	// cache). A hit skips normalisation and matching.
	seed   maphash.Seed
	recent [recentSlots]atomic.Pointer[recentEntry]
}

const recentSlots = 1024

type recentEntry struct {
	host, path, method string
	rule               int32 // -1: the default
}

// Holder keeps the set in force; Store swaps a new one in whole.
type Holder struct{ p atomic.Pointer[Set] }

// Load returns the set in force (nil before the first Store).
func (h *Holder) Load() *Set { return h.p.Load() }

// Store puts s in force.
func (h *Holder) Store(s *Set) { h.p.Store(s) }

// target is a request normalised once for every rule it meets.
type target struct {
	req    Request
	host   string
	path   string
	safe   bool
	unsafe bool // the request as a whole (Request.Unsafe, or its host)
	// reading is the lenient reading of a path that may read differently
	// (see Reading); "" when it cannot.
	reading string
	// usedClient: a rule naming networks was looked at.
	usedClient bool
}

func newTarget(req Request) target {
	t := target{req: req, safe: true, unsafe: req.Unsafe}
	if req.Known && !req.Unsafe {
		t.host = norm.Host(req.Host)
		t.unsafe = !norm.ValidHost(t.host)
		t.path, t.safe = norm.Path(req.Path)
		if !t.safe || norm.NeedsReading(req.Path) {
			t.reading = norm.Reading(req.Path)
		}
	}
	return t
}

// Decide is /verify's evaluator: the first matching rule, else the
// default. A request seen before (same host, path and method strings)
// is answered from a small cache without allocating; otherwise the
// decision allocates only to normalise an unclean path.
func (s *Set) Decide(req Request) Decision {
	if !req.Known || req.Unsafe {
		d, _ := s.decide(req)
		return d
	}
	slot := &s.recent[s.slotOf(req)]
	if e := slot.Load(); e != nil && e.host == req.Host && e.path == req.Path && e.method == req.Method {
		if e.rule < 0 {
			return Decision{Action: s.Default}
		}
		return Decision{Action: s.Rules[e.rule].Action, Rule: &s.Rules[e.rule]}
	}
	d, usedClient, unsafe := s.decideTarget(req)
	if !usedClient && !unsafe {
		e := &recentEntry{host: req.Host, path: req.Path, method: req.Method, rule: -1}
		if d.Rule != nil {
			e.rule = int32(d.Rule.Position - 1)
		}
		slot.Store(e)
	}
	return d
}

func (s *Set) slotOf(req Request) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(req.Host)
	h.WriteByte(0)
	h.WriteString(req.Path)
	h.WriteByte(0)
	h.WriteString(req.Method)
	return h.Sum64() % recentSlots
}

// decide is Decide without the cache.
func (s *Set) decide(req Request) (Decision, bool) {
	d, used, _ := s.decideTarget(req)
	return d, used
}

// decideTarget also reports whether a rule that names networks was looked
// at, and whether the request was unsafe: such decisions depend on more
// than the URL and are not remembered by it.
func (s *Set) decideTarget(req Request) (Decision, bool, bool) {
	t := newTarget(req)
	d := s.first(&t)
	return d, t.usedClient, t.unsafe
}

// first finds the deciding rule for t.
func (s *Set) first(t *target) Decision {
	req := t.req
	if t.unsafe {
		return s.strictest(t)
	}
	if !req.Known {
		for _, i := range s.unknown {
			switch s.Rules[i].mismatch(t) {
			case "":
				return Decision{Action: s.Rules[i].Action, Rule: &s.Rules[i]}
			case clientPending:
				return Decision{NeedClient: true}
			}
		}
		return Decision{Action: s.Default}
	}
	var lists [maxLists][]int32
	n := s.candidates(t.host, &lists)
	if n < 0 {
		return s.scan(t, nil)
	}
	// Merge the sorted lists in file order.
	var pos [maxLists]int
	last := int32(-1)
	for {
		best, bi := int32(-1), -1
		for k := 0; k < n; k++ {
			if pos[k] < len(lists[k]) {
				if v := lists[k][pos[k]]; best < 0 || v < best {
					best, bi = v, k
				}
			}
		}
		if bi < 0 {
			return Decision{Action: s.Default}
		}
		pos[bi]++
		if best == last {
			continue // a rule listed under two of the host's lists
		}
		last = best
		r := &s.Rules[best]
		switch r.mismatch(t) {
		case "":
			return Decision{Action: r.Action, Rule: r}
		case clientPending:
			return Decision{NeedClient: true}
		}
	}
}

const maxLists = 16

// candidates fills lists with the index lists that can hold matches for
// host, and returns how many; -1 when the host has too many labels to
// index (then every rule is scanned).
func (s *Set) candidates(host string, lists *[maxLists][]int32) int {
	n := 0
	lists[n] = s.hostless
	n++
	if l := s.exact[host]; len(l) > 0 {
		lists[n] = l
		n++
	}
	for i := 0; i < len(host); i++ {
		if host[i] != '.' {
			continue
		}
		if n := len(host) - i - 1; n < len(s.wildLen) && !s.wildLen[n] {
			continue
		}
		if l := s.wildcard[host[i+1:]]; len(l) > 0 {
			if n == maxLists {
				return -1
			}
			lists[n] = l
			n++
		}
	}
	return n
}

// strictest decides an unsafe request: it may be any of the requests its
// readings describe, so a deny that could apply wins, then the first
// authenticated rule that could apply, then the default.
func (s *Set) strictest(t *target) Decision {
	var auth *Rule
	for i := range s.Rules {
		r := &s.Rules[i]
		switch m := r.mismatch(t); {
		case m == clientPending:
			return Decision{NeedClient: true}
		case m != "":
		case r.Action == Deny:
			return Decision{Action: Deny, Rule: r}
		case r.Action == Authenticated && auth == nil:
			auth = r
		case r.Action == Allow && auth == nil:
			// An allow without host, path or method criteria (networks
			// only) reads the same for every reading.
			return Decision{Action: Allow, Rule: r}
		}
	}
	if auth != nil {
		return Decision{Action: Authenticated, Rule: auth}
	}
	return Decision{Action: s.Default}
}

// Skip says why a rule before the deciding one did not match.
type Skip struct {
	Rule     string `json:"rule"`
	Position int    `json:"position"`
	Mismatch string `json:"mismatch"`
}

// Explain is the same evaluator as Decide, scanning every rule in order
// and saying, for each one that did not match, the first criterion that
// did not.
func (s *Set) Explain(req Request) (Decision, []Skip) {
	req.ClientPending = false
	t := newTarget(req)
	var skips []Skip
	if !t.unsafe {
		return s.scan(&t, &skips), skips
	}
	d := s.strictest(&t)
	for i := range s.Rules {
		r := &s.Rules[i]
		if r == d.Rule {
			break
		}
		m := r.mismatch(&t)
		if m == "" {
			m = "could apply, but the request cannot be read one way only and a stricter rule that could apply decides"
		}
		skips = append(skips, Skip{Rule: r.Name, Position: r.Position, Mismatch: m})
	}
	return d, skips
}

func (s *Set) scan(t *target, skips *[]Skip) Decision {
	for i := range s.Rules {
		r := &s.Rules[i]
		m := r.mismatch(t)
		if m == "" {
			return Decision{Action: r.Action, Rule: r}
		}
		if m == clientPending {
			return Decision{NeedClient: true}
		}
		if skips != nil {
			*skips = append(*skips, Skip{Rule: r.Name, Position: r.Position, Mismatch: m})
		}
	}
	return Decision{Action: s.Default}
}

// mismatch names the first criterion of r that t does not meet, or "".
func (r *Rule) mismatch(t *target) string {
	if t.unsafe && (len(r.hosts) > 0 || len(r.paths) > 0 || len(r.methods) > 0) {
		// The request cannot be read one way only: an allow by host, path
		// or method never applies; every other rule's such criteria do.
		if r.Action == Allow {
			return "the original request cannot be read one way only (contradicting forwarded headers, or an invalid host or URL), and this rule allows"
		}
		return r.networkMismatch(t)
	}
	if len(r.hosts) > 0 {
		if !t.req.Known {
			return "hosts: the original request is unknown"
		}
		if !matchHost(r.hosts, t.host) {
			return "hosts: " + t.host + " is not listed"
		}
	}
	if len(r.methods) > 0 {
		if !t.req.Known {
			return "methods: the original request is unknown"
		}
		if !containsFold(r.methods, t.req.Method) {
			return "methods: " + t.req.Method + " is not listed"
		}
	}
	if len(r.paths) > 0 {
		if !t.req.Known {
			return "paths: the original request is unknown"
		}
		if r.Action == Allow {
			// Allow only what reads one way, and only when the lenient
			// reading is covered too ("/public/..;/admin" is "/admin" to
			// some backends).
			switch {
			case !t.safe:
				return "paths: the path cannot be read one way only, and this rule allows"
			case !matchPath(r.paths, t.path):
				return "paths: " + t.path + " is not covered"
			case t.reading != "" && !matchPath(r.paths, t.reading):
				return "paths: a backend may read " + t.path + " as " + t.reading + ", which this rule does not cover"
			}
		} else if !matchProtected(r.paths, t.path) && (t.reading == "" || !matchProtected(r.paths, t.reading)) {
			return "paths: " + t.path + " is not covered"
		}
	}
	return r.networkMismatch(t)
}

// matchProtected is matchPath for a rule that protects: an exact path
// also matches with a trailing slash, which many backends ignore.
func matchProtected(patterns []string, path string) bool {
	return matchPath(patterns, path) || len(path) > 1 && strings.HasSuffix(path, "/") && matchPath(patterns, path[:len(path)-1])
}

func (r *Rule) networkMismatch(t *target) string {
	if len(r.networks) > 0 {
		t.usedClient = true
		if t.req.ClientPending {
			return clientPending
		}
		ok := false
		for _, p := range r.networks {
			ok = ok || t.req.Client.IsValid() && p.Contains(t.req.Client.Unmap())
		}
		if !ok {
			return "networks: " + addrString(t.req.Client) + " is not in them"
		}
	}
	return ""
}

// clientPending is mismatch's answer when a rule needs the client address
// and it has not been looked up.
const clientPending = "\x00client pending"

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "an unknown address"
	}
	return a.String()
}

func matchHost(patterns []string, host string) bool {
	for _, p := range patterns {
		if suffix, ok := strings.CutPrefix(p, "*."); ok {
			if len(host) > len(suffix)+1 && strings.HasSuffix(host, suffix) && host[len(host)-len(suffix)-1] == '.' {
				return true
			}
		} else if p == host {
			return true
		}
	}
	return false
}

func matchPath(patterns []string, path string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "/*"); ok {
			if path == prefix || strings.HasPrefix(path, prefix+"/") || prefix == "" {
				return true
			}
		} else if p == path {
			return true
		}
	}
	return false
}
