// Package verify owns the forward-auth protocol and authgate's token format.
//
// It answers the question a reverse proxy (nginx auth_request, Traefik
// ForwardAuth, Caddy forward_auth, ingress-nginx auth-url) asks on every
// proxied request: may this request pass, and who is it? The whole hot path
// lives in verify.go and reads top to bottom; token.go holds the claims,
// signing and strict parsing; request.go reconstructs the original request
// from forwarded headers sent by trusted proxies; redirect.go decides which
// return-to (rd) URLs may ever be followed.
//
// The package imports nothing else of authgate. What it needs from the
// account side (is this session live? are these Basic credentials right?)
// is declared here as small interfaces and wired in by cmd/authgate.
package verify
