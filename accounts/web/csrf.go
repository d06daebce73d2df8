package web

import (
	"github.com/authgate/authgate/verify/redirect"
	"net/http"
	"net/url"
	"strings"

	"github.com/authgate/authgate/accounts"
)

// requireSameSite refuses a state-changing request from another site. Every
// request the session cookie authenticates goes through it, whatever its
// content type: the cookie is sent with a cross-site post of any kind.
func (h *Handler) requireSameSite(r *http.Request, what string) error {
	if h.sameSite(r) {
		return nil
	}
	return accounts.Errorf(accounts.Forbidden, "This %s was sent from another site and was refused.", what)
}

// requireSameOrigin is requireSameSite for what only the gate's own pages
// may ask (the admin's writes, a password change, a second factor): a
// sibling subdomain under the cookie domain, which the sign-in form
// accepts, is refused here, so a script injected into any protected
// application cannot act as the admin who visits it.
func (h *Handler) requireSameOrigin(r *http.Request, what string) error {
	if h.sameOrigin(r) {
		return nil
	}
	return accounts.Errorf(accounts.Forbidden, "This %s was sent from another site and was refused.", what)
}

func (h *Handler) sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin":
		return true
	case "cross-site", "same-site":
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser
	}
	u, err := url.Parse(origin)
	if err != nil || origin == "null" || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if l, err := url.Parse(h.cfg.LoginURL); err == nil && h.cfg.LoginURL != "" {
		return strings.EqualFold(l.Host, u.Host) && strings.EqualFold(l.Scheme, u.Scheme)
	}
	return false
}

// sameSite decides whether a form post comes from a page we trust. Browsers
// send Origin on every POST and Sec-Fetch-Site on all modern versions; a
// post from another site (login CSRF, logout CSRF) is refused. A request
// with neither header is not from a browser form and is let through.
func (h *Handler) sameSite(r *http.Request) bool {
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
	if h.cfg.LoginURL != "" {
		if l, err := url.Parse(h.cfg.LoginURL); err == nil && strings.EqualFold(l.Host, u.Host) {
			return true
		}
	}
	_, ok := redirect.Safe(origin+"/", h.cfg.Domains)
	return ok
}
