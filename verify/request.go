package verify

import (
	"net/http"
	"strings"

	"github.com/authgate/authgate/verify/forwarded"
)

// BearerToken returns the token of an "Authorization: Bearer ..." header,
// and whether the header uses that scheme at all. It is the one reader of
// bearer tokens, for /verify and for the gate's own endpoints alike.
func BearerToken(h http.Header) (string, bool) {
	auth := forwarded.First(h, "Authorization")
	if !forwarded.HasScheme(auth, "Bearer") {
		return "", false
	}
	return bearerValue(auth), true
}

func bearerValue(auth string) string { return strings.TrimSpace(auth[len("Bearer "):]) }
