// Package verify owns the forward-auth protocol and authgate's token format.
//
// It answers the question a reverse proxy (nginx auth_request, Traefik
// ForwardAuth, Caddy forward_auth, ingress-nginx auth-url) asks on every
// proxied request: may this request pass, and who is it? The whole hot path
// lives in verify.go and reads top to bottom; token.go holds the claims,
// issuing and strict parsing; cache.go remembers verified tokens;
// reason.go and decisionlog.go say why an answer was given. Features with
// their own vocabulary have their own packages: verify/forwarded reads
// what trusted proxies say about the original request and the client,
// verify/redirect decides which return-to (rd) URLs may ever be followed,
// verify/rules holds the access rules file.
//
// The package imports nothing of authgate but its own subpackages. What it
// needs from the account side (is this session live? are these Basic
// credentials right?) is declared here as small interfaces and wired in by
// cmd/authgate.
package verify
