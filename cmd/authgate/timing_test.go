package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/accounts/password"
)

// TestStartWarnsAboutHashesThatCostDifferently: a users file that mixes
// hash kinds or costs lets a login's time tell which names exist (a bcrypt
// cost-10 account took 67 ms, an unknown name 25 ms, a cost-5 account
// 2.5 ms, with byte-identical answers). The gate names those accounts at
// start, and only those.
func TestStartWarnsAboutHashesThatCostDifferently(t *testing.T) {
	ctx := context.Background()
	params := password.Params{MemoryKiB: 64, Time: 1, Threads: 1}
	h, err := password.New(params, 1)
	if err != nil {
		t.Fatal(err)
	}
	same, _ := h.Hash(ctx, "correct horse battery")
	other, _ := password.New(password.Params{MemoryKiB: 128, Time: 1, Threads: 1}, 1)
	slower, _ := other.Hash(ctx, "correct horse battery")
	bc, _ := bcrypt.GenerateFromPassword([]byte("correct horse battery"), bcrypt.MinCost)
	file := filepath.Join(t.TempDir(), "users")
	lines := "alice:" + same + "\nbob:" + string(bc) + "\ncarol:" + slower + "\ndave:" + same + "\n"
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg, err := loadConfig([]string{"AUTHGATE_SECRET=" + goodSecret, "AUTHGATE_USERS_FILE=" + file, "AUTHGATE_ARGON2_MEMORY=64", "AUTHGATE_ARGON2_TIME=1"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	var warning string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "AUTHGATE_USERS_FILE: these accounts") {
			warning = line
		}
	}
	if !strings.Contains(warning, "bob (bcrypt cost 4)") || !strings.Contains(warning, "carol (argon2id m=128 t=1 p=1)") {
		t.Fatalf("start-up warning does not name bob and carol:\n%s", logs.String())
	}
	if strings.Contains(warning, "alice") || strings.Contains(warning, "dave") {
		t.Fatalf("warning names accounts that cost the same as the default:\n%s", warning)
	}
	if strings.Contains(logs.String(), "$argon2id$") || strings.Contains(logs.String(), "$2a$") {
		t.Fatal("a hash reached the log")
	}
}
