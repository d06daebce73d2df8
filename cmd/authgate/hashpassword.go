package main

import (
	"context"
	"fmt"
	"io"

	"github.com/authgate/authgate/accounts/password"
	"github.com/authgate/authgate/cmd/authgate/cli"
)

// hashPassword reads one password from stdin and prints its argon2id hash
// with the configured parameters, for a line of AUTHGATE_USERS_FILE.
func hashPassword(ctx context.Context, environ []string, stdin io.Reader, stdout io.Writer) error {
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	pw, err := cli.ReadPassword(stdin, "hash-password")
	if err != nil {
		return err
	}
	if err := password.Check(pw); err != nil {
		return err
	}
	h, err := newHasher(cfg, 1)
	if err != nil {
		return err
	}
	hash, err := h.Hash(ctx, pw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, hash)
	return err
}
