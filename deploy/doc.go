// Package deploy holds the proxy and platform configurations that people
// copy into production (nginx, Caddy, Traefik, Kubernetes, Docker), the
// Grafana dashboard, and the tests that prove them.
//
// The package has no code of its own. Its tests start the real authgate
// binary, a real nginx and a real Caddy on loopback ports, with the files
// from this directory changed only in their ports and paths, in front of a
// small upstream that echoes what it receives; Traefik, which cannot be
// installed here, is held to the exact requests it sends (a contract test);
// every YAML, Compose and Dockerfile is parsed and checked for the
// settings the gate depends on; and the dashboard's queries are checked
// against a scrape of the real binary's metrics. A proxy binary that is
// missing fails the tests: `make test` installs them.
package deploy
