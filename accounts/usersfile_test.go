package accounts_test

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/password"
)

func TestParseUsersFile(t *testing.T) {
	h, _ := password.New(fastParams, 1)
	argon, _ := h.Hash(context.Background(), "correct horse battery")
	bc, _ := bcrypt.GenerateFromPassword([]byte("hunter2hunter2"), bcrypt.MinCost)
	file := "# static users\n\nAlice:" + argon + ":admins,Dev\n  bob:" + string(bc) + "\ncarol:" + argon + ":\n"
	users, err := accounts.ParseUsersFile([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 3 {
		t.Fatalf("%d users", len(users))
	}
	a := users["alice"]
	if a.Hash != argon || strings.Join(a.Groups, ",") != "admins,dev" {
		t.Fatalf("alice = %+v", a)
	}
	if users["bob"].Hash != string(bc) || len(users["bob"].Groups) != 0 {
		t.Fatalf("bob = %+v", users["bob"])
	}

	bad := map[string]string{
		"no hash":         "alice\n",
		"bad hash":        "alice:notahash\n",
		"bad name":        "a b:" + argon + "\n",
		"duplicate":       "alice:" + argon + "\nALICE:" + argon + "\n",
		"bad group":       "alice:" + argon + ":a b\n",
		"too many fields": "alice:" + argon + ":g:x\n",
		"huge line":       "alice:" + strings.Repeat("x", 10000) + "\n",
	}
	for name, f := range bad {
		_, err := accounts.ParseUsersFile([]byte(f))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "$argon2id$") {
			t.Errorf("%s: error %q echoes the hash", name, err)
		}
	}
}

func FuzzParseUsersFile(f *testing.F) {
	f.Add([]byte("alice:$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5:admins\n"))
	f.Add([]byte("bob:$2y$05$abcdefghijklmnopqrstuuJ6S2Q8n3cFvXh0aG1fTQk9jR8yvQm6W\n# c\n\n"))
	f.Add([]byte("x:y:z:w\n"))
	f.Add([]byte("\xff:\x00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		users, err := accounts.ParseUsersFile(data)
		if err != nil {
			return
		}
		for name, u := range users {
			if c, err := accounts.CanonicalUsername(name); err != nil || c != name || u.Name != name {
				t.Fatalf("stored non-canonical name %q", name)
			}
			if err := password.CheckHash(u.Hash); err != nil {
				t.Fatalf("stored unusable hash for %q", name)
			}
		}
	})
}
