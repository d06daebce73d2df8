// Package verify owns the forward-auth protocol and authgate's token format.
//
// It answers the question a reverse proxy (nginx auth_request, Traefik
// ForwardAuth, Caddy forward_auth, ingress-nginx auth-url) asks on every
// proxied request: may this request pass, and who is it? The whole hot path
// lives in verify.go and reads top to bottom; token.go holds the claims,
// issuing and strict parsing; request.go reconstructs the original request
// and the client address from forwarded headers sent by trusted proxies;
// cache.go remembers verified tokens. Two features with their own
// vocabulary have their own packages: verify/redirect decides which
// return-to (rd) URLs may ever be followed, verify/rules holds the access
// rules file.
//
// The package imports nothing of authgate but its own subpackages. What it
// needs from the account side (is this session live? are these Basic
// credentials right?) is declared here as small interfaces and wired in by
// cmd/authgate.
package verify
