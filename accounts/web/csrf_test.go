package web

import (
	"net/http"
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

// TestLogoutRefusesCrossSiteWhateverTheBody: the cookie rides along with a
// cross-site post of any content type, and text/plain or multipart posts
// need no preflight, so the same-origin check cannot depend on the body
// being a form. Before, `Content-Type: text/plain` from evil.com ended the
// session (204). A bearer token never travels by itself, so it needs no
// check.
func TestLogoutRefusesCrossSiteWhateverTheBody(t *testing.T) {
	f := newFixture(t, nil)
	f.register(t, "alice", "correct horse battery")
	cross := map[string]string{"Origin": "https://evil.com", "Sec-Fetch-Site": "cross-site"}
	for _, ct := range []string{"text/plain", "multipart/form-data; boundary=x", "application/json", "", "application/x-www-form-urlencoded"} {
		t.Run(ct, func(t *testing.T) {
			tok := f.login(t, "alice", "correct horse battery")
			hdr := map[string]string{"Cookie": "authgate_session=" + tok}
			for k, v := range cross {
				hdr[k] = v
			}
			w := f.do("POST", "/logout", ct, "x=y", hdr)
			if w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
				t.Fatalf("cross-site logout with %q: %d, cookies %v", ct, w.Code, w.Result().Cookies())
			}
			if !f.live(t, tok) {
				t.Fatal("the session ended")
			}
			delete(hdr, "Origin")
			hdr["Sec-Fetch-Site"] = "same-origin"
			if w := f.do("POST", "/logout", ct, "x=y", hdr); w.Code/100 != 2 && w.Code != http.StatusSeeOther {
				t.Fatalf("same-origin logout with %q: %d", ct, w.Code)
			}
			if f.live(t, tok) {
				t.Fatal("same-origin logout left the session live")
			}
		})
	}
	tok := f.login(t, "alice", "correct horse battery")
	hdr := map[string]string{"Authorization": "Bearer " + tok}
	for k, v := range cross {
		hdr[k] = v
	}
	if w := f.do("POST", "/logout", "text/plain", "", hdr); w.Code != http.StatusNoContent || f.live(t, tok) {
		t.Fatalf("bearer logout: %d", w.Code)
	}
}
