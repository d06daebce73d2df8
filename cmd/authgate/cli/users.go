package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

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
