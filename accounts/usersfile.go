package accounts

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/authgate/authgate/accounts/password"
)

// maxUsersFileLine bounds a line; a bcrypt or argon2id hash with a few
// groups fits easily.
const maxUsersFileLine = 4096

// ParseUsersFile reads static users, one per line:
//
//	name:hash[:group,group]
//
// hash is an argon2id PHC string (from `authgate hash-password`) or a bcrypt
// hash as htpasswd writes it. Blank lines and lines starting with # are
// skipped. Every error names the line, never the hash.
func ParseUsersFile(data []byte) (map[string]User, error) {
	users := map[string]User{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1024), maxUsersFileLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		parts := strings.Split(text, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, fmt.Errorf("line %d: want name:hash[:group,group]", line)
		}
		name, err := CanonicalUsername(parts[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if err := password.CheckHash(parts[1]); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if _, dup := users[name]; dup {
			return nil, fmt.Errorf("line %d: user %q listed twice", line, name)
		}
		u := User{Name: name, Hash: parts[1]}
		if len(parts) == 3 {
			if u.Groups, err = ParseGroups(parts[2]); err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
		}
		users[name] = u
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return users, nil
}
