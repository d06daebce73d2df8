package main

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/web"
	"github.com/authgate/authgate/accounts/web/admin"
)

// routes is the whole HTTP API in one list.
func (s *server) routes() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Debug = false
	// Every error of every route becomes {"error": "..."} through the one
	// table of accounts/web.
	e.HTTPErrorHandler = web.ErrorHandler(s.log)
	// c.RealIP() reads X-Forwarded-For, then X-Real-IP, only from trusted
	// proxies; a client cannot pick the address its failures are counted
	// against.
	e.IPExtractor = s.cfg.TrustedProxies.ClientIP

	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: s.logPanic}))
	e.Use(middleware.BodyLimit(strconv.FormatInt(s.cfg.BodyLimit, 10) + "B"))

	// /verify is matched for every method: proxies send GET, but some
	// setups pass the original method through.
	e.Any("/verify", s.verifier.Handle)

	e.POST("/register", s.web.Register)
	e.POST("/login", s.web.Login)
	e.GET("/login", s.web.LoginPage)
	e.POST("/logout", s.web.Logout)
	e.POST("/totp/setup", s.web.TOTPSetup)
	e.POST("/totp/confirm", s.web.TOTPConfirm)
	e.POST("/totp/disable", s.web.TOTPDisable)
	e.POST("/account/password", s.web.ChangePassword)
	e.GET("/reset", s.web.ResetPage)
	e.POST("/reset", s.web.Reset)
	admin.Routes(s.web, e.Group("/admin"))
	e.GET("/", s.web.Home)
	e.GET("/assets/*", s.web.Asset)

	e.GET("/.well-known/jwks.json", s.jwks)

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.ready)
	return e
}

func (s *server) ready(c echo.Context) error {
	if err := s.checked.Ping(c.Request().Context()); err != nil {
		return &accounts.Error{Code: accounts.Unavailable, Message: "store unavailable", Err: err}
	}
	return c.String(http.StatusOK, "ready\n")
}

// jwks publishes the keys that check identity assertions; 404 without
// them.
func (s *server) jwks(c echo.Context) error {
	if s.assertions == nil {
		return echo.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSONBlob(http.StatusOK, s.assertions.JWKS())
}

func (s *server) logPanic(c echo.Context, err error, stack []byte) error {
	s.log.Error("panic recovered", "path", c.Path(), "err", err, "stack", string(stack))
	return err
}
