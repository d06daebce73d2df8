package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/password"
)

// The users command's input and output, shared with hash-password.

// ReadPassword reads one line from stdin (never from arguments, which end
// up in shell history and ps). Nothing is echoed back.
func ReadPassword(stdin io.Reader, what string) (string, error) {
	line, err := bufio.NewReaderSize(stdin, password.MaxLength+2).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("no password on stdin (try: printf '%%s' 'the password' | authgate %s)", what)
	}
	return pw, nil
}

// PrintUsers writes the accounts as "authgate users list" shows them:
// a table, or JSON, never a hash or a secret.
func PrintUsers(w io.Writer, us []accounts.User, asJSON bool) error {
	if asJSON {
		type row struct {
			Name    string   `json:"name"`
			Email   string   `json:"email,omitempty"`
			Display string   `json:"display,omitempty"`
			Groups  []string `json:"groups"`
			Created string   `json:"created"`
			TOTP    bool     `json:"totp"`
		}
		rows := make([]row, 0, len(us))
		for _, u := range us {
			rows = append(rows, row{u.Name, u.Email, u.Display, append([]string{}, u.Groups...), u.Created.UTC().Format("2006-01-02T15:04:05Z"), u.TOTPEnabled()})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows) // never the hash
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tGROUPS\tEMAIL\tCREATED\tTOTP")
	for _, u := range us {
		totp := "off"
		if u.TOTPEnabled() {
			totp = "on"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, strings.Join(u.Groups, ","), u.Email, u.Created.UTC().Format("2006-01-02 15:04"), totp)
	}
	return tw.Flush()
}

// HashPassword reads one password from stdin and prints its hash, for a
// line of AUTHGATE_USERS_FILE ("authgate hash-password").
func HashPassword(ctx context.Context, h *password.Hasher, stdin io.Reader, stdout io.Writer) error {
	pw, err := ReadPassword(stdin, "hash-password")
	if err != nil {
		return err
	}
	if err := password.Check(pw); err != nil {
		return err
	}
	hash, err := h.Hash(ctx, pw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, hash)
	return err
}

// UsersUsage is the help of "authgate users".
const UsersUsage = `usage: authgate users <command>

  add [-groups a,b] [-email E] [-name "Full Name"] NAME   password on stdin
  list [-json]
  passwd NAME                                            password on stdin; ends NAME's sessions
  groups NAME a,b                                        "" for none; ends NAME's sessions
  delete NAME                                            ends NAME's sessions
  totp-reset NAME                                        turns NAME's second factor off (a lost device); ends NAME's sessions
  reset-link NAME [-ttl 30m]                             prints a single-use link that sets NAME's password (at most 24h)

They act on the store AUTHGATE_STORE names (bolt:// or redis://; the memory
store lives inside a running gate). A bolt file is locked by a running gate:
stop it first. Redis is shared: run them while the gates run.
`

// UsersCommand is one "authgate users" command, parsed.
type UsersCommand struct {
	cmd string
	pos []string
	f   usersFlags
}

// ParseUsers reads the arguments of "authgate users" (help: print
// UsersUsage). Passwords come from stdin only: an argument would end up in
// shell history and in ps.
func ParseUsers(args []string) (u UsersCommand, help bool, err error) {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		return u, true, nil
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("authgate users "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	groups := fs.String("groups", "", "comma list of groups")
	email := fs.String("email", "", "e-mail address")
	display := fs.String("name", "", "full name")
	asJSON := fs.Bool("json", false, "list as JSON")
	ttl := fs.Duration("ttl", accounts.DefaultResetTTL, "how long a reset link lasts")
	pos, err := Interspersed(fs, args)
	if err != nil {
		return u, false, fmt.Errorf("users %s: %v\n%s", cmd, err, UsersUsage)
	}
	want := map[string]int{"add": 1, "list": 0, "passwd": 1, "groups": 2, "delete": 1, "totp-reset": 1, "reset-link": 1}
	n, ok := want[cmd]
	if !ok {
		return u, false, fmt.Errorf("unknown users command %q\n%s", cmd, UsersUsage)
	}
	if len(pos) != n {
		return u, false, fmt.Errorf("users %s takes %d argument(s), got %d\n%s", cmd, n, len(pos), UsersUsage)
	}
	return UsersCommand{cmd, pos, usersFlags{*groups, *email, *display, *asJSON, *ttl}}, false, nil
}

type usersFlags struct {
	groups, email, display string
	asJSON                 bool
	ttl                    time.Duration
}

// Run carries the command out on admin.
func (u UsersCommand) Run(ctx context.Context, admin *accounts.Service, stdin io.Reader, stdout io.Writer) error {
	cmd, pos, f := u.cmd, u.pos, u.f
	switch cmd {
	case "add":
		gs, err := accounts.ParseGroups(f.groups)
		if err != nil {
			return fmt.Errorf("users add: -groups: %w", err)
		}
		pw, err := ReadPassword(stdin, "users add "+pos[0])
		if err != nil {
			return err
		}
		u, err := admin.AddUser(ctx, accounts.Registration{Username: pos[0], Password: pw, Email: f.email, Name: f.display}, gs)
		if err != nil {
			return fmt.Errorf("users add: %w", err)
		}
		fmt.Fprintf(stdout, "added %s\n", u.Name)
	case "list":
		us, err := admin.Users(ctx)
		if err != nil {
			return err
		}
		return PrintUsers(stdout, us, f.asJSON)
	case "passwd":
		pw, err := ReadPassword(stdin, "users passwd "+pos[0])
		if err != nil {
			return err
		}
		if err := admin.SetPassword(ctx, pos[0], pw); err != nil {
			return fmt.Errorf("users passwd: %w", err)
		}
		fmt.Fprintf(stdout, "password changed; sessions of %s ended\n", pos[0])
	case "groups":
		gs, err := accounts.ParseGroups(pos[1])
		if err != nil {
			return fmt.Errorf("users groups: %w", err)
		}
		if err := admin.SetGroups(ctx, pos[0], gs); err != nil {
			return fmt.Errorf("users groups: %w", err)
		}
		fmt.Fprintf(stdout, "groups of %s: %s; sessions ended\n", pos[0], strings.Join(gs, ","))
	case "delete":
		if err := admin.DeleteUser(ctx, pos[0]); err != nil {
			return fmt.Errorf("users delete: %w", err)
		}
		fmt.Fprintf(stdout, "deleted %s\n", pos[0])
	case "reset-link":
		link, expires, err := admin.ResetLink(ctx, pos[0], f.ttl, "cli")
		if err != nil {
			return fmt.Errorf("users reset-link: %w", err)
		}
		fmt.Fprintf(stdout, "%s\n(single use, until %s)\n", link, expires.Format(time.RFC3339))
	case "totp-reset":
		if err := admin.ResetTOTP(ctx, pos[0]); err != nil {
			return fmt.Errorf("users totp-reset: %w", err)
		}
		fmt.Fprintf(stdout, "two-factor authentication of %s turned off; sessions ended\n", pos[0])
	}
	return nil
}
