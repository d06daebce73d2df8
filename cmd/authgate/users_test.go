package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsersCommand(t *testing.T) {
	env := []string{"AUTHGATE_STORE=bolt://" + filepath.Join(t.TempDir(), "a.db")}
	steps := []struct {
		name    string
		stdin   string
		env     []string
		args    []string
		wantOut string // substring of stdout
		wantErr string // substring of the error; "" means success
	}{
		{"memory store refused", "", []string{"AUTHGATE_STORE=memory"}, []string{"users", "list"}, "", "AUTHGATE_STORE: is memory"},
		{"unknown command", "", env, []string{"users", "rename", "a"}, "", `unknown users command "rename"`},
		{"missing name", "", env, []string{"users", "add"}, "", "takes 1 argument"},
		{"password only from stdin", "", env, []string{"users", "add", "alice"}, "", "no password on stdin"},
		{"common password refused", "password123\n", env, []string{"users", "add", "alice"}, "", "most common passwords"},
		{"bad group", "correct horse battery\n", env, []string{"users", "add", "-groups", "a b", "alice"}, "", "group names"},
		{"add, flags after the name", "correct horse battery\n", env, []string{"users", "add", "Alice", "-groups", "Admins,dev", "-email", "a@example.com"}, "added alice", ""},
		{"add twice", "correct horse battery\n", env, []string{"users", "add", "alice"}, "", "username is taken"},
		{"list", "", env, []string{"users", "list"}, "alice  admins,dev  a@example.com", ""},
		{"groups", "", env, []string{"users", "groups", "alice", "ops"}, "groups of alice: ops", ""},
		{"list json never shows the hash", "", env, []string{"users", "list", "-json"}, `"groups": [
      "ops"
    ]`, ""},
		{"passwd unknown user", "new horse battery staple\n", env, []string{"users", "passwd", "bob"}, "", "user not found"},
		{"passwd", "new horse battery staple\n", env, []string{"users", "passwd", "alice"}, "password changed", ""},
		{"delete", "", env, []string{"users", "delete", "alice"}, "deleted alice", ""},
		{"delete again", "", env, []string{"users", "delete", "alice"}, "", "user not found"},
	}
	for _, st := range steps {
		out, err := runCLI(t, st.stdin, st.env, st.args...)
		switch {
		case st.wantErr == "" && err != nil:
			t.Fatalf("%s: %v", st.name, err)
		case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)):
			t.Fatalf("%s: error %v, want %q", st.name, err, st.wantErr)
		case !strings.Contains(out, st.wantOut):
			t.Fatalf("%s: output %q, want %q", st.name, out, st.wantOut)
		}
		if strings.Contains(out, "$argon2id$") || (st.stdin != "" && strings.Contains(out, strings.TrimSpace(st.stdin))) {
			t.Fatalf("%s: a hash or password in the output: %q", st.name, out)
		}
	}
}

// cli runs "authgate args..." in-process, as an operator would.
func runCLI(tb testing.TB, stdin string, env []string, args ...string) (string, error) {
	tb.Helper()
	var out, errOut bytes.Buffer
	env = append([]string{"AUTHGATE_ARGON2_MEMORY=1024", "AUTHGATE_ARGON2_TIME=1"}, env...)
	err := run(context.Background(), args, env, strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
}
