// Package cli holds what the authgate binary's subcommands share (flags
// before or after the arguments, a password read from stdin, the accounts
// listed) and the subcommands that need no configuration, such as
// "authgate rules". cmd/authgate dispatches to them.
package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"

	"github.com/authgate/authgate/verify/rules"
)

const rulesUsage = `usage: authgate rules <command>

  check FILE
      load FILE as the gate would; print a summary and any warnings
  explain FILE -url URL [-method GET] [-user NAME] [-groups a,b] [-ip ADDR] [-json]
      say which rule decides a request, and why each earlier rule did not
      match. -url is the original request's URL (https://host/path?query);
      with -user (and -groups), "authenticated" becomes allowed or forbidden.

FILE is read exactly as AUTHGATE_RULES_FILE is when the gate starts.
`

// Rules is "authgate rules ...". It needs no configuration: the file is
// the argument.
func Rules(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, rulesUsage)
		return nil
	}
	cmd, args := args[0], args[1:]
	if cmd != "check" && cmd != "explain" {
		return fmt.Errorf("unknown rules command %q\n%s", cmd, rulesUsage)
	}
	fs := flag.NewFlagSet("authgate rules "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var ex explainFlags
	if cmd == "explain" {
		fs.StringVar(&ex.url, "url", "", "the original request's URL")
		fs.StringVar(&ex.method, "method", "GET", "its method")
		fs.StringVar(&ex.user, "user", "", "a signed-in user")
		fs.StringVar(&ex.groups, "groups", "", "the user's groups, a comma list")
		fs.StringVar(&ex.ip, "ip", "", "the client's address")
		fs.BoolVar(&ex.json, "json", false, "print JSON")
	}
	pos, err := Interspersed(fs, args)
	if err != nil {
		return fmt.Errorf("rules %s: %v\n%s", cmd, err, rulesUsage)
	}
	if len(pos) != 1 {
		return fmt.Errorf("rules %s takes 1 argument (the file), got %d\n%s", cmd, len(pos), rulesUsage)
	}
	file := pos[0]
	if cmd == "explain" {
		return explainRules(stdout, file, ex)
	}
	set, warnings, err := rules.LoadFile(file)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s, default %s\n", file, plural(len(set.Rules), "rule"), set.Default)
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

type explainFlags struct {
	url, method, user, groups, ip string
	json                          bool
}

// request is the rules.Request the flags describe: the original request
// is known when the URL is absolute with a host, as a proxy would have
// described it.
func (ex explainFlags) request() (rules.Request, error) {
	if ex.url == "" {
		return rules.Request{}, errors.New("-url is required")
	}
	u, err := url.Parse(ex.url)
	if err != nil {
		return rules.Request{}, fmt.Errorf("-url: %v", err)
	}
	req := rules.Request{
		Known:  u.IsAbs() && u.Host != "",
		Host:   u.Host,
		Path:   u.EscapedPath(),
		Method: strings.ToUpper(ex.method),
	}
	if u.RawQuery != "" {
		req.Path += "?" + u.RawQuery
	}
	if ex.ip != "" {
		if req.Client, err = netip.ParseAddr(ex.ip); err != nil {
			return rules.Request{}, fmt.Errorf("-ip: %v", err)
		}
	}
	return req, nil
}

// explanation is what explain prints; with -json, as one object.
type explanation struct {
	Decision string `json:"decision"`
	Rule     string `json:"rule"`
	Position int    `json:"position"` // 0 for the default
	// MFA: the deciding rule requires a session established with a
	// second factor.
	MFA     bool         `json:"mfa"`
	Skipped []rules.Skip `json:"skipped"`
}

func explainRules(w io.Writer, file string, ex explainFlags) error {
	req, err := ex.request()
	if err != nil {
		return fmt.Errorf("rules explain: %w", err)
	}
	if ex.groups != "" && ex.user == "" {
		return errors.New("rules explain: -groups needs -user")
	}
	set, _, err := rules.LoadFile(file)
	if err != nil {
		return err
	}
	d, skips := set.Explain(req)
	e := explanation{Decision: d.Action.String(), Rule: d.RuleName(), Skipped: skips}
	if d.Rule != nil {
		e.Position, e.MFA = d.Rule.Position, d.Rule.MFA
	}
	if e.Skipped == nil {
		e.Skipped = []rules.Skip{}
	}
	if ex.user != "" && d.Action == rules.Authenticated {
		e.Decision = "forbidden"
		if d.Permits(ex.user, splitGroups(ex.groups)) {
			e.Decision = "allowed"
		}
	}
	if ex.json {
		return json.NewEncoder(w).Encode(e)
	}
	fmt.Fprintf(w, "decision: %s\n", e.Decision)
	if d.Rule == nil {
		fmt.Fprintln(w, "rule: default")
	} else {
		fmt.Fprintf(w, "rule: %s (position %d, line %d)\n", d.Rule.Name, d.Rule.Position, d.Rule.Line)
	}
	if e.MFA {
		fmt.Fprintln(w, "mfa: required (a session without a second factor is refused, or sent to sign in with one)")
	}
	for _, s := range e.Skipped {
		fmt.Fprintf(w, "skipped: %s (position %d): %s\n", s.Rule, s.Position, s.Mismatch)
	}
	return nil
}

func splitGroups(s string) []string {
	var out []string
	for _, g := range strings.Split(s, ",") {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}
