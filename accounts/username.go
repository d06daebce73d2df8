package accounts

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxUsernameLength is counted in characters after normalisation.
const MaxUsernameLength = 64

// ErrBadUsername is returned for a name outside the allowed alphabet.
var ErrBadUsername = Errorf(Invalid, "username must be 1-64 characters: letters, digits, '.', '_', '-', '@'")

var folder = cases.Fold()

// CanonicalUsername returns the one form of a username that every
// comparison uses: surrounding space trimmed, zero-width characters removed,
// NFKC-normalised (fullwidth "ａｌｉｃｅ" becomes "alice") and case-folded, so
// look-alike variants of a name are one account, never two (Authelia and
// tinyauth have both had duplicate-account and lockout bypasses from
// comparing names in different forms).
func CanonicalUsername(name string) (string, error) {
	if !utf8.ValidString(name) || len(name) > 4*MaxUsernameLength+64 {
		return "", ErrBadUsername
	}
	name = strings.Map(func(r rune) rune {
		switch r {
		case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad':
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	name = norm.NFKC.String(folder.String(norm.NFKC.String(name)))
	n := 0
	for _, r := range name {
		n++
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '.', r == '_', r == '-', r == '@':
		default:
			return "", ErrBadUsername
		}
	}
	if n == 0 || n > MaxUsernameLength {
		return "", ErrBadUsername
	}
	return name, nil
}

// ErrConfusableUsername refuses a new name that could pass for another or
// read as something else in a header or a log.
var ErrConfusableUsername = Errorf(Invalid, "username must start with a letter or a digit and use the letters of one script")

// CheckNewUsername applies the rules for names chosen from now on to a
// canonical name: it starts with a letter or a digit (so "..", "@" or
// "-x" never travel as Remote-User), and its letters come from one script,
// as browsers require of host names, so "аlice" with a Cyrillic "а"
// cannot stand beside "alice". Han may mix with the Japanese kana or with
// Hangul, as those languages write. Names that exist already keep working:
// sign-in compares canonical forms only.
func CheckNewUsername(canon string) error {
	first, _ := utf8.DecodeRuneInString(canon)
	if !unicode.IsLetter(first) && !unicode.IsDigit(first) {
		return ErrConfusableUsername
	}
	scripts := map[string]bool{}
	for _, r := range canon {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			continue
		}
		if s := scriptOf(r); s != "" {
			scripts[s] = true
		}
	}
	delete(scripts, "Common")
	delete(scripts, "Inherited")
	if len(scripts) <= 1 {
		return nil
	}
	for _, allowed := range [][]string{{"Han", "Hiragana", "Katakana"}, {"Han", "Hangul"}, {"Han", "Bopomofo"}} {
		if within(scripts, allowed) {
			return nil
		}
	}
	return ErrConfusableUsername
}

// scriptOf names the Unicode script of r.
func scriptOf(r rune) string {
	if r < utf8.RuneSelf {
		if unicode.IsLetter(r) {
			return "Latin"
		}
		return "Common"
	}
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name
		}
	}
	return ""
}

func within(set map[string]bool, allowed []string) bool {
	for s := range set {
		found := false
		for _, a := range allowed {
			found = found || a == s
		}
		if !found {
			return false
		}
	}
	return true
}
