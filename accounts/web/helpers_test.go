package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"github.com/authgate/authgate/verify/redirect"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/memstore"
	"github.com/authgate/authgate/accounts/mfa"
	"github.com/authgate/authgate/accounts/password"
	"github.com/authgate/authgate/verify"
)

// fastParams keep tests quick; the format and code path are the same.
var fastParams = password.Params{MemoryKiB: 64, Time: 1, Threads: 1}

// fixture is the gate's account endpoints as cmd/authgate wires them: a
// real Service on a memory store, verify's signed-in check, the one error
// table.
type fixture struct {
	svc    *accounts.Service
	store  *memstore.Store
	tokens *verify.Tokens
	e      *echo.Echo
	h      *Handler
}

// newFixture builds the fixture; mod, when set, changes the Service's and
// the Handler's configuration before they are built.
func newFixture(tb testing.TB, mod func(*accounts.Config, *Config)) *fixture {
	tb.Helper()
	return newFixtureAt(tb, nil, mod)
}

// testHasher hashes cheaply, in the production format.
func testHasher(tb testing.TB) *password.Hasher {
	tb.Helper()
	h, err := password.New(fastParams, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// newFixtureAt is newFixture on the clock now (nil: time.Now), shared by
// the Service, the tokens and the store, wired as cmd/authgate wires them
// (second factors sealed, every route of the package).
func newFixtureAt(tb testing.TB, now func() time.Time, mod func(*accounts.Config, *Config)) *fixture {
	tb.Helper()
	tokens, err := verify.NewTokens("authgate", verify.Secret("k7Vq3xZ9pL2mN8rT4wY6bC1dF5gH0jS9"), nil, now)
	if err != nil {
		tb.Fatal(err)
	}
	hasher := testHasher(tb)
	sealer, err := mfa.NewSealer([]byte("a sealing secret for the web tests"))
	if err != nil {
		tb.Fatal(err)
	}
	store := memstore.New(now)
	acfg := accounts.Config{
		Store: store, Tokens: tokens, Hasher: hasher,
		SessionTTL: time.Hour, Registration: true, Sealer: sealer, Now: now,
	}
	wcfg := Config{
		Cookie:   Cookie{Name: "authgate_session", Domain: "example.com", Secure: true},
		LoginURL: "https://auth.example.com/login",
		Domains:  redirect.Domains{"example.com"},
	}
	if mod != nil {
		mod(&acfg, &wcfg)
	}
	svc, err := accounts.New(acfg)
	if err != nil {
		tb.Fatal(err)
	}
	wcfg.Service = svc
	wcfg.Sessions = verify.New(verify.Config{
		Tokens:     tokens,
		Sessions:   store,
		CookieName: wcfg.Cookie.Name,
		LoginURL:   wcfg.LoginURL,
		Domains:    wcfg.Domains,
	})
	h, err := New(wcfg)
	if err != nil {
		tb.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = ErrorHandler(slog.New(slog.DiscardHandler))
	e.POST("/register", h.Register)
	e.POST("/login", h.Login)
	e.GET("/login", h.LoginPage)
	e.POST("/logout", h.Logout)
	e.GET("/", h.Home)
	e.GET("/assets/*", h.Asset)
	e.POST("/totp/setup", h.TOTPSetup)
	e.POST("/totp/confirm", h.TOTPConfirm)
	e.POST("/totp/disable", h.TOTPDisable)
	e.POST("/account/password", h.ChangePassword)
	e.GET("/reset", h.ResetPage)
	e.POST("/reset", h.Reset)
	return &fixture{svc: svc, store: store, tokens: tokens, e: e, h: h}
}

func (f *fixture) do(method, target, ctype, body string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.e.ServeHTTP(w, r)
	return w
}

func (f *fixture) register(tb testing.TB, user, pw string) {
	tb.Helper()
	w := f.do("POST", "/register", "application/json", `{"username":"`+user+`","password":"`+pw+`"}`, nil)
	if w.Code != http.StatusCreated {
		tb.Fatalf("register %s: %d %s", user, w.Code, w.Body)
	}
}

func errorOf(tb testing.TB, w *httptest.ResponseRecorder) string {
	tb.Helper()
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		tb.Fatalf("body %q is not a JSON error: %v", w.Body, err)
	}
	return body["error"]
}

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// login signs in over the JSON API and returns the token.
func (f *fixture) login(tb testing.TB, user, pw string) string {
	tb.Helper()
	w := f.do("POST", "/login", "application/json", `{"username":"`+user+`","password":"`+pw+`"}`, nil)
	var resp tokenResponse
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.AccessToken == "" {
		tb.Fatalf("login %s: %d %s", user, w.Code, w.Body)
	}
	return resp.AccessToken
}

// live reports whether the token's session is live in the store.
func (f *fixture) live(tb testing.TB, tok string) bool {
	tb.Helper()
	id, err := f.tokens.SessionOf(tok)
	if err != nil {
		tb.Fatal(err)
	}
	ok, _ := f.store.SessionLive(context.Background(), id, "alice")
	return ok
}
