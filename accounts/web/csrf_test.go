package web

import (
	"net/url"
	"testing"
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
