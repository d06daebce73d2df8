package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authgate/authgate/accounts"
)

// InvitesUsage is the help of "authgate invites".
const InvitesUsage = `usage: authgate invites <command>

  create [-groups a,b] [-uses 1] [-ttl 72h] [-note TEXT]   print a new invite's code (and link)
  list [-json]                                              the invites that can still be used (never their codes)
  revoke ID

They act on the store AUTHGATE_STORE names, as "authgate users" does.
`

// InvitesArgs checks the arguments of "authgate invites" before any store
// is opened: the command and its positional arguments.
func InvitesArgs(args []string) (cmd string, err error) {
	if len(args) == 0 {
		return "", fmt.Errorf("invites: a command is required\n%s", InvitesUsage)
	}
	switch args[0] {
	case "create", "list", "revoke":
		return args[0], nil
	}
	return "", fmt.Errorf("unknown invites command %q\n%s", args[0], InvitesUsage)
}

// Invites is "authgate invites ..." on svc; loginURL makes the links.
func Invites(ctx context.Context, svc *accounts.Service, loginURL string, args []string, stdout io.Writer) error {
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("authgate invites "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	groups := fs.String("groups", "", "comma list of groups the new account gets")
	uses := fs.Int("uses", 1, "how many accounts it can create")
	ttl := fs.Duration("ttl", accounts.DefaultInviteTTL, "how long it lasts")
	note := fs.String("note", "", "a note for the list")
	asJSON := fs.Bool("json", false, "list as JSON")
	pos, err := Interspersed(fs, args)
	if err != nil {
		return fmt.Errorf("invites %s: %v\n%s", cmd, err, InvitesUsage)
	}
	want := map[string]int{"create": 0, "list": 0, "revoke": 1}[cmd]
	if len(pos) != want {
		return fmt.Errorf("invites %s takes %d argument(s), got %d\n%s", cmd, want, len(pos), InvitesUsage)
	}
	switch cmd {
	case "create":
		gs, err := accounts.ParseGroups(*groups)
		if err != nil {
			return fmt.Errorf("invites create: -groups: %w", err)
		}
		code, g, err := svc.CreateInvite(ctx, accounts.InviteRequest{Groups: gs, Uses: *uses, TTL: *ttl, Note: *note, By: "cli"})
		if err != nil {
			return fmt.Errorf("invites create: %w", err)
		}
		fmt.Fprintf(stdout, "invite %s: %d use(s) until %s\ncode: %s\n", g.ID, g.Uses, g.Expires.Format(time.RFC3339), code)
		if link := accounts.InviteURL(loginURL, code); link != "" {
			fmt.Fprintf(stdout, "link: %s\n", link)
		}
	case "list":
		list, err := svc.Invites(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			type row struct {
				ID        string   `json:"id"`
				Note      string   `json:"note"`
				Groups    []string `json:"groups"`
				Uses      int      `json:"uses"`
				Expires   string   `json:"expires"`
				CreatedBy string   `json:"created_by"`
			}
			rows := make([]row, 0, len(list))
			for _, g := range list {
				rows = append(rows, row{g.ID, g.Note, append([]string{}, g.Groups...), g.Uses, g.Expires.UTC().Format(time.RFC3339), g.CreatedBy})
			}
			return json.NewEncoder(stdout).Encode(rows)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tGROUPS\tUSES\tEXPIRES\tBY\tNOTE")
		for _, g := range list {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", g.ID, strings.Join(g.Groups, ","), g.Uses, g.Expires.UTC().Format("2006-01-02 15:04"), g.CreatedBy, g.Note)
		}
		return tw.Flush()
	case "revoke":
		if err := svc.RevokeInvite(ctx, pos[0], "cli"); err != nil {
			return fmt.Errorf("invites revoke: %w", err)
		}
		fmt.Fprintf(stdout, "revoked %s\n", pos[0])
	}
	return nil
}
