package admin

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/memstore"
	"github.com/authgate/authgate/accounts/password"
	"github.com/authgate/authgate/accounts/web"
	"github.com/authgate/authgate/verify"
	"github.com/authgate/authgate/verify/redirect"
)

// fixture is the gate's account routes with the admin mounted as
// cmd/authgate mounts it, on a memory store.
type fixture struct {
	svc    *accounts.Service
	store  *memstore.Store
	tokens *verify.Tokens
	e      *echo.Echo
	h      *web.Handler
}

// testHasher hashes cheaply, in the production format.
func testHasher(tb testing.TB) *password.Hasher {
	tb.Helper()
	h, err := password.New(password.Params{MemoryKiB: 64, Time: 1, Threads: 1}, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func newFixture(tb testing.TB, mod func(*accounts.Config, *web.Config)) *fixture {
	tb.Helper()
	tokens, err := verify.NewTokens("authgate", verify.Secret("k7Vq3xZ9pL2mN8rT4wY6bC1dF5gH0jS9"), nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	store := memstore.New(nil)
	acfg := accounts.Config{Store: store, Tokens: tokens, Hasher: testHasher(tb), SessionTTL: time.Hour, Registration: true}
	wcfg := web.Config{
		Cookie:   web.Cookie{Name: "authgate_session", Domain: "example.com", Secure: true},
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
	wcfg.Sessions = verify.New(verify.Config{Tokens: tokens, Sessions: store, CookieName: wcfg.Cookie.Name, LoginURL: wcfg.LoginURL, Domains: wcfg.Domains})
	h, err := web.New(wcfg)
	if err != nil {
		tb.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = web.ErrorHandler(slog.New(slog.DiscardHandler))
	e.POST("/register", h.Register)
	e.POST("/login", h.Login)
	e.GET("/login", h.LoginPage)
	e.GET("/", h.Home)
	e.POST("/account/password", h.ChangePassword)
	e.POST("/totp/setup", h.TOTPSetup)
	Routes(h, e.Group("/admin"))
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
	if w := f.do("POST", "/register", "application/json", `{"username":"`+user+`","password":"`+pw+`"}`, nil); w.Code != http.StatusCreated {
		tb.Fatalf("register %s: %d %s", user, w.Code, w.Body)
	}
}

func (f *fixture) login(tb testing.TB, user, pw string) string {
	tb.Helper()
	w := f.do("POST", "/login", "application/json", `{"username":"`+user+`","password":"`+pw+`"}`, nil)
	var resp struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.AccessToken == "" {
		tb.Fatalf("login %s: %d %s", user, w.Code, w.Body)
	}
	return resp.AccessToken
}

func bearer(tok string) map[string]string {
	if tok == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + tok}
}

func errorOf(tb testing.TB, w *httptest.ResponseRecorder) string {
	tb.Helper()
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		tb.Fatalf("body %q is not a JSON error: %v", w.Body, err)
	}
	return body["error"]
}
