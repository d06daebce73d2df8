package accounts

import (
	"net/url"
	"testing"
	"time"
)

// TestFormPostsAsBrowsersSendThem: the headers of real form posts, as
// Chromium sends them, decide the CSRF check. Sec-Fetch-Site is set by the
// browser alone, so same-origin is trusted even with Origin "null" (what a
// no-referrer policy produces); a cross-site post is refused whatever its
// Origin says.
func TestFormPostsAsBrowsersSendThem(t *testing.T) {
	f := newFixture(t, nil)
	f.register(t, "alice", "correct horse battery")
	body := url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "rd": {"/x"}}.Encode()
	cases := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"own page, null origin", map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}, 303},
		{"own page, full origin", map[string]string{"Origin": "https://auth.example.com", "Sec-Fetch-Site": "same-origin"}, 303},
		{"sibling app under the cookie domain", map[string]string{"Origin": "https://app.example.com", "Sec-Fetch-Site": "same-site"}, 303},
		{"sibling with null origin", map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-site"}, 403},
		{"other site claiming our origin", map[string]string{"Origin": "https://auth.example.com", "Sec-Fetch-Site": "cross-site"}, 403},
		{"sandboxed frame", map[string]string{"Origin": "null", "Sec-Fetch-Site": "cross-site"}, 403},
		{"old browser, null origin", map[string]string{"Origin": "null"}, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do("POST", "/login", "application/x-www-form-urlencoded", body, tc.hdr)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
		})
	}
	w := f.do("GET", "/login", "", "", nil)
	if got := w.Header().Get("Referrer-Policy"); got != "same-origin" {
		t.Fatalf("login page Referrer-Policy %q, want same-origin (no-referrer makes its own posts Origin: null)", got)
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

// TestLogoutRedirectOnlyToAllowedHosts: the return-to address after sign-out
// goes through the same check as after sign-in (Authelia
// GHSA-36f2-fcrx-fp4j / CVE-2021-29456 was an open redirect on logout).
func TestLogoutRedirectOnlyToAllowedHosts(t *testing.T) {
	f := newFixture(t, nil)
	f.register(t, "alice", "correct horse battery")
	cases := []struct{ rd, want string }{
		{"https://app.example.com/bye", "https://app.example.com/bye"},
		{"https://evil.com/", "https://auth.example.com/login"},
		{"//evil.com/", "https://auth.example.com/login"},
		{"https://example.com.evil.com/", "https://auth.example.com/login"},
		{"/\\evil.com", "https://auth.example.com/login"},
		{"javascript:alert(1)", "https://auth.example.com/login"},
	}
	for _, tc := range cases {
		t.Run(tc.rd, func(t *testing.T) {
			w := f.do("POST", "/logout", "application/x-www-form-urlencoded", url.Values{"rd": {tc.rd}}.Encode(), nil)
			if w.Code != 303 || w.Header().Get("Location") != tc.want {
				t.Fatalf("logout with rd %q: %d Location %q, want %q", tc.rd, w.Code, w.Header().Get("Location"), tc.want)
			}
		})
	}
}
