package accounts

import (
	"strings"
)

// ParseGroups reads a comma list of group names ("" is no groups), as
// stored: trimmed, lower-cased, deduplicated, in the given order. It is
// the one reader of group lists, for the users file and the users command
// alike.
func ParseGroups(list string) ([]string, error) {
	var out []string
	for _, g := range strings.Split(list, ",") {
		if g = strings.TrimSpace(g); g == "" {
			continue
		}
		if err := checkGroup(g); err != nil {
			return nil, err
		}
		g = strings.ToLower(g)
		dup := false
		for _, have := range out {
			dup = dup || have == g
		}
		if !dup {
			out = append(out, g)
		}
	}
	return out, nil
}

// checkGroup keeps group names to characters that survive a comma-separated
// Remote-Groups header unambiguously.
func checkGroup(g string) error {
	if len(g) > 64 {
		return Errorf(Invalid, "group %q longer than 64 characters", g[:64])
	}
	for _, r := range g {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return Errorf(Invalid, "group names may use letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}
