package accounts

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

//go:embed web/*.html web/*.css
var webFS embed.FS

// AssetsFS serves the page's stylesheet under /assets/. Everything the page
// needs is embedded: it makes no request to another host.
func AssetsFS() http.FileSystem { return http.FS(webFS) }

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
	}).ParseFS(webFS, "web/*.html")
	if err != nil {
		return nil, err
	}
	return &pages{
		tmpl:   t,
		title:  cfg.Title,
		logo:   cfg.LogoURL,
		csp:    contentSecurityPolicy(cfg),
		signup: cfg.Registration,
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
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: the page's URL (with its rd) still
	// never reaches another site, but the browser keeps a real Origin on
	// the page's own form posts (no-referrer turns it into "null", which
	// the CSRF check must refuse).
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// LoginPage handles GET /login: the sign-in form, or the signed-in page
// when the request already carries a live session.
func (s *Service) LoginPage(c echo.Context) error {
	if d, ok := s.signedIn(c); ok {
		return s.pages.render(c, http.StatusOK, d)
	}
	return s.pages.render(c, http.StatusOK, pageData{RD: s.safeRD(c.QueryParam("rd"))})
}

// Home handles GET /: the signed-in page, or the sign-in form.
func (s *Service) Home(c echo.Context) error {
	if d, ok := s.signedIn(c); ok {
		return s.pages.render(c, http.StatusOK, d)
	}
	return c.Redirect(http.StatusSeeOther, s.loginPath())
}

func (s *Service) signedIn(c echo.Context) (pageData, bool) {
	ck, err := c.Request().Cookie(s.cfg.Cookie.Name)
	if err != nil || ck.Value == "" {
		return pageData{}, false
	}
	cl, err := s.cfg.Tokens.Parse(ck.Value)
	if err != nil {
		return pageData{}, false
	}
	live, err := s.cfg.Store.SessionLive(c.Request().Context(), cl.ID, cl.Subject)
	if err != nil || !live {
		return pageData{}, false
	}
	return pageData{
		User: cl.Subject, Email: cl.Email, Name: cl.Name, Groups: cl.Groups,
		Expires: cl.ExpiresAt.Time, RD: s.safeRD(c.QueryParam("rd")),
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
