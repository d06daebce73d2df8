package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/authgate/authgate/accounts"
)

// hashPassword reads one password from stdin (never from arguments, which
// end up in shell history and ps) and prints its argon2id hash with the
// configured parameters, for a line of AUTHGATE_USERS_FILE.
func hashPassword(ctx context.Context, environ []string, stdin io.Reader, stdout io.Writer) error {
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	line, err := bufio.NewReaderSize(stdin, accounts.MaxPasswordLength+2).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return errors.New("no password on stdin (try: printf '%s' 'the password' | authgate hash-password)")
	}
	if err := accounts.CheckPassword(pw); err != nil {
		return err
	}
	h, err := accounts.NewHasher(accounts.Params{MemoryKiB: cfg.Argon2MemoryKiB, Time: cfg.Argon2Time, Threads: cfg.Argon2Parallelism}, 1)
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
