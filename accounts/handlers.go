package accounts

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authgate/authgate/verify"
)

// tokenResponse is the JSON answer to a successful API login.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// Register handles POST /register: a JSON object
// {username, password, email?, name?} (other fields are ignored), or the
// sign-up form of the login page, which also signs the new user in and
// follows rd.
func (s *Service) Register(c echo.Context) error {
	r := c.Request()
	mt := mediaType(r)
	if mt == ctForm {
		return s.registerForm(c)
	}
	if !s.cfg.Registration {
		return echo.NewHTTPError(http.StatusForbidden, "registration is closed")
	}
	if mt != ctJSON {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "send application/json")
	}
	var username, password, email, name string
	if err := decodeObject(r.Body, map[string]*string{
		"username": &username, "password": &password, "email": &email, "name": &name,
	}); err != nil {
		return bodyError(err)
	}
	u, err := s.register(r.Context(), username, password, email, name)
	if err != nil {
		return registrationError(err)
	}
	return c.JSON(http.StatusCreated, map[string]string{"username": u.Name})
}

func (s *Service) register(ctx context.Context, username, password, email, name string) (User, error) {
	u, err := s.NewUser(ctx, username, password, email, name)
	if err != nil {
		return User{}, err
	}
	if err := s.Create(ctx, u); err != nil {
		return User{}, err
	}
	s.log.Info("account registered", "user", u.Name)
	return u, nil
}

// registerForm serves the sign-up form: errors re-render the page; success
// starts a session and follows rd like a form login.
func (s *Service) registerForm(c echo.Context) error {
	r := c.Request()
	get, err := readForm(c)
	if err != nil {
		return bodyError(err)
	}
	page := pageData{Tab: "signup", Username: get("username"), Email: get("email"), RD: s.safeRD(get("rd"))}
	if !s.cfg.Registration {
		page.Error = "Registration is closed."
		return s.pages.render(c, http.StatusForbidden, page)
	}
	if !s.sameSite(r) {
		page.Error = "This sign-up form was sent from another site and was refused."
		return s.pages.render(c, http.StatusForbidden, page)
	}
	u, err := s.register(r.Context(), get("username"), get("password"), get("email"), "")
	if err != nil {
		he := registrationError(err).(*echo.HTTPError)
		if he.Code >= 500 {
			return he
		}
		page.Error = capitalize(he.Message.(string)) + "."
		return s.pages.render(c, he.Code, page)
	}
	return s.finishFormLogin(c, u, get("rd"))
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// registrationError maps validation and store errors to responses whose
// messages are safe to show.
func registrationError(err error) error {
	switch {
	case errors.Is(err, ErrUserExists):
		return echo.NewHTTPError(http.StatusConflict, "username is taken")
	case errors.Is(err, ErrBadUsername), errors.Is(err, ErrPasswordTooShort), errors.Is(err, ErrPasswordTooLong),
		errors.Is(err, ErrPasswordCommon), errors.Is(err, errBadEmail), errors.Is(err, errBadName):
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	return echo.NewHTTPError(http.StatusServiceUnavailable, "accounts are unavailable; try again").SetInternal(err)
}

func bodyError(err error) error {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return he
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return echo.NewHTTPError(http.StatusBadRequest, fe.Error())
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "request body too large")
	}
	return echo.NewHTTPError(http.StatusBadRequest, "body must be a single JSON object").SetInternal(err)
}

// loginInput is what a login request carries, whatever its form.
type loginInput struct {
	username, password, rd string
	form                   bool // an HTML form post: answer with pages and redirects
}

// Login handles POST /login: JSON {username, password}, a form (username,
// password, rd) or an Authorization: Basic header.
func (s *Service) Login(c echo.Context) error {
	in, err := s.readLogin(c)
	if err != nil {
		return err
	}
	r := c.Request()
	if in.form && !s.sameSite(r) {
		// A cross-site form post could sign a victim into the attacker's
		// account (login CSRF); it gets no cookie.
		return s.pages.render(c, http.StatusForbidden, pageData{Error: "This sign-in form was sent from another site and was refused."})
	}
	u, err := s.signIn(r.Context(), c.RealIP(), in.username, in.password)
	var locked *verify.LockedError
	switch {
	case errors.As(err, &locked):
		secs := int64(locked.RetryAfter.Round(time.Second)/time.Second) + 1
		c.Response().Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		msg := "too many failed attempts; try again in " + minutes(locked.RetryAfter)
		s.log.Debug("login refused: locked")
		if in.form {
			return s.pages.render(c, http.StatusTooManyRequests, pageData{Error: msg, Username: in.username, RD: s.safeRD(in.rd)})
		}
		return echo.NewHTTPError(http.StatusTooManyRequests, msg)
	case errors.Is(err, ErrBadCredentials):
		s.log.Debug("login failed")
		if in.form {
			return s.pages.render(c, http.StatusUnauthorized, pageData{Error: ErrBadCredentials.Error(), Username: in.username, RD: s.safeRD(in.rd)})
		}
		return echo.NewHTTPError(http.StatusUnauthorized, ErrBadCredentials.Error())
	case err != nil:
		return echo.NewHTTPError(http.StatusServiceUnavailable, "accounts are unavailable; try again").SetInternal(err)
	}
	token, expires, err := s.StartSession(r.Context(), u)
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "sessions are unavailable; try again").SetInternal(err)
	}
	c.SetCookie(s.sessionCookie(token, expires))
	c.Response().Header().Set("Cache-Control", "no-store")
	if in.form {
		return s.redirectAfterLogin(c, in.rd)
	}
	return c.JSON(http.StatusOK, tokenResponse{
		AccessToken: token,
		TokenType:   "Bearer",
		ExpiresIn:   int64(s.cfg.SessionTTL / time.Second),
	})
}

// finishFormLogin starts a session for a user who just signed up.
func (s *Service) finishFormLogin(c echo.Context, u User, rd string) error {
	token, expires, err := s.StartSession(c.Request().Context(), u)
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "sessions are unavailable; try again").SetInternal(err)
	}
	c.SetCookie(s.sessionCookie(token, expires))
	return s.redirectAfterLogin(c, rd)
}

// redirectAfterLogin follows an allowed rd, else goes to the signed-in page.
func (s *Service) redirectAfterLogin(c echo.Context, rd string) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	target := s.safeRD(rd)
	if target == "" {
		target = s.homeURL()
	}
	return c.Redirect(http.StatusSeeOther, target)
}

func (s *Service) readLogin(c echo.Context) (loginInput, error) {
	r := c.Request()
	if user, pass, ok := r.BasicAuth(); ok {
		return loginInput{username: user, password: pass}, nil
	}
	switch mediaType(r) {
	case ctJSON:
		var in loginInput
		if err := decodeObject(r.Body, map[string]*string{"username": &in.username, "password": &in.password}); err != nil {
			return in, bodyError(err)
		}
		return in, nil
	case ctForm:
		get, err := readForm(c)
		if err != nil {
			return loginInput{}, bodyError(err)
		}
		return loginInput{username: get("username"), password: get("password"), rd: get("rd"), form: true}, nil
	}
	return loginInput{}, echo.NewHTTPError(http.StatusUnsupportedMediaType, "send application/json, a form, or Basic credentials")
}

// Logout handles POST /logout: the session named by the bearer token or the
// cookie ends, the cookie is cleared. Other sessions of the user stay.
func (s *Service) Logout(c echo.Context) error {
	r := c.Request()
	form := mediaType(r) == ctForm
	if form && !s.sameSite(r) {
		return s.pages.render(c, http.StatusForbidden, pageData{Error: "This sign-out form was sent from another site and was refused."})
	}
	token := bearer(r)
	if token == "" {
		if ck, err := r.Cookie(s.cfg.Cookie.Name); err == nil {
			token = ck.Value
		}
	}
	if err := s.EndSession(r.Context(), token); err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "sessions are unavailable; try again").SetInternal(err)
	}
	c.SetCookie(s.clearCookie())
	if form {
		get, err := readForm(c)
		if err != nil {
			return bodyError(err)
		}
		target := s.safeRD(get("rd"))
		if target == "" {
			target = s.loginPath()
		}
		return c.Redirect(http.StatusSeeOther, target)
	}
	return c.NoContent(http.StatusNoContent)
}

// minutes renders a wait for people: "1 minute", "15 minutes".
func minutes(d time.Duration) string {
	m := int((d + time.Minute - 1) / time.Minute)
	if m <= 1 {
		return "1 minute"
	}
	return strconv.Itoa(m) + " minutes"
}

func bearer(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	if len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

func (s *Service) sessionCookie(token string, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name:     s.cfg.Cookie.Name,
		Value:    token,
		Path:     "/",
		Domain:   s.cfg.Cookie.Domain,
		Expires:  expires,
		MaxAge:   int(s.cfg.SessionTTL / time.Second),
		Secure:   s.cfg.Cookie.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

func (s *Service) clearCookie() *http.Cookie {
	return &http.Cookie{
		Name:     s.cfg.Cookie.Name,
		Value:    "",
		Path:     "/",
		Domain:   s.cfg.Cookie.Domain,
		MaxAge:   -1,
		Expires:  time.Unix(0, 0),
		Secure:   s.cfg.Cookie.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// safeRD returns rd if it may be followed, else "".
func (s *Service) safeRD(rd string) string {
	t, _ := verify.SafeRedirect(rd, s.cfg.Domains)
	return t
}

// loginPath is where the login page lives, relative to the gate.
func (s *Service) loginPath() string {
	if s.cfg.LoginURL != "" {
		return s.cfg.LoginURL
	}
	return "/login"
}

// homeURL is where a form login without rd lands: the signed-in page.
func (s *Service) homeURL() string {
	if s.cfg.LoginURL != "" {
		if u, err := url.Parse(s.cfg.LoginURL); err == nil {
			u.Path, u.RawQuery = "/", ""
			return u.String()
		}
	}
	return "/"
}

// sameSite decides whether a form post comes from a page we trust. Browsers
// send Origin on every POST and Sec-Fetch-Site on all modern versions; a
// post from another site (login CSRF, logout CSRF) is refused. A request
// with neither header is not from a browser form and is let through.
func (s *Service) sameSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site":
		return false
	case "same-origin":
		// Only a browser sets it (scripts cannot), and only for a page of
		// this very origin. It is the answer even when Origin is "null",
		// which a browser sends for some same-origin posts (a
		// no-referrer policy, a redirect chain).
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if origin == "null" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if s.cfg.LoginURL != "" {
		if l, err := url.Parse(s.cfg.LoginURL); err == nil && strings.EqualFold(l.Host, u.Host) {
			return true
		}
	}
	_, ok := verify.SafeRedirect(origin+"/", s.cfg.Domains)
	return ok
}
