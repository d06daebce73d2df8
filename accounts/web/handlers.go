// Package web is the HTTP face of the account domain: the handlers of
// /register, /login (with its second-factor step), /logout, /totp/*,
// /account/password and /reset, the pages with their templates and
// assets, the same-origin checks of every state-changing request a cookie
// authenticates, and the one table that turns an accounts error code into
// a status (ErrorHandler). Whether a request is signed in is asked of
// verify, which owns the token. kit.go is what the admin package
// (accounts/web/admin) builds on.
package web

import (
	"errors"
	"github.com/authgate/authgate/verify/redirect"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/verify"
)

// Cookie describes the session cookie.
type Cookie struct {
	Name   string // empty: verify.DefaultCookieName
	Domain string // empty: host-only
	Secure bool
}

// SignedInChecker says whether a request carries a live session:
// verify.Verifier.SignedIn.
type SignedInChecker interface {
	SignedIn(r *http.Request) (verify.SignedIn, bool)
}

// Events hears what the account endpoints did, for metrics. Results come
// from fixed sets: Login success, failure, locked, unavailable;
// Registration created, conflict, invalid, closed.
type Events interface {
	Login(result string)
	Registration(result string)
	Logout()
}

type noEvents struct{}

func (noEvents) Login(string)        {}
func (noEvents) Registration(string) {}
func (noEvents) Logout()             {}

// loginResult names a sign-in's outcome for Events.
func loginResult(err error) string {
	switch accounts.ErrorCode(err) {
	case accounts.Unauthorized, accounts.Invalid:
		return "failure"
	case accounts.Locked:
		return "locked"
	}
	if err == nil {
		return "success"
	}
	return "unavailable"
}

// registrationResult names a registration's outcome for Events; a store
// failure is none of them and is not counted.
func registrationResult(err error) string {
	if errors.Is(err, accounts.ErrInvalidInvite) {
		return "invalid"
	}
	switch accounts.ErrorCode(err) {
	case accounts.Conflict:
		return "conflict"
	case accounts.Invalid:
		return "invalid"
	case accounts.Forbidden:
		return "closed"
	}
	if err == nil {
		return "created"
	}
	return ""
}

// DefaultTitle names the gate on its pages unless configured.
const DefaultTitle = "authgate"

// Config is what the handlers need. Service and Sessions are required.
type Config struct {
	Service  *accounts.Service
	Sessions SignedInChecker
	Cookie   Cookie
	// LoginURL is the public URL of the login page; Domains the hosts rd
	// may point at.
	LoginURL string
	Domains  redirect.Domains
	Title    string // empty: DefaultTitle
	LogoURL  string
	Logger   *slog.Logger
	Events   Events // nil: not reported
	// AdminGroup's members may use /admin and /admin/api (empty: nobody).
	AdminGroup string
}

// Handler serves the account endpoints and pages.
type Handler struct {
	cfg   Config
	svc   *accounts.Service
	log   *slog.Logger
	pages *pages
}

// New builds a Handler, filling defaults for zero values.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil || cfg.Sessions == nil {
		return nil, errors.New("web: Service and Sessions are required")
	}
	if cfg.Cookie.Name == "" {
		cfg.Cookie.Name = verify.DefaultCookieName
	}
	if cfg.Title == "" {
		cfg.Title = DefaultTitle
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Events == nil {
		cfg.Events = noEvents{}
	}
	p, err := newPages(cfg)
	if err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, svc: cfg.Service, log: cfg.Logger, pages: p}, nil
}

// tokenResponse is the JSON answer to a successful API login.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// Register handles POST /register: a JSON object
// {username, password, email?, name?, invite?} (other fields are
// ignored), or the sign-up form of the login page, which also signs the
// new user in and follows rd.
func (h *Handler) Register(c echo.Context) error {
	r := c.Request()
	mt := mediaType(r)
	if mt == ctForm {
		return h.registerForm(c)
	}
	if !h.svc.RegistrationOpen() && !h.svc.InviteOnly() {
		h.cfg.Events.Registration("closed")
		return accounts.ErrRegistrationClosed
	}
	if mt != ctJSON {
		return accounts.Errorf(accounts.Unsupported, "send application/json")
	}
	var in accounts.Registration
	if err := decodeObject(r.Body, map[string]*string{
		"username": &in.Username, "password": &in.Password, "email": &in.Email, "name": &in.Name, "invite": &in.Invite,
	}); err != nil {
		return err
	}
	u, err := h.svc.Register(r.Context(), in)
	h.cfg.Events.Registration(registrationResult(err))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]string{"username": u.Name})
}

// registerForm serves the sign-up form: errors re-render the page; success
// starts a session and follows rd like a form login.
func (h *Handler) registerForm(c echo.Context) error {
	r := c.Request()
	get, err := readForm(r)
	if err != nil {
		return err
	}
	page := pageData{Tab: "signup", Username: get("username"), Email: get("email"), RD: h.safeRD(get("rd")), Invite: get("invite")}
	if !h.svc.RegistrationOpen() && !h.svc.InviteOnly() {
		h.cfg.Events.Registration("closed")
		return h.pageError(c, page, accounts.Errorf(accounts.Forbidden, "Registration is closed."), nil)
	}
	if err := h.requireSameSite(r, "sign-up form"); err != nil {
		return h.pageError(c, page, err, nil)
	}
	u, err := h.svc.Register(r.Context(), accounts.Registration{Username: get("username"), Password: get("password"), Email: get("email"), Invite: get("invite")})
	h.cfg.Events.Registration(registrationResult(err))
	if err != nil {
		return h.pageError(c, page, err, sentence)
	}
	return h.finishFormLogin(c, u, []string{verify.MethodPassword}, get("rd"))
}

// pageError shows err on the page with the status the table gives it,
// its message passed through format when one is given; a server fault is
// answered like any other (JSON, detail in the log).
func (h *Handler) pageError(c echo.Context, page pageData, err error, format func(string) string) error {
	status, msg := Status(err)
	if status >= 500 {
		return err
	}
	retryAfter(c, err)
	if format != nil {
		msg = format(msg)
	}
	page.Error = msg
	return h.pages.render(c, status, page)
}

// sentence capitalises a message and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// loginInput is what a login request carries, whatever its form.
type loginInput struct {
	accounts.Credentials
	rd        string
	challenge string // the form's second step
	mfa       bool   // the form came from a page asking for a second factor
	form      bool   // an HTML form post: answer with pages and redirects
}

// Login handles POST /login: JSON {username, password, totp?,
// recovery_code?}, a form (username, password, rd; or, on its second step,
// challenge and totp or recovery_code) or an Authorization: Basic header.
func (h *Handler) Login(c echo.Context) error {
	in, err := readLogin(c.Request())
	if err != nil {
		return err
	}
	r := c.Request()
	page := pageData{Username: in.Username, RD: h.safeRD(in.rd), MFA: in.mfa}
	if in.form {
		// A cross-site form post could sign a victim into the attacker's
		// account (login CSRF); it gets no cookie.
		if err := h.requireSameSite(r, "sign-in form"); err != nil {
			return h.pageError(c, pageData{}, err, nil)
		}
	}
	var (
		u   accounts.User
		amr []string
	)
	if in.form && in.challenge != "" {
		u, amr, err = h.svc.SignInChallenge(r.Context(), c.RealIP(), in.challenge, in.TOTP, in.RecoveryCode)
		if errors.Is(err, accounts.ErrBadSecondFactor) && u.Name != "" {
			// The code step again, on a fresh challenge: each is used once.
			if ch, cerr := h.svc.Challenge(u); cerr == nil {
				page.Challenge = ch
			}
		}
	} else {
		u, amr, err = h.svc.SignIn(r.Context(), c.RealIP(), in.Credentials)
		if errors.Is(err, accounts.ErrSecondFactorRequired) && in.form {
			// The right password: the page asks for the code next,
			// carrying a sealed challenge instead of the password.
			return h.codeStep(c, u, page)
		}
	}
	if err != nil {
		// The right password without its code is half a sign-in, not a
		// failure: it is neither counted nor logged as one.
		if res := loginResult(err); !errors.Is(err, accounts.ErrSecondFactorRequired) {
			h.cfg.Events.Login(res)
			// Authentication events go to the log at info: a failure
			// names the client, never the name typed (it may be a
			// password typed in the wrong field), nor anything else of
			// the request.
			if res == "failure" || res == "locked" {
				h.log.Info("sign-in refused", "result", res, "client_ip", c.RealIP())
			}
		}
		h.log.Debug("login refused", "err", err)
		if in.form {
			return h.pageError(c, page, err, nil)
		}
		return err
	}
	token, expires, err := h.svc.StartSession(r.Context(), u, amr)
	h.cfg.Events.Login(loginResult(err)) // right password, but no session: unavailable
	if err != nil {
		return err
	}
	h.log.Info("signed in", "user", u.Name, "client_ip", c.RealIP(), "amr", amr)
	c.SetCookie(h.sessionCookie(token, expires))
	c.Response().Header().Set("Cache-Control", "no-store")
	if in.form && in.mfa && !verify.HasOTP(amr) {
		// The site asked for a second factor this user has not set up:
		// back to rd would only bounce here again. The signed-in page's
		// set-up comes next, keeping rd for after.
		target := h.homeURL()
		if rd := h.safeRD(in.rd); rd != "" {
			target += "?rd=" + url.QueryEscape(rd)
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.Redirect(http.StatusSeeOther, target+"#two-factor")
	}
	if in.form {
		return h.redirectAfterLogin(c, in.rd)
	}
	return c.JSON(http.StatusOK, tokenResponse{
		AccessToken: token,
		TokenType:   "Bearer",
		ExpiresIn:   int64(h.svc.SessionTTL() / time.Second),
	})
}

// finishFormLogin starts a session for a user who just signed up (or just
// turned a second factor on).
func (h *Handler) finishFormLogin(c echo.Context, u accounts.User, amr []string, rd string) error {
	token, expires, err := h.svc.StartSession(c.Request().Context(), u, amr)
	if err != nil {
		return err
	}
	c.SetCookie(h.sessionCookie(token, expires))
	return h.redirectAfterLogin(c, rd)
}

// redirectAfterLogin follows an allowed rd, else goes to the signed-in page.
func (h *Handler) redirectAfterLogin(c echo.Context, rd string) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	target := h.safeRD(rd)
	if target == "" {
		target = h.homeURL()
	}
	return c.Redirect(http.StatusSeeOther, target)
}

func readLogin(r *http.Request) (loginInput, error) {
	var in loginInput
	if user, pass, ok := r.BasicAuth(); ok {
		in.Username, in.Password = user, pass
		return in, nil
	}
	switch mediaType(r) {
	case ctJSON:
		err := decodeObject(r.Body, map[string]*string{
			"username": &in.Username, "password": &in.Password,
			"totp": &in.TOTP, "recovery_code": &in.RecoveryCode,
		})
		return in, err
	case ctForm:
		get, err := readForm(r)
		if err != nil {
			return loginInput{}, err
		}
		in.Credentials = accounts.Credentials{Username: get("username"), Password: get("password"), TOTP: get("totp"), RecoveryCode: get("recovery_code")}
		in.rd, in.challenge, in.mfa, in.form = get("rd"), get("challenge"), get("mfa") == "1", true
		return in, nil
	}
	return loginInput{}, accounts.Errorf(accounts.Unsupported, "send application/json, a form, or Basic credentials")
}

// Logout handles POST /logout: the session named by the bearer token or the
// cookie ends, the cookie is cleared. Other sessions of the user stay.
func (h *Handler) Logout(c echo.Context) error {
	r := c.Request()
	form := mediaType(r) == ctForm
	token, isBearer := verify.BearerToken(r.Header)
	if !isBearer || token == "" {
		token = h.cookie(r)
		if token != "" || form {
			// The cookie travels with a post from any site, whatever its
			// content type (a text/plain or multipart body needs no
			// preflight): only a same-origin request may end the session.
			what := "sign-out request"
			if form {
				what = "sign-out form"
			}
			if err := h.requireSameSite(r, what); err != nil {
				if form {
					return h.pageError(c, pageData{}, err, nil)
				}
				return err
			}
		}
	}
	if err := h.svc.EndSession(r.Context(), token); err != nil {
		return err
	}
	h.cfg.Events.Logout()
	h.log.Info("signed out", "client_ip", c.RealIP())
	c.SetCookie(h.clearCookie())
	if form {
		get, err := readForm(r)
		if err != nil {
			return err
		}
		target := h.safeRD(get("rd"))
		if target == "" {
			target = h.loginPath()
		}
		return c.Redirect(http.StatusSeeOther, target)
	}
	return c.NoContent(http.StatusNoContent)
}

// cookie is the session cookie's value, or "".
func (h *Handler) cookie(r *http.Request) string {
	if ck, err := r.Cookie(h.cfg.Cookie.Name); err == nil {
		return ck.Value
	}
	return ""
}

func (h *Handler) sessionCookie(token string, expires time.Time) *http.Cookie {
	ck := h.clearCookie()
	ck.Value, ck.Expires, ck.MaxAge = token, expires, int(h.svc.SessionTTL()/time.Second)
	return ck
}

func (h *Handler) clearCookie() *http.Cookie {
	return &http.Cookie{
		Name:     h.cfg.Cookie.Name,
		Value:    "",
		Path:     "/",
		Domain:   h.cfg.Cookie.Domain,
		MaxAge:   -1,
		Expires:  time.Unix(0, 0),
		Secure:   h.cfg.Cookie.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// safeRD returns rd if it may be followed, else "".
func (h *Handler) safeRD(rd string) string {
	t, _ := redirect.Safe(rd, h.cfg.Domains)
	return t
}

// loginPath is where the login page lives, relative to the gate.
func (h *Handler) loginPath() string {
	if h.cfg.LoginURL != "" {
		return h.cfg.LoginURL
	}
	return "/login"
}

// homeURL is where a form login without rd lands: the signed-in page.
func (h *Handler) homeURL() string {
	if h.cfg.LoginURL != "" {
		if u, err := url.Parse(h.cfg.LoginURL); err == nil {
			u.Path, u.RawQuery = "/", ""
			return u.String()
		}
	}
	return "/"
}
