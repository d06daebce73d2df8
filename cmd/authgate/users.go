package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/authgate/authgate/cmd/authgate/cli"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/boltstore"
)

const usersUsage = `usage: authgate users <command>

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

// users is "authgate users ...". Passwords come from stdin only: an
// argument would end up in shell history and in ps.
func users(ctx context.Context, args, environ []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usersUsage)
		return nil
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("authgate users "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	groups := fs.String("groups", "", "comma list of groups")
	email := fs.String("email", "", "e-mail address")
	display := fs.String("name", "", "full name")
	asJSON := fs.Bool("json", false, "list as JSON")
	ttl := fs.Duration("ttl", accounts.DefaultResetTTL, "how long a reset link lasts")
	pos, err := cli.Interspersed(fs, args)
	if err != nil {
		return fmt.Errorf("users %s: %v\n%s", cmd, err, usersUsage)
	}
	want := map[string]int{"add": 1, "list": 0, "passwd": 1, "groups": 2, "delete": 1, "totp-reset": 1, "reset-link": 1}
	n, ok := want[cmd]
	if !ok {
		return fmt.Errorf("unknown users command %q\n%s", cmd, usersUsage)
	}
	if len(pos) != n {
		return fmt.Errorf("users %s takes %d argument(s), got %d\n%s", cmd, n, len(pos), usersUsage)
	}

	return withAdmin(ctx, environ, func(_ Config, admin *accounts.Service) error {
		return usersCommand(ctx, admin, cmd, pos, stdin, stdout, usersFlags{*groups, *email, *display, *asJSON, *ttl})
	})
}

type usersFlags struct {
	groups, email, display string
	asJSON                 bool
	ttl                    time.Duration
}

// usersCommand runs one "authgate users" command on admin.
func usersCommand(ctx context.Context, admin *accounts.Service, cmd string, pos []string, stdin io.Reader, stdout io.Writer, f usersFlags) error {
	switch cmd {
	case "add":
		gs, err := accounts.ParseGroups(f.groups)
		if err != nil {
			return fmt.Errorf("users add: -groups: %w", err)
		}
		pw, err := cli.ReadPassword(stdin, "users add "+pos[0])
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
		return cli.PrintUsers(stdout, us, f.asJSON)
	case "passwd":
		pw, err := cli.ReadPassword(stdin, "users passwd "+pos[0])
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

// invites is "authgate invites ...".
func invites(ctx context.Context, args, environ []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, cli.InvitesUsage)
		return nil
	}
	if _, err := cli.InvitesArgs(args); err != nil {
		return err
	}
	return withAdmin(ctx, environ, func(cfg Config, admin *accounts.Service) error {
		return cli.Invites(ctx, admin, string(cfg.LoginURL), args, stdout)
	})
}

// withAdmin runs do with the account Service on the configured store,
// closing the store after.
func withAdmin(ctx context.Context, environ []string, do func(Config, *accounts.Service) error) error {
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	admin, closeStore, err := openAdmin(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	return do(cfg, admin)
}

// openAdmin builds the account Service on the configured store, for
// administration only (it starts no sessions).
func openAdmin(ctx context.Context, cfg Config) (*accounts.Service, func(), error) {
	if cfg.Store == "" || cfg.Store == "memory" {
		return nil, nil, badVar("STORE", "is memory: those accounts live inside the running gate and vanish with it. Set AUTHGATE_STORE=bolt:///path or redis://... (or list people in AUTHGATE_USERS_FILE)")
	}
	static, err := loadUsersFile(cfg)
	if err != nil {
		return nil, nil, err
	}
	hasher, err := newHasher(cfg, 1)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		if errors.Is(err, boltstore.ErrStoreLocked) {
			err = fmt.Errorf("%w; stop the gate that uses it, or run the gates on redis:// to manage users while they run", err)
		}
		return nil, nil, err
	}
	svc, err := accounts.New(accounts.Config{Store: st.store, Static: static, Hasher: hasher,
		ResetURL: accounts.ResetURL(string(cfg.LoginURL)), Regulation: cfg.regulation(), Attempts: st.attempts})
	if err != nil {
		_ = st.store.Close()
		return nil, nil, err
	}
	return svc, func() { _ = st.store.Close() }, nil
}
