// Command bareecho is the baseline of the HTTP load harness
// (BenchmarkHTTPLoad in cmd/authgate/load_test.go, `make bench-http`): a bare
// Echo v4 server whose /verify answers 200 with no body and does nothing
// else: no middleware, no token, no store, no logging.
//
// It exists to be the denominator of every ratio the harness prints. A
// forward-auth gate runs on every request a proxy passes on, so the question
// is not "how many requests per second does authgate serve" (that depends on
// the machine, the kernel and the load generator) but "what does authgate cost
// on top of the HTTP stack it is built on". Measured on the same machine, the
// same CPU pinning, the same wrk flags and the same request headers, the bare
// Echo handler is the ceiling authgate's /verify can approach; authgate/bare
// tells how close it gets.
//
// With BARE_IDENTITY=1 its /verify also sets the four identity headers,
// as a gate's answer does; every other path answers 200 "ok", the
// application behind nginx in LOAD_NGINX mode.
//
// Usage: bareecho [addr]; the address defaults to $BARE_LISTEN, then
// 127.0.0.1:8081. It prints "listening <addr>" to stderr once it accepts
// connections. It lives under testdata/ so that ./... (go build, go vet,
// go test) never sees it; build it with
//
//	go build -o bareecho ./cmd/authgate/testdata/bareecho
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/labstack/echo/v4"
)

var (
	bareUser, bareEmail, bareName, bareGroups = []string{"bench"}, []string{""}, []string{""}, []string{""}
	appBody                                   = []byte("ok\n")
)

func main() {
	addr := os.Getenv("BARE_LISTEN")
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	if addr == "" {
		addr = "127.0.0.1:8081"
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	verify := func(c echo.Context) error { return c.NoContent(http.StatusOK) }
	if os.Getenv("BARE_IDENTITY") == "1" {
		// The gate's answer without the gate: 200 with the four identity
		// headers a proxy copies (LOAD_NGINX's bare-gate arm).
		verify = func(c echo.Context) error {
			h := c.Response().Header()
			h["Remote-User"], h["Remote-Email"], h["Remote-Name"], h["Remote-Groups"] = bareUser, bareEmail, bareName, bareGroups
			return c.NoContent(http.StatusOK)
		}
	}
	e.Any("/verify", verify)
	// Every other path is the application behind the proxy (LOAD_NGINX).
	e.Any("/*", func(c echo.Context) error { return c.Blob(http.StatusOK, "text/plain", appBody) })

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bareecho:", err)
		os.Exit(1)
	}
	hs := &http.Server{Handler: e}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = hs.Shutdown(context.Background())
	}()
	fmt.Fprintln(os.Stderr, "listening", ln.Addr().String())
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "bareecho:", err)
		os.Exit(1)
	}
}
