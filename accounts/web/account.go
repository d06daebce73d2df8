package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/verify"
)

// A person's own account without email: changing the password while
// signed in, and setting one through a reset link an administrator made.

// ChangePassword handles POST /account/password: JSON
// {"current_password","new_password"} → 204, or the signed-in page's form
// (303 back to it). Every other session of the user ends.
func (h *Handler) ChangePassword(c echo.Context) error {
	r := c.Request()
	form := mediaType(r) == ctForm
	if !form && mediaType(r) != ctJSON {
		return accounts.Errorf(accounts.Unsupported, "send application/json or a form")
	}
	si, ok := h.cfg.Sessions.SignedIn(r)
	var current, next string
	var err error
	switch {
	case !ok:
		err = errSignInFirst
	default:
		if _, bearer := verify.BearerToken(r.Header); !bearer {
			err = h.requireSameOrigin(r, "password form")
		}
	}
	if err == nil {
		if form {
			get, ferr := readForm(r)
			if ferr == nil {
				current, next = get("current_password"), get("new_password")
			}
			err = ferr
		} else {
			err = decodeObject(r.Body, map[string]*string{"current_password": &current, "new_password": &next})
		}
	}
	if err == nil {
		err = h.svc.ChangePassword(r.Context(), c.RealIP(), si.User, current, next, si.Session)
	}
	if err != nil {
		if form {
			return h.totpFormError(c, si, err, "")
		}
		return err
	}
	if !form {
		return c.NoContent(http.StatusNoContent)
	}
	// 303, so a refresh does not post the old password again (and count
	// as a failed attempt).
	return c.Redirect(http.StatusSeeOther, "/?done=password")
}

// ResetPage handles GET /reset?token=: the form for a new password.
func (h *Handler) ResetPage(c echo.Context) error {
	token := c.QueryParam("token")
	d := pageData{Page: "reset", Token: token}
	if token == "" {
		d.Error = "This reset link is incomplete. Ask for a new one."
		return h.pages.render(c, http.StatusBadRequest, d)
	}
	return h.pages.render(c, http.StatusOK, d)
}

// Reset handles POST /reset: JSON {"token","password"} → 204, or the reset
// page's form (a page that says it worked, or why not).
func (h *Handler) Reset(c echo.Context) error {
	r := c.Request()
	var token, pw string
	form := mediaType(r) == ctForm
	switch {
	case form:
		get, err := readForm(r)
		if err != nil {
			return err
		}
		token, pw = get("token"), get("password")
		// The token is the credential here, and it travels in the body:
		// a cross-site form could only spend a link it already holds.
		if err := h.requireSameSite(r, "reset form"); err != nil {
			return h.pageError(c, pageData{Page: "reset", Token: token}, err, nil)
		}
	case mediaType(r) == ctJSON:
		if err := decodeObject(r.Body, map[string]*string{"token": &token, "password": &pw}); err != nil {
			return err
		}
	default:
		return accounts.Errorf(accounts.Unsupported, "send application/json or a form")
	}
	name, err := h.svc.ResetPassword(r.Context(), token, pw)
	if err != nil {
		if form {
			d := pageData{Page: "reset", Token: token}
			if errors.Is(err, accounts.ErrInvalidReset) {
				d.Token = "" // nothing left to retry with
			}
			return h.pageError(c, d, err, sentence)
		}
		return err
	}
	h.log.Info("password set with a reset link", "user", name, "client_ip", c.RealIP())
	if !form {
		return c.NoContent(http.StatusNoContent)
	}
	return h.pages.render(c, http.StatusOK, pageData{Page: "reset", Notice: "Your password is set. Every session of the account has ended: sign in with the new password."})
}
