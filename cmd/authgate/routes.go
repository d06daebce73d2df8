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

	// /verify is matched for every method: proxies send GET, but some
	// setups pass the original method through. It is registered without
	// middleware: Echo composes a route's middleware chain anew on every
	// request (global or per route alike), /verify recovers its own
	// panics (as a refusal, which a generic recover could not give) and
	// never reads a body, and it runs on every request a proxy passes on.
	e.Any("/verify", s.verifier.Handle)

	// Everything else gets a recover and the body limit, as route-level
	// middleware so that /verify has none.
	g := routeGroup{e: e, mw: []echo.MiddlewareFunc{
		middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: s.logPanic}),
		middleware.BodyLimit(strconv.FormatInt(s.cfg.BodyLimit, 10) + "B"),
	}}
	g.Add(http.MethodPost, "/register", s.web.Register)
	g.Add(http.MethodPost, "/login", s.web.Login)
	g.Add(http.MethodGet, "/login", s.web.LoginPage)
	g.Add(http.MethodPost, "/logout", s.web.Logout)
	g.Add(http.MethodPost, "/totp/setup", s.web.TOTPSetup)
	g.Add(http.MethodPost, "/totp/confirm", s.web.TOTPConfirm)
	g.Add(http.MethodPost, "/totp/disable", s.web.TOTPDisable)
	g.Add(http.MethodPost, "/account/password", s.web.ChangePassword)
	g.Add(http.MethodGet, "/reset", s.web.ResetPage)
	g.Add(http.MethodPost, "/reset", s.web.Reset)
	admin.Routes(s.web, routeGroup{e: e, prefix: "/admin", mw: g.mw})
	g.Add(http.MethodGet, "/", s.web.Home)
	g.Add(http.MethodGet, "/assets/*", s.web.Asset)

	g.Add(http.MethodGet, "/.well-known/jwks.json", s.jwks)

	g.Add(http.MethodGet, "/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	g.Add(http.MethodGet, "/readyz", s.ready)
	return e
}

// routeGroup adds routes under prefix with its middleware at route level.
// Unlike an echo.Group with middleware, it registers no catch-all route,
// so a known path asked with the wrong method stays a 405.
type routeGroup struct {
	e      *echo.Echo
	prefix string
	mw     []echo.MiddlewareFunc
}

// Add is admin.Router's.
func (g routeGroup) Add(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return g.e.Add(method, g.prefix+path, h, append(g.mw[:len(g.mw):len(g.mw)], m...)...)
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
