package main

import (
	"net"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/web"
)

// routes is the whole HTTP API in one list.
func (s *server) routes() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Debug = false
	// Every error of every route becomes {"error": "..."} through the one
	// table of accounts/web.
	e.HTTPErrorHandler = web.ErrorHandler(s.log)
	// c.RealIP() reads X-Forwarded-For only from trusted proxies; a
	// client cannot pick the address its failures are counted against.
	e.IPExtractor = echo.ExtractIPFromXFFHeader(s.trustOptions()...)

	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: s.logPanic}))
	e.Use(middleware.BodyLimit(strconv.FormatInt(s.cfg.BodyLimit, 10) + "B"))

	// /verify is matched for every method: proxies send GET, but some
	// setups pass the original method through.
	e.Any("/verify", s.verifier.Handle)

	e.POST("/register", s.web.Register)
	e.POST("/login", s.web.Login)
	e.GET("/login", s.web.LoginPage)
	e.POST("/logout", s.web.Logout)
	e.GET("/", s.web.Home)
	e.GET("/assets/*", s.web.Asset)

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.ready)
	return e
}

func (s *server) ready(c echo.Context) error {
	if err := s.store.Ping(c.Request().Context()); err != nil {
		return &accounts.Error{Code: accounts.Unavailable, Message: "store unavailable", Err: err}
	}
	return c.String(http.StatusOK, "ready\n")
}

func (s *server) logPanic(c echo.Context, err error, stack []byte) error {
	s.log.Error("panic recovered", "path", c.Path(), "err", err, "stack", string(stack))
	return err
}

// trustOptions turns AUTHGATE_TRUSTED_PROXIES into Echo's trust options,
// switching off Echo's own defaults (which trust every private address).
func (s *server) trustOptions() []echo.TrustOption {
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range s.cfg.TrustedProxies.Prefixes() {
		bits := p.Addr().BitLen()
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}))
	}
	return opts
}
