package web

import (
	"bytes"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/verify"
)

// What the gate's other pages (accounts/web/admin) share with these: the
// account service, the signed-in check, the pages' templates and headers,
// the same-origin rule and the body readers. One set of each.

// Service is the account service the handlers serve.
func (h *Handler) Service() *accounts.Service { return h.svc }

// Logger is where the handlers log.
func (h *Handler) Logger() *slog.Logger { return h.log }

// AdminGroup is the group whose members administer the gate ("": none).
func (h *Handler) AdminGroup() string { return h.cfg.AdminGroup }

// LoginURL is the public login URL ("" when not configured).
func (h *Handler) LoginURL() string { return h.cfg.LoginURL }

// LoginPath is where a visitor signs in, relative to the gate or absolute.
func (h *Handler) LoginPath() string { return h.loginPath() }

// SignedIn is the live session a request carries (bearer, else cookie).
func (h *Handler) SignedIn(r *http.Request) (verify.SignedIn, bool) {
	return h.cfg.Sessions.SignedIn(r)
}

// RequireSameOrigin refuses a write the cookie authenticates unless it
// comes from the gate's own origin.
func (h *Handler) RequireSameOrigin(r *http.Request, what string) error {
	return h.requireSameOrigin(r, what)
}

// Brand is the title and logo every page shows.
func (h *Handler) Brand() (title, logo string) { return h.pages.title, h.pages.logo }

// RenderTemplate answers with the embedded template name run on data, with
// the pages' security headers and no caching.
func (h *Handler) RenderTemplate(c echo.Context, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := h.pages.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	hdr := c.Response().Header()
	h.pages.securityHeaders(hdr)
	hdr.Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// ReadForm parses a urlencoded body (never the query).
func ReadForm(r *http.Request) (func(string) string, error) { return readForm(r) }

// IsForm and IsJSON tell the two content types the endpoints read.
func IsForm(r *http.Request) bool { return mediaType(r) == ctForm }
func IsJSON(r *http.Request) bool { return mediaType(r) == ctJSON }

// BodyError classifies a failure to read a body (413, or 400).
func BodyError(err error) error { return bodyError(err) }

// Sentence capitalises a message and ends it with a full stop.
func Sentence(s string) string { return sentence(s) }

// Errors the handlers share.
var (
	ErrNotObject   = errNotObject
	ErrSignInFirst = errSignInFirst
)
