package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromiumBinary finds Debian's chromium ($AUTHGATE_TEST_CHROMIUM first).
func chromiumBinary(tb testing.TB) string {
	tb.Helper()
	candidates := []string{os.Getenv("AUTHGATE_TEST_CHROMIUM")}
	if candidates[0] == "" {
		candidates = nil
		for _, name := range []string{"chromium", "chromium-browser"} {
			if p, err := exec.LookPath(name); err == nil {
				candidates = append(candidates, p)
			}
		}
		candidates = append(candidates, "/usr/bin/chromium")
	}
	bin, err := executable(candidates...)
	if err != nil {
		tb.Fatalf("chromium is needed for the browser test and was not found (%v). "+
			"Run `make test`: its test-deps step installs it (apt-get install chromium), or set AUTHGATE_TEST_CHROMIUM.", err)
	}
	return bin
}

// TestBrowserLogin drives headless Chromium through the shipped nginx
// config: the whole sign-in flow a person meets, on two applications under
// the cookie domain. Screenshots of the two pages go to the test's artifact
// directory (go test -artifacts keeps them; -v prints where).
func TestBrowserLogin(t *testing.T) {
	t.Parallel()
	n := startNginx(t, nil,
		// A second application on another subdomain of the cookie domain.
		replacement{"server_name app.example.com;", "server_name app.example.com wiki.example.com;"})
	port := n.httpsPort
	app := fmt.Sprintf("https://app.example.com:%d", port)
	wiki := fmt.Sprintf("https://wiki.example.com:%d", port)
	auth := fmt.Sprintf("https://auth.example.com:%d", port)

	ctx, requests := startBrowser(t)

	protected := app + "/reports?q=1&sort=desc"
	loginHost := fmt.Sprintf("auth.example.com:%d", port)
	username, password := chromedp.ID("username"), chromedp.ID("password")

	t.Log("1. a protected URL lands on the login page, carrying rd")
	do(t, ctx, "open the protected page", chromedp.Navigate(protected), chromedp.WaitVisible(username))
	loc := get(t, ctx, chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil || u.Host != loginHost || u.Path != "/login" || u.Query().Get("rd") != protected {
		t.Fatalf("landed on %q, want the login page with rd=%s", loc, protected)
	}
	if title := get(t, ctx, chromedp.Title()); title != "Sign in · authgate" {
		t.Errorf("login page title %q", title)
	}
	screenshot(t, ctx, "login.png")

	t.Log("2. a wrong password shows an error and stays on the login page")
	do(t, ctx, "sign in with a wrong password",
		chromedp.SendKeys(username, alice.name),
		chromedp.SendKeys(password, "not-the-password-1"),
		chromedp.Submit(password),
		chromedp.WaitVisible(chromedp.ID("form-error")))
	if text := get(t, ctx, chromedp.Text(chromedp.ID("form-error"))); !strings.Contains(strings.ToLower(text), "invalid username or password") {
		t.Fatalf("error shown: %q", text)
	}
	loc = get(t, ctx, chromedp.Location())
	if u, _ := url.Parse(loc); u == nil || u.Host != loginHost || u.Path != "/login" {
		t.Fatalf("after a wrong password the browser is at %q", loc)
	}
	screenshot(t, ctx, "login-error.png")

	t.Log("3. the right password returns to the protected URL; the app sees Remote-User")
	if v := get(t, ctx, chromedp.Value(username)); v != alice.name {
		t.Fatalf("the username field was not kept after the error: %q", v)
	}
	do(t, ctx, "sign in",
		chromedp.SendKeys(password, alice.password),
		chromedp.Submit(password))
	waitLocation(t, ctx, protected)
	wantUpstreamUser(t, get(t, ctx, chromedp.Text(chromedp.CSS("body"))), "app.example.com", alice.name)

	t.Log("4. another application under the cookie domain opens without signing in again")
	do(t, ctx, "open the second application", chromedp.Navigate(wiki+"/pages/home"))
	waitLocation(t, ctx, wiki+"/pages/home")
	wantUpstreamUser(t, get(t, ctx, chromedp.Text(chromedp.CSS("body"))), "wiki.example.com", alice.name)

	t.Log("the signed-in page shows who, the groups and when the session ends")
	do(t, ctx, "open the signed-in page", chromedp.Navigate(auth+"/"), chromedp.WaitVisible(chromedp.CSS(".who")))
	text := get(t, ctx, chromedp.Text(chromedp.CSS("main")))
	for _, want := range []string{"Signed in as " + alice.name, "admins, staff", "Session ends"} {
		if !strings.Contains(text, want) {
			t.Errorf("signed-in page lacks %q:\n%s", want, text)
		}
	}
	screenshot(t, ctx, "signed-in.png")

	t.Log("5. signing out sends the protected URL back to the login page")
	do(t, ctx, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(username))
	loc = get(t, ctx, chromedp.Location())
	if u, _ := url.Parse(loc); u == nil || u.Host != loginHost || u.Path != "/login" {
		t.Fatalf("after sign-out the browser is at %q", loc)
	}
	do(t, ctx, "open the protected page again", chromedp.Navigate(protected), chromedp.WaitVisible(username))
	loc = get(t, ctx, chromedp.Location())
	if u, _ := url.Parse(loc); u == nil || u.Path != "/login" || u.Query().Get("rd") != protected {
		t.Fatalf("after sign-out the protected page led to %q, want the login page", loc)
	}

	wantLocalRequests(t, requests(), 5, port)
}

// startBrowser starts headless Chromium for one test, resolving every
// *.example.com to loopback, and records every request its pages make.
// The context it returns times out after 90 s.
func startBrowser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumBinary(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("host-resolver-rules", "MAP *.example.com 127.0.0.1, EXCLUDE localhost"),
		// The test's own CA; a real deployment has a real certificate.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1100, 760),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)

	// Every request the pages make, to prove none leaves the test hosts.
	// (Listen starts the browser; its context must carry no timeout.)
	var mu sync.Mutex
	var requested []string
	if err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(requested)
	}
}

// wantLocalRequests fails the test when a page requested anything but the
// test hosts on port (data: URLs, drawn into the page, are no request to
// anyone), or when fewer than min requests were seen at all.
func wantLocalRequests(t *testing.T, requested []string, min, port int) {
	t.Helper()
	if len(requested) < min {
		t.Fatalf("only %d requests recorded; the network listener is not working", len(requested))
	}
	for _, r := range requested {
		u, err := url.Parse(r)
		if err == nil && u.Scheme == "data" {
			continue
		}
		if err != nil || !strings.HasSuffix(u.Hostname(), ".example.com") || u.Port() != fmt.Sprint(port) {
			t.Errorf("the pages made a request outside the test hosts: %s", r)
		}
	}
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s: %v (browser at %q)", what, err, loc)
	}
}

func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitLocation waits for a navigation a form submission started.
func waitLocation(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	eventually(t, 5*time.Second, "the browser at "+want, func() error {
		if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != want {
			return fmt.Errorf("the browser is at %q, want %q", loc, want)
		}
		return nil
	})
	if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
		t.Fatal(err)
	}
}

// wantUpstreamUser checks the echo upstream's answer shown in the page.
func wantUpstreamUser(t *testing.T, body, host, user string) {
	t.Helper()
	var seen seenRequest
	if err := json.Unmarshal([]byte(body), &seen); err != nil {
		t.Fatalf("the page is not the application's answer: %v\n%s", err, body)
	}
	if seen.Host != host || seen.Header.Get("Remote-User") != user {
		t.Fatalf("the application on %s saw Host %q and Remote-User %q, want %s and %s", host, seen.Host, seen.Header.Get("Remote-User"), host, user)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
