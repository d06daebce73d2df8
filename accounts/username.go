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
