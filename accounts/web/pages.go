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
	"strings"
	"time"

	"github.com/labstack/echo/v4"
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

	// Signed-in page.
	User    string
	Email   string
	Name    string
	Groups  []string
	Expires time.Time
}

func newPages(cfg Config) (*pages, error) {
	t, err := template.New("").Funcs(template.FuncMap{
		"join":  strings.Join,
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
	return "default-src 'none'; style-src 'self'; img-src " + img + "; form-action " + form +
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
	d.Title, d.Logo, d.Signup = p.title, p.logo, p.signup
	if d.Tab == "" {
		d.Tab = "signin"
	}
	name := "login.html"
	if d.User != "" {
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
// when the request already carries a live session.
func (h *Handler) LoginPage(c echo.Context) error {
	if d, ok := h.signedIn(c); ok {
		return h.pages.render(c, http.StatusOK, d)
	}
	return h.pages.render(c, http.StatusOK, pageData{RD: h.safeRD(c.QueryParam("rd"))})
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
	return pageData{
		User: si.User, Email: si.Email, Name: si.Name, Groups: si.Groups,
		Expires: si.Expires, RD: h.safeRD(c.QueryParam("rd")),
	}, true
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
