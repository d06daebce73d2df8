package main

import (
	"errors"
	"net"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/authgate/authgate/accounts"
)

// routes is the whole HTTP API in one list.
func (s *server) routes() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Debug = false
	e.HTTPErrorHandler = s.errorHandler
	// c.RealIP() reads X-Forwarded-For only from trusted proxies; a
	// client cannot pick the address its failures are counted against.
	e.IPExtractor = echo.ExtractIPFromXFFHeader(s.trustOptions()...)

	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: s.logPanic}))
	e.Use(middleware.BodyLimit(s.bodyLimit()))

	// /verify is matched for every method: proxies send GET, but some
	// setups pass the original method through.
	e.Any("/verify", s.verifier.Handle)

	e.POST("/register", s.accounts.Register)
	e.POST("/login", s.accounts.Login)
	e.GET("/login", s.accounts.LoginPage)
	e.POST("/logout", s.accounts.Logout)
	e.GET("/", s.accounts.Home)
	e.GET("/assets/*", echo.WrapHandler(http.StripPrefix("/assets/", http.FileServer(accounts.AssetsFS()))))

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.ready)
	return e
}

func (s *server) ready(c echo.Context) error {
	if err := s.store.Ping(c.Request().Context()); err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "store unavailable").SetInternal(err)
	}
	return c.String(http.StatusOK, "ready\n")
}

// errorHandler is the one place errors become responses: the client gets
// the safe message as {"error": "..."}; details go to the log, at debug for
// client errors and at error for server faults.
func (s *server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
		if m, ok := he.Message.(string); ok {
			msg = m
		} else {
			msg = http.StatusText(code)
		}
		if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
			msg = http.StatusText(code)
		}
		if code == http.StatusRequestEntityTooLarge {
			msg = "request body too large"
		}
	}
	if code >= 500 {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "status", code, "err", err)
	} else {
		s.log.Debug("request refused", "method", c.Request().Method, "path", c.Path(), "status", code, "err", err)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(code)
		return
	}
	_ = c.JSON(code, map[string]string{"error": msg})
}

func (s *server) logPanic(c echo.Context, err error, stack []byte) error {
	s.log.Error("panic recovered", "path", c.Path(), "err", err, "stack", string(stack))
	return err
}

// trustOptions turns AUTHGATE_TRUSTED_PROXIES into Echo's trust options,
// switching off Echo's own defaults (which trust every private address).
func (s *server) trustOptions() []echo.TrustOption {
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range s.trusted.Prefixes() {
		bits := p.Addr().BitLen()
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}))
	}
	return opts
}

func (s *server) bodyLimit() string { return strconv.FormatInt(s.cfg.BodyLimit, 10) + "B" }
