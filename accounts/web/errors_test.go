package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/verify"
)

// statusCases are errors as the gate meets them and what the client must
// see: a 4xx its own message, a 5xx only the table's fixed text.
var statusCases = []struct {
	name   string
	err    error
	status int
	msg    string
}{
	{"internal", &accounts.Error{Code: accounts.Internal, Message: "record of alice is corrupt", Err: errors.New("bolt: page 7 checksum")}, 500, "internal error"},
	{"invalid", accounts.Errorf(accounts.Invalid, "email is not a valid address"), 400, "email is not a valid address"},
	{"unauthorized", accounts.ErrBadCredentials, 401, "invalid username or password"},
	{"forbidden", accounts.ErrRegistrationClosed, 403, "registration is closed"},
	{"not found", accounts.ErrUserNotFound, 404, "user not found"},
	{"conflict", accounts.ErrUserExists, 409, "username is taken"},
	{"locked", &accounts.Error{Code: accounts.Locked, Message: "too many failed attempts", RetryAfter: time.Minute}, 429, "too many failed attempts"},
	{"too large", accounts.Errorf(accounts.TooLarge, "request body too large"), 413, "request body too large"},
	{"unsupported", accounts.Errorf(accounts.Unsupported, "send application/json"), 415, "send application/json"},
	{"unavailable", &accounts.Error{Code: accounts.Unavailable, Message: "store unavailable at 10.0.0.5", Err: errors.New("dial tcp 10.0.0.5:6379: connection refused")}, 503, "accounts are unavailable; try again"},
	{"wrapped unavailable", fmt.Errorf("x: %w", accounts.ErrUnavailable), 503, "accounts are unavailable; try again"},
	{"wrapped twice", fmt.Errorf("create: %w", fmt.Errorf("%w: %w", accounts.ErrUnavailable, errors.New("i/o timeout"))), 503, "accounts are unavailable; try again"},
	{"wrapped conflict", fmt.Errorf("create alice: %w", accounts.ErrUserExists), 409, "username is taken"},
	{"plain error", errors.New("nil map in handler"), 500, "internal error"},
	{"wrapped plain error", fmt.Errorf("sign in: %w", errors.New("hash: out of memory")), 500, "internal error"},
	{"unknown code", &accounts.Error{Code: 200, Message: "from the future"}, 500, "internal error"},
	{"echo 404", echo.ErrNotFound, 404, "Not Found"},
	{"echo 405", echo.ErrMethodNotAllowed, 405, "Method Not Allowed"},
	{"echo 413", echo.ErrStatusRequestEntityTooLarge, 413, "request body too large"},
	{"echo 500 with detail", echo.NewHTTPError(500, "template login.html: nil pointer"), 500, "internal error"},
}

// details are the words of the cases' log-only detail: no 5xx shows one.
var details = []string{"corrupt", "bolt", "10.0.0.5", "timeout", "nil map", "out of memory", "nil pointer", "future"}

func TestStatus(t *testing.T) {
	covered := map[accounts.Code]bool{}
	for _, tc := range statusCases {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := Status(tc.err)
			if status != tc.status || msg != tc.msg {
				t.Fatalf("Status(%v) = %d %q, want %d %q", tc.err, status, msg, tc.status, tc.msg)
			}
			if status >= 500 {
				for _, d := range details {
					if strings.Contains(msg, d) {
						t.Fatalf("5xx message %q shows detail %q", msg, d)
					}
				}
			}
		})
		var e *accounts.Error
		if errors.As(tc.err, &e) {
			covered[e.Code] = true
		}
	}
	for c := accounts.Internal; c <= accounts.Unavailable; c++ {
		if !covered[c] {
			t.Errorf("code %d has no case", c)
		}
	}
}

// TestErrorHandler: every error becomes {"error": msg} with the table's
// status; a 5xx never carries its detail; a lock says when to come back, in
// the seconds /verify uses; HEAD is answered without a body.
func TestErrorHandler(t *testing.T) {
	handle := ErrorHandler(slog.New(slog.DiscardHandler))
	serve := func(method string, err error) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		handle(err, echo.New().NewContext(httptest.NewRequest(method, "/login", nil), w))
		return w
	}
	for _, tc := range statusCases {
		t.Run(tc.name, func(t *testing.T) {
			w := serve("POST", tc.err)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body) != 1 || body["error"] != tc.msg {
				t.Fatalf("body %q, want {\"error\": %q}", w.Body, tc.msg)
			}
			if tc.status >= 500 {
				for _, detail := range details {
					if strings.Contains(w.Body.String(), detail) {
						t.Fatalf("5xx body %q shows detail %q", w.Body, detail)
					}
				}
			}
			if got := w.Header().Get("Retry-After"); (got != "") != (accounts.ErrorCode(tc.err) == accounts.Locked) {
				t.Fatalf("Retry-After %q on a %d", got, tc.status)
			}
		})
	}

	for _, tc := range []struct {
		wait time.Duration
		want string
	}{
		{time.Minute, "60"},
		{1500 * time.Millisecond, "2"},
		{90*time.Second + time.Nanosecond, "91"},
		{time.Millisecond, "1"},
		{0, "1"},
	} {
		locked := &accounts.Error{Code: accounts.Locked, Message: "too many failed attempts", RetryAfter: tc.wait}
		for _, err := range []error{locked, fmt.Errorf("sign in: %w", locked)} {
			w := serve("POST", err)
			if got := w.Header().Get("Retry-After"); w.Code != 429 || got != tc.want || got != verify.RetryAfter(tc.wait) {
				t.Errorf("lock of %v (%v): %d Retry-After %q, want 429 %q", tc.wait, err, w.Code, got, tc.want)
			}
		}
	}

	w := serve("HEAD", &accounts.Error{Code: accounts.Locked, Message: "too many failed attempts", RetryAfter: 3 * time.Second})
	if w.Code != 429 || w.Body.Len() != 0 || w.Header().Get("Retry-After") != "3" {
		t.Fatalf("HEAD of a lock: %d, body %q, Retry-After %q", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	w = serve("HEAD", errors.New("boom"))
	if w.Code != 500 || w.Body.Len() != 0 {
		t.Fatalf("HEAD of a fault: %d, body %q", w.Code, w.Body)
	}

	// An answer already sent is left alone.
	rec := httptest.NewRecorder()
	c := echo.New().NewContext(httptest.NewRequest("GET", "/", nil), rec)
	_ = c.String(http.StatusOK, "done")
	handle(errors.New("late"), c)
	if rec.Code != 200 || rec.Body.String() != "done" {
		t.Fatalf("committed answer changed: %d %q", rec.Code, rec.Body)
	}
}
