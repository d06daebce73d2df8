package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/authgate/authgate/cmd/authgate/cli"
	"io"
	"log/slog"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/boltstore"
)

// users is "authgate users ...": the arguments are checked before any
// store is opened.
func users(ctx context.Context, args, environ []string, stdin io.Reader, stdout io.Writer) error {
	u, help, err := cli.ParseUsers(args)
	if help || err != nil {
		if help {
			fmt.Fprint(stdout, cli.UsersUsage)
		}
		return err
	}
	return withAdmin(ctx, environ, func(_ Config, admin *accounts.Service) error {
		return u.Run(ctx, admin, stdin, stdout)
	})
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
