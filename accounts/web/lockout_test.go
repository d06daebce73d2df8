package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/regulation"
)

// regulated locks a name after 3 failures.
func regulated(c *accounts.Config, _ *Config) {
	c.Regulation = regulation.Policy{MaxFailures: 3, MaxFailuresPerIP: 50, Window: 10 * time.Minute, BanTime: 15 * time.Minute}
}

// TestLoginLockout: failures are counted per canonical name, so other
// spellings of one account share its lock, and every way in (JSON, Basic,
// the form) answers 429 with Retry-After and sets no cookie. Guards against
// one account being counted under two names, which doubled Authelia's
// attempt budget (GHSA-m5mf-3963-4x26, CVE-2025-24806).
func TestLoginLockout(t *testing.T) {
	f := newFixture(t, regulated)
	f.register(t, "alice", "correct horse battery")
	for i := 0; i < 3; i++ {
		if w := f.do("POST", "/login", "application/json", `{"username":"alice","password":"guess`+strconv.Itoa(i)+`xx"}`, nil); w.Code != 401 {
			t.Fatalf("guess %d: %d", i, w.Code)
		}
	}
	for _, name := range []string{"alice", "ALICE", "ａｌｉｃｅ"} {
		w := f.do("POST", "/login", "application/json", `{"username":"`+name+`","password":"correct horse battery"}`, nil)
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("%s with the right password while locked: %d", name, w.Code)
		}
		ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
		if err != nil || ra < 890 || ra > 900 {
			t.Fatalf("Retry-After = %q", w.Header().Get("Retry-After"))
		}
		if len(w.Result().Cookies()) != 0 {
			t.Fatal("locked login set a cookie")
		}
		if msg := errorOf(t, w); msg != "too many failed attempts; try again in 15 minutes" {
			t.Fatalf("error %q", msg)
		}
	}
	if w := f.do("POST", "/login", "", "", map[string]string{"Authorization": basic("alice", "correct horse battery")}); w.Code != 429 {
		t.Fatalf("basic while locked: %d", w.Code)
	}
	w := f.do("POST", "/login", "application/x-www-form-urlencoded", url.Values{"username": {"alice"}, "password": {"correct horse battery"}}.Encode(), nil)
	if w.Code != 429 || !strings.Contains(w.Body.String(), "too many failed attempts; try again in 15 minutes") || w.Header().Get("Retry-After") == "" {
		t.Fatalf("form while locked: %d %s", w.Code, w.Body)
	}
	for i := 0; i < 3; i++ {
		f.do("POST", "/login", "application/json", `{"username":"nobody","password":"guess guess"}`, nil)
	}
	if w := f.do("POST", "/login", "application/json", `{"username":"nobody","password":"guess guess"}`, nil); w.Code != 429 {
		t.Fatalf("unknown name after failures: %d", w.Code)
	}
}

func TestLoginExpiresIn(t *testing.T) {
	f := newFixture(t, nil)
	f.register(t, "alice", "correct horse battery")
	w := f.do("POST", "/login", "application/json", `{"username":"alice","password":"correct horse battery"}`, nil)
	var resp map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &resp)
	if resp["expires_in"] != float64(3600) {
		t.Fatalf("expires_in = %v", resp["expires_in"])
	}
}
