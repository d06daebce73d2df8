package web

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
)

// TestPages: page text is escaped, pages carry CSP, X-Frame-Options and
// no-store, and a disallowed rd never reaches the form. No public advisory
// cited; the classes are XSS, clickjacking and open redirect.
func TestPages(t *testing.T) {
	f := newFixture(t, func(_ *accounts.Config, c *Config) { c.Title = "Acme <SSO>" })
	f.register(t, "alice", "correct horse battery")
	w := f.do("GET", "/login?rd=https%3A%2F%2Fapp.example.com%2Fx", "", "", nil)
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, `autocomplete="current-password"`) || !strings.Contains(body, `value="https://app.example.com/x"`) {
		t.Fatalf("login page: %d %s", w.Code, body)
	}
	if !strings.Contains(body, "Acme &lt;SSO&gt;") {
		t.Fatal("title not escaped")
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "Cache-Control"} {
		if w.Header().Get(h) == "" {
			t.Errorf("%s missing", h)
		}
	}
	if strings.Contains(f.do("GET", "/login?rd=https%3A%2F%2Fevil.com", "", "", nil).Body.String(), "evil.com") {
		t.Fatal("disallowed rd carried into the form")
	}
	lw := f.do("POST", "/login", "application/json", `{"username":"alice","password":"correct horse battery"}`, nil)
	var resp tokenResponse
	_ = json.Unmarshal(lw.Body.Bytes(), &resp)
	w = f.do("GET", "/", "", "", map[string]string{"Cookie": "authgate_session=" + resp.AccessToken})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Signed in as") || !strings.Contains(w.Body.String(), "alice") {
		t.Fatalf("home: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", "/", "", "", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("home without session: %d", w.Code)
	}
}

func TestLoginPageShowsSignupOnlyWhenOpen(t *testing.T) {
	open := newFixture(t, nil).do("GET", "/login", "", "", nil).Body.String()
	if !strings.Contains(open, `action="/register"`) || !strings.Contains(open, `autocomplete="new-password"`) {
		t.Fatal("open registration: no sign-up form")
	}
	closed := newFixture(t, func(c *accounts.Config, _ *Config) { c.Registration = false }).do("GET", "/login", "", "", nil).Body.String()
	if strings.Contains(closed, `action="/register"`) {
		t.Fatal("closed registration: sign-up form shown")
	}
	for _, attr := range []string{`for="username"`, `for="password"`, `autocomplete="username"`, `autocomplete="current-password"`, `lang="en"`, `name="viewport"`} {
		if !strings.Contains(closed, attr) {
			t.Errorf("login page lacks %s", attr)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour:                  "24 h",
		3*time.Hour + 5*time.Minute:     "3 h 5 min",
		12*time.Minute + 10*time.Second: "12 min",
		20 * time.Second:                "less than a minute",
		-time.Hour:                      "less than a minute",
		23*time.Hour + 59*time.Minute + 50*time.Second: "24 h",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestAssets: /assets/ serves the embedded files a page links to, by exact
// name, with the pages' security headers; a directory, a path that climbs
// out of assets/ and a template are not served. No public advisory cited;
// the classes are path traversal and disclosure of server files.
func TestAssets(t *testing.T) {
	f := newFixture(t, nil)
	for _, target := range []string{"/assets/", "/assets/../templates/login.html", "/assets/login.html"} {
		w := f.do("GET", target, "", "", nil)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", target, w.Code)
		}
		if strings.Contains(w.Body.String(), "<form") {
			t.Errorf("GET %s: a template was served", target)
		}
	}
	w := f.do("GET", "/assets/style.css", "", "", nil)
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/css") || w.Body.Len() == 0 {
		t.Fatalf("style.css: %d %q, %d bytes", w.Code, w.Header().Get("Content-Type"), w.Body.Len())
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("style.css Content-Security-Policy %q", csp)
	}
	if got := w.Header().Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("style.css X-Frame-Options %q, want DENY", got)
	}
}

// TestPageAssetsAreServed: every /assets/ file the pages link to is
// served, so the pages are styled.
func TestPageAssetsAreServed(t *testing.T) {
	f := newFixture(t, nil)
	f.register(t, "alice", "correct horse battery")
	lw := f.do("POST", "/login", "application/json", `{"username":"alice","password":"correct horse battery"}`, nil)
	var resp tokenResponse
	_ = json.Unmarshal(lw.Body.Bytes(), &resp)
	link := regexp.MustCompile(`(?:href|src)="(/assets/[^"]*)"`)
	for _, page := range []struct{ name, target, cookie string }{
		{"login page", "/login", ""},
		{"signed-in page", "/", "authgate_session=" + resp.AccessToken},
	} {
		w := f.do("GET", page.target, "", "", map[string]string{"Cookie": page.cookie})
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d", page.name, w.Code)
		}
		links := link.FindAllStringSubmatch(w.Body.String(), -1)
		if len(links) == 0 {
			t.Fatalf("%s links no asset", page.name)
		}
		for _, m := range links {
			if a := f.do("GET", m[1], "", "", nil); a.Code != http.StatusOK {
				t.Errorf("%s links %s, which is %d", page.name, m[1], a.Code)
			}
		}
	}
}
