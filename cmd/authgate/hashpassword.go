package main

import (
	"context"
	"io"

	"github.com/authgate/authgate/cmd/authgate/cli"
)

// hashPassword is "authgate hash-password" with the configured argon2id
// parameters.
func hashPassword(ctx context.Context, environ []string, stdin io.Reader, stdout io.Writer) error {
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	h, err := newHasher(cfg, 1)
	if err != nil {
		return err
	}
	return cli.HashPassword(ctx, h, stdin, stdout)
}
