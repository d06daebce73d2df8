package web

import (
	"bytes"
	"encoding/base64"
	"html/template"
	"image/png"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/verify"
)

// The second factor's endpoints: POST /totp/setup, /totp/confirm and
// /totp/disable, each for a signed-in user (bearer token or session
// cookie), each answering JSON to JSON and pages to the signed-in page's
// forms.

var errSignInFirst = accounts.Errorf(accounts.Unauthorized, "sign in first")

// totpCaller is the signed-in user behind a /totp request, and whether it
// came from a form. A cookie is sent with a post from any site, so a
// request it authenticates must come from our own pages.
func (h *Handler) totpCaller(c echo.Context) (verify.SignedIn, bool, error) {
	r := c.Request()
	form := mediaType(r) == ctForm
	if !form && mediaType(r) != ctJSON {
		return verify.SignedIn{}, false, accounts.Errorf(accounts.Unsupported, "send application/json or a form")
	}
	si, ok := h.cfg.Sessions.SignedIn(r)
	if !ok {
		return verify.SignedIn{}, form, errSignInFirst
	}
	if _, bearer := verify.BearerToken(r.Header); !bearer {
		if err := h.requireSameOrigin(r, "two-factor form"); err != nil {
			return verify.SignedIn{}, form, err
		}
	}
	return si, form, nil
}

// totpFormError shows err on the page it belongs to: the sign-in page
// when the caller is not signed in, else the signed-in page.
func (h *Handler) totpFormError(c echo.Context, si verify.SignedIn, err error, rd string) error {
	if si.User == "" {
		return h.pageError(c, pageData{RD: h.safeRD(rd)}, err, sentence)
	}
	d := h.homeData(c, si)
	d.RD = h.safeRD(rd)
	return h.pageError(c, d, err, sentence)
}

// TOTPSetup handles POST /totp/setup: {"password"} → {"secret",
// "otpauth_url"}; from the page, the set-up page with the QR code.
func (h *Handler) TOTPSetup(c echo.Context) error {
	si, form, err := h.totpCaller(c)
	var pw, rd string
	if err == nil {
		if form {
			get, ferr := readForm(c.Request())
			pw, rd, err = get("password"), get("rd"), ferr
		} else {
			err = decodeObject(c.Request().Body, map[string]*string{"password": &pw})
		}
	}
	var secret, keyURL string
	if err == nil {
		secret, keyURL, err = h.svc.BeginTOTP(c.Request().Context(), c.RealIP(), si.User, pw, si.Session)
	}
	if err != nil {
		if form {
			return h.totpFormError(c, si, err, rd)
		}
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if !form {
		return c.JSON(http.StatusOK, map[string]string{"secret": secret, "otpauth_url": keyURL})
	}
	return h.setupPage(c, http.StatusOK, si, secret, keyURL, rd, "")
}

// setupPage shows the QR code (drawn here, shown as a data: image: the
// page makes no request to another host), the secret for manual entry,
// and the form for the first code.
func (h *Handler) setupPage(c echo.Context, status int, si verify.SignedIn, secret, keyURL, rd, msg string) error {
	qr, err := qrDataURL(keyURL)
	if err != nil {
		return err
	}
	return h.pages.render(c, status, pageData{
		Page: "totp-setup", User: si.User, RD: h.safeRD(rd), Error: msg,
		QR: template.URL(qr), Secret: groupsOf4(secret), OTPAuthURL: keyURL,
	})
}

// TOTPConfirm handles POST /totp/confirm: {"code"} → {"recovery_codes"};
// from the page, the recovery codes, and a session that now counts the
// second factor.
func (h *Handler) TOTPConfirm(c echo.Context) error {
	si, form, err := h.totpCaller(c)
	var code, rd string
	if err == nil {
		if form {
			get, ferr := readForm(c.Request())
			code, rd, err = strings.TrimSpace(get("code")), get("rd"), ferr
		} else {
			err = decodeObject(c.Request().Body, map[string]*string{"code": &code})
		}
	}
	var codes []string
	if err == nil {
		codes, err = h.svc.ConfirmTOTP(c.Request().Context(), c.RealIP(), si.User, code, si.Session)
	}
	if err != nil {
		if form && accounts.ErrorCode(err) == accounts.Invalid {
			// A wrong first code: the same secret, once more.
			secret, keyURL, perr := h.svc.PendingTOTP(c.Request().Context(), si.User, si.Session)
			if perr == nil {
				status, msg := Status(err)
				return h.setupPage(c, status, si, secret, keyURL, rd, sentence(msg)+" Enter the code your app shows now.")
			}
		}
		if form {
			return h.totpFormError(c, si, err, rd)
		}
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if !form {
		return c.JSON(http.StatusOK, map[string][]string{"recovery_codes": codes})
	}
	// The page's user just proved the password (at set-up) and a code:
	// their session is replaced by one that says so, so a location that
	// requires a second factor lets them through without signing in again.
	ctx := c.Request().Context()
	if u, err := h.svc.Account(ctx, si.User); err == nil {
		token, expires, err := h.svc.StartSession(ctx, u, []string{verify.MethodPassword, verify.MethodOTP})
		if err == nil {
			_ = h.svc.EndSession(ctx, h.cookie(c.Request()))
			c.SetCookie(h.sessionCookie(token, expires))
		}
	}
	return h.pages.render(c, http.StatusOK, pageData{Page: "totp-codes", User: si.User, RecoveryCodes: codes, RD: h.safeRD(rd)})
}

// TOTPDisable handles POST /totp/disable: {"password", "code"} → 204;
// from the page, back to the signed-in page. Every other session of the
// user ends.
func (h *Handler) TOTPDisable(c echo.Context) error {
	si, form, err := h.totpCaller(c)
	var pw, code, rd string
	if err == nil {
		if form {
			get, ferr := readForm(c.Request())
			pw, code, rd, err = get("password"), strings.TrimSpace(get("code")), get("rd"), ferr
		} else {
			err = decodeObject(c.Request().Body, map[string]*string{"password": &pw, "code": &code})
		}
	}
	if err == nil {
		err = h.svc.DisableTOTP(c.Request().Context(), c.RealIP(), si.User, pw, code, si.Session)
	}
	if err != nil {
		if form {
			return h.totpFormError(c, si, err, rd)
		}
		return err
	}
	if !form {
		return c.NoContent(http.StatusNoContent)
	}
	// The page's session said "signed in with a code"; with TOTP off it is
	// replaced by one that says password, so no site that requires a
	// second factor goes on taking it.
	ctx := c.Request().Context()
	if u, err := h.svc.Account(ctx, si.User); err == nil {
		if token, expires, err := h.svc.StartSession(ctx, u, []string{verify.MethodPassword}); err == nil {
			_ = h.svc.EndSession(ctx, h.cookie(c.Request()))
			c.SetCookie(h.sessionCookie(token, expires))
		}
	}
	target := "/"
	if rd := h.safeRD(rd); rd != "" {
		target = "/?rd=" + url.QueryEscape(rd)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// codeStep is the sign-in page's second step for u, whose password was
// right: a code (or a recovery code) with a sealed challenge.
func (h *Handler) codeStep(c echo.Context, u accounts.User, page pageData) error {
	ch, err := h.svc.Challenge(u)
	if err != nil {
		return err
	}
	page.Challenge = ch
	c.Response().Header().Set("Cache-Control", "no-store")
	return h.pages.render(c, http.StatusOK, page)
}

// qrDataURL draws the otpauth:// URL as a PNG QR code in a data: URL.
func qrDataURL(keyURL string) (string, error) {
	k, err := otp.NewKeyFromURL(keyURL)
	if err != nil {
		return "", err
	}
	img, err := k.Image(240, 240)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// groupsOf4 splits a base32 secret for reading aloud or typing.
func groupsOf4(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}
