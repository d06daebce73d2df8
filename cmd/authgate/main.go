// Command authgate is a forward-auth gate for nginx, Traefik, Caddy and
// ingress-nginx: it answers /verify for the proxy and lets people register,
// sign in and sign out. Configuration comes from AUTHGATE_* variables.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "authgate:", err)
		os.Exit(1)
	}
}
