package web

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/verify"
)

// statuses is the one table from an error's code to the HTTP status. For
// a 4xx the client sees the error's own message, written to be shown; for
// a 5xx it sees only the fixed text here, and the detail goes to the log.
var statuses = [...]struct {
	status int
	msg    string // for 5xx: the only text the client sees
}{
	accounts.Internal:     {http.StatusInternalServerError, "internal error"},
	accounts.Invalid:      {http.StatusBadRequest, ""},
	accounts.Unauthorized: {http.StatusUnauthorized, ""},
	accounts.Forbidden:    {http.StatusForbidden, ""},
	accounts.NotFound:     {http.StatusNotFound, ""},
	accounts.Conflict:     {http.StatusConflict, ""},
	accounts.Locked:       {http.StatusTooManyRequests, ""},
	accounts.TooLarge:     {http.StatusRequestEntityTooLarge, ""},
	accounts.Unsupported:  {http.StatusUnsupportedMediaType, ""},
	accounts.Unavailable:  {http.StatusServiceUnavailable, "accounts are unavailable; try again"},
}

// Status returns the status and the client-safe message for err.
func Status(err error) (int, string) {
	var e *accounts.Error
	if errors.As(err, &e) && int(e.Code) < len(statuses) {
		s := statuses[e.Code]
		switch {
		case s.status >= 500:
			return s.status, s.msg
		case e.Message == "":
			return s.status, http.StatusText(s.status)
		}
		return s.status, e.Message
	}
	// Echo's own errors: no route, wrong method, the body limit.
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code < 500 {
		if he.Code == http.StatusRequestEntityTooLarge {
			return he.Code, msgTooLarge
		}
		return he.Code, http.StatusText(he.Code)
	}
	return statuses[accounts.Internal].status, statuses[accounts.Internal].msg
}

const msgTooLarge = "request body too large"

// retryAfter sets Retry-After when err is a lock.
func retryAfter(c echo.Context, err error) {
	var e *accounts.Error
	if errors.As(err, &e) && e.Code == accounts.Locked {
		c.Response().Header().Set("Retry-After", verify.RetryAfter(e.RetryAfter))
	}
}

// ErrorHandler is Echo's HTTPErrorHandler for the whole gate: every error
// of every route becomes {"error": "..."} here, with its status from the
// table. Client errors are logged at debug, server faults at error; never
// the request's body or credentials.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, msg := Status(err)
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelError
		}
		log.Log(c.Request().Context(), level, "request refused", "method", c.Request().Method, "path", c.Path(), "status", status, "err", err)
		retryAfter(c, err)
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		_ = c.JSON(status, map[string]string{"error": msg})
	}
}
