package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authgate/authgate/verify"
)

//go:embed templates/*.html
var templatesFS embed.FS

// assetsFS holds the files served under /assets/: only what a page links
// to. Everything the page needs is embedded: it makes no request to
// another host.
//
//go:embed assets/*
var assetsFS embed.FS

type pages struct {
	tmpl   *template.Template
	title  string
	logo   string
	csp    string
	signup bool
}

type pageData struct {
	Title    string
	Logo     string
	Signup   bool
	Error    string
	Username string
	RD       string
	Tab      string // "signin" or "signup"
	// Page picks the template: "" (sign-in, or signed-in when User is
	// set), "totp-setup", "totp-codes".
	Page string

	// Sign-in page.
	Invite     string // an invite code: the sign-up form shows, filled in
	MFA        bool   // the site asked for a second factor (mfa=1)
	Challenge  string // set: the code step of a sign-in
	SignedInAs string // mfa=1 for a session without the second factor

	// Signed-in page.
	User         string
	Email        string
	Name         string
	Groups       []string
	Expires      time.Time
	AMR          []string
	TOTPOn       bool
	TOTPStatic   bool // a users-file account: no second factor possible
	RecoveryLeft int

	// Second-factor pages.
	QR            template.URL // data: URL of the PNG
	Secret        string       // base32, in groups of four
	OTPAuthURL    string
	RecoveryCodes []string

	// Reset page.
	Token  string // the reset link's token, carried by the form
	Notice string // a success said on the page
}

func newPages(cfg Config) (*pages, error) {
	t, err := template.New("").Funcs(template.FuncMap{
		"join":  strings.Join,
		"has":   slices.Contains[[]string],
		"until": func(t time.Time) string { return humanDuration(time.Until(t)) },
	}).ParseFS(templatesFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &pages{
		tmpl:   t,
		title:  cfg.Title,
		logo:   cfg.LogoURL,
		csp:    contentSecurityPolicy(cfg),
		signup: cfg.Service.RegistrationOpen(),
	}, nil
}

// contentSecurityPolicy allows the page's own stylesheet and, when branding
// names one, the logo's origin; forms may submit to the gate and redirect
// (after sign-in) to the allowed domains; nothing may frame the page
// (clickjacking of the sign-in form).
func contentSecurityPolicy(cfg Config) string {
	img := "'self'"
	if u, err := url.Parse(cfg.LogoURL); err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http") {
		img += " " + u.Scheme + "://" + u.Host
	}
	form := "'self'"
	for _, d := range cfg.Domains {
		form += " " + d + ":* *." + d + ":*"
	}
	// data: images are the QR codes the gate draws for TOTP set-up.
	return "default-src 'none'; style-src 'self'; img-src " + img + " data:; form-action " + form +
		"; frame-ancestors 'none'; base-uri 'none'"
}

// securityHeaders are set on every page and asset.
func (p *pages) securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: the page's URL (with its rd) still
	// never reaches another site, but the browser keeps a real Origin on
	// the page's own form posts (no-referrer turns it into "null", which
	// the CSRF check must refuse).
	h.Set("Referrer-Policy", "same-origin")
}

func (p *pages) render(c echo.Context, status int, d pageData) error {
	d.Title, d.Logo, d.Signup = p.title, p.logo, p.signup || d.Invite != ""
	if d.Tab == "" {
		d.Tab = "signin"
	}
	name := "login.html"
	switch {
	case d.Page == "totp-setup":
		name = "totp-setup.html"
	case d.Page == "totp-codes":
		name = "totp-codes.html"
	case d.Page == "reset":
		name = "reset.html"
	case d.User != "":
		name = "home.html"
	}
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, d); err != nil {
		return err
	}
	h := c.Response().Header()
	p.securityHeaders(h)
	h.Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// LoginPage handles GET /login: the sign-in form, or the signed-in page
// when the request already carries a live session. With mfa=1 (where
// /verify sends a session without the second factor a site requires) the
// form explains why, and a session without that factor gets the form.
func (h *Handler) LoginPage(c echo.Context) error {
	mfa := c.QueryParam("mfa") == "1"
	d, ok := h.signedIn(c)
	if ok && !(mfa && !verify.HasOTP(d.AMR)) {
		return h.pages.render(c, http.StatusOK, d)
	}
	page := pageData{RD: h.safeRD(c.QueryParam("rd")), MFA: mfa, Invite: c.QueryParam("invite")}
	if page.Invite != "" {
		page.Tab = "signup"
	}
	if ok {
		page.Username, page.SignedInAs, page.TOTPOn = d.User, d.User, d.TOTPOn
	}
	return h.pages.render(c, http.StatusOK, page)
}

// Home handles GET /: the signed-in page, or the sign-in form.
func (h *Handler) Home(c echo.Context) error {
	if d, ok := h.signedIn(c); ok {
		return h.pages.render(c, http.StatusOK, d)
	}
	return c.Redirect(http.StatusSeeOther, h.loginPath())
}

// Asset handles GET /assets/*: the embedded files a page links to, by
// exact name, with the pages' security headers; anything else (a
// directory, a template) is 404.
func (h *Handler) Asset(c echo.Context) error {
	name := c.Param("*")
	if name == "" || strings.ContainsAny(name, "/\\") {
		return echo.ErrNotFound
	}
	data, err := assetsFS.ReadFile("assets/" + name)
	if err != nil {
		return echo.ErrNotFound
	}
	hdr := c.Response().Header()
	h.pages.securityHeaders(hdr)
	hdr.Set("Cache-Control", "public, max-age=3600")
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	return c.Blob(http.StatusOK, ctype, data)
}

func (h *Handler) signedIn(c echo.Context) (pageData, bool) {
	si, ok := h.cfg.Sessions.SignedIn(c.Request())
	if !ok {
		return pageData{}, false
	}
	d := h.homeData(c, si)
	d.RD = h.safeRD(c.QueryParam("rd"))
	if c.QueryParam("done") == "password" {
		d.Notice = "Password changed. Your other sessions have ended."
	}
	return d, true
}

// homeData is the signed-in page of si: the token's identity and amr, and
// the account's second factor as the store has it now.
func (h *Handler) homeData(c echo.Context, si verify.SignedIn) pageData {
	d := pageData{
		User: si.User, Email: si.Email, Name: si.Name, Groups: si.Groups,
		Expires: si.Expires, AMR: si.AMR,
	}
	if len(d.AMR) == 0 {
		d.AMR = []string{verify.MethodPassword}
	}
	if u, err := h.svc.Account(c.Request().Context(), si.User); err == nil {
		d.TOTPOn, d.RecoveryLeft = u.TOTPEnabled(), len(u.TOTP.Recovery)
		d.TOTPStatic = h.svc.IsStatic(u.Name)
	}
	return d
}

// humanDuration reads as people write it: "24 h", "3 h 5 min", "12 min".
func humanDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "less than a minute"
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return fmt.Sprintf("%d min", m)
	case m == 0:
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}
