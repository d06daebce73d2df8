package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts/redistest"
)

// TestLockoutAcrossReplicas: with AUTHGATE_STORE=redis://..., failed
// sign-ins are counted in Redis, so AUTHGATE_MAX_FAILURES holds for three
// gate processes together: wrong passwords spread over them lock the name
// on all of them, for POST /login and for Basic credentials on /verify,
// and guesses sent at once are never checked past the limit. With Redis
// down, /login answers 503 and /verify counts Basic attempts in each
// process, never answering 5xx.
func TestLockoutAcrossReplicas(t *testing.T) {
	const maxFailures, banTime = 5, 15 * time.Minute // AUTHGATE_BAN_TIME's default
	srv := redistest.Start(t)
	env := []string{
		"AUTHGATE_SECRET=" + goodSecret, "AUTHGATE_STORE=" + srv.URL(),
		"AUTHGATE_MAX_FAILURES=" + strconv.Itoa(maxFailures), "AUTHGATE_MAX_FAILURES_PER_IP=1000",
		"AUTHGATE_ARGON2_MEMORY=64", "AUTHGATE_ARGON2_TIME=1",
	}
	gates := make([]*gate, 3)
	for i := range gates {
		gates[i] = startGate(t, env...)
		for _, o := range gates[:i] {
			if o.base == gates[i].base {
				t.Fatalf("gates %s share an address", o.base)
			}
		}
		if !strings.Contains(gates[i].Logs(), "failed sign-ins are counted in Redis") {
			t.Fatalf("gate %d does not say its failures are counted in Redis:\n%s", i, gates[i].Logs())
		}
	}

	// locked checks a 429 answer: Retry-After in whole seconds, no longer
	// than the ban and at most 10s less (the time this test has taken
	// since the lock), and a JSON body {"error": "..."}.
	locked := func(t *testing.T, what string, a answer) {
		t.Helper()
		if a.status != http.StatusTooManyRequests {
			t.Fatalf("%s: %d %s, want 429", what, a.status, a.body)
		}
		secs, err := strconv.Atoi(a.retryAfter)
		if err != nil || secs > int(banTime/time.Second) || secs < int(banTime/time.Second)-10 {
			t.Errorf("%s: Retry-After %q, want about %d seconds", what, a.retryAfter, int(banTime/time.Second))
		}
		if msg, err := errorBody(a.body); err != nil {
			t.Errorf("%s: %v", what, err)
		} else {
			t.Logf("%s: 429, Retry-After %s, %q", what, a.retryAfter, msg)
		}
	}

	t.Run("failures over three gates lock the name on each", func(t *testing.T) {
		if code := gates[0].register(t, "alice"); code != http.StatusCreated {
			t.Fatalf("register on gate 0: %d", code)
		}
		for i := range maxFailures {
			a := gates[i%3].try(t, loginAttempt("alice", fmt.Sprintf("wrong password %d", i)))
			if a.err != nil || a.status != http.StatusUnauthorized {
				t.Fatalf("wrong password %d on gate %d: %d %v %s, want 401", i, i%3, a.status, a.err, a.body)
			}
		}
		for i, g := range gates {
			locked(t, fmt.Sprintf("gate %d: POST /login with the right password", i), g.try(t, loginAttempt("alice", pw)))
		}
		for i, g := range gates {
			locked(t, fmt.Sprintf("gate %d: GET /verify with the right Basic credentials", i), g.try(t, basicAttempt("alice", pw)))
		}
	})

	t.Run("guesses sent at once are checked at most MAX_FAILURES times", func(t *testing.T) {
		if code := gates[1].register(t, "bob"); code != http.StatusCreated {
			t.Fatalf("register on gate 1: %d", code)
		}
		const guesses = 50
		right := guesses / 2 // the right password goes out among the guesses
		answers := make([]answer, guesses+1)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range answers {
			password := fmt.Sprintf("wrong password %d", i)
			if i == right {
				password = pw
			}
			at := loginAttempt("bob", password)
			wg.Go(func() {
				<-start
				answers[i] = gates[i%3].try(nil, at)
			})
		}
		close(start)
		wg.Wait()

		counts := map[int]int{}
		for i, a := range answers {
			if a.err != nil {
				t.Fatalf("request %d: %v", i, a.err)
			}
			counts[a.status]++
			switch {
			case a.status == http.StatusTooManyRequests:
				if s, err := strconv.Atoi(a.retryAfter); err != nil || s < 1 {
					t.Errorf("request %d: 429 with Retry-After %q", i, a.retryAfter)
				}
				if _, err := errorBody(a.body); err != nil {
					t.Errorf("request %d: %v", i, err)
				}
			case a.status == http.StatusOK && i == right:
			case a.status == http.StatusUnauthorized && i != right:
			default:
				t.Errorf("request %d (right password: %t): %d %s", i, i == right, a.status, a.body)
			}
		}
		t.Logf("%d guesses and the right password at once over 3 gates: %v; the right password: %d", guesses, counts, answers[right].status)
		// A right password only releases its check; it wipes no failures
		// (regulation.Policy), so at most maxFailures wrong passwords are
		// ever checked, and the right one at most once besides.
		if counts[http.StatusUnauthorized] > maxFailures || counts[http.StatusOK] > 1 {
			t.Fatalf("%d wrong passwords and %d right ones checked, want at most %d and 1: the rest must be refused with 429", counts[http.StatusUnauthorized], counts[http.StatusOK], maxFailures)
		}
		if counts[http.StatusUnauthorized] < maxFailures {
			return // the right password took one of the checks: no lock yet
		}
		// Those failures locked the name everywhere.
		for i, g := range gates {
			locked(t, fmt.Sprintf("gate %d after the burst: POST /login with the right password", i), g.try(t, loginAttempt("bob", pw)))
		}
	})

	t.Run("Redis down", func(t *testing.T) {
		if code := gates[2].register(t, "carol"); code != http.StatusCreated {
			t.Fatalf("register on gate 2: %d", code)
		}
		srv.Stop()
		// Each gate is asked at once: with Redis gone, every call to it
		// first waits out the client's dial retries.
		type outage struct{ login, wrong, right answer }
		answers := make([]outage, len(gates))
		var wg sync.WaitGroup
		for i, g := range gates {
			wg.Go(func() {
				answers[i] = outage{
					login: g.try(nil, loginAttempt("carol", pw)),
					wrong: g.try(nil, basicAttempt("carol", "wrong password")),
					right: g.try(nil, basicAttempt("carol", pw)),
				}
			})
		}
		wg.Wait()
		for i, o := range answers {
			if o.login.err != nil || o.login.status != http.StatusServiceUnavailable {
				t.Errorf("gate %d: POST /login with Redis down: %d %v %s, want 503", i, o.login.status, o.login.err, o.login.body)
			} else if _, err := errorBody(o.login.body); err != nil {
				t.Errorf("gate %d: POST /login with Redis down: %v", i, err)
			}
			// /verify keeps answering Basic credentials, counting them in
			// each process; the account cannot be looked up in Redis, so
			// even the right password is refused (fail closed): 401,
			// never a 5xx.
			for what, a := range map[string]answer{"wrong": o.wrong, "right": o.right} {
				if a.err != nil || a.status != http.StatusUnauthorized || a.header.Get("Remote-User") != "" {
					t.Errorf("gate %d: GET /verify with the %s Basic password, Redis down: %d %v %q, want 401", i, what, a.status, a.err, a.header.Get("Remote-User"))
				}
			}
		}
		for i, g := range gates {
			eventually(t, 5*time.Second, fmt.Sprintf("gate %d to log that Basic attempts are counted in this process", i), func() error {
				if !strings.Contains(g.Logs(), "counted in this process") {
					return errors.New(`no "counted in this process" in its log`)
				}
				return nil
			})
			if logs := g.Logs(); strings.Contains(logs, "panic") || strings.Contains(logs, pw) {
				t.Errorf("gate %d logged a panic or a password:\n%s", i, logs)
			}
		}
	})
}

// answer is what the gate said to one request.
type answer struct {
	status     int
	retryAfter string
	header     http.Header
	body       string
	err        error
}

// attempt is one sign-in attempt: POST /login with a JSON name and
// password, or GET /verify with Basic credentials.
type attempt struct {
	basic          bool
	name, password string
}

func loginAttempt(name, password string) attempt { return attempt{false, name, password} }
func basicAttempt(name, password string) attempt { return attempt{true, name, password} }

// try sends at. With tb nil (from a goroutine) a transport error is
// returned in the answer, else it fails the test.
func (g *gate) try(tb testing.TB, at attempt) answer {
	if tb != nil {
		tb.Helper()
	}
	var req *http.Request
	var err error
	if at.basic {
		req, err = http.NewRequest("GET", g.base+"/verify", nil)
		if err == nil {
			req.SetBasicAuth(at.name, at.password)
		}
	} else {
		body, _ := json.Marshal(map[string]string{"username": at.name, "password": at.password})
		req, err = http.NewRequest("POST", g.base+"/login", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	var a answer
	if err == nil {
		var resp *http.Response
		if resp, err = noRedirect.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			a = answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), header: resp.Header, body: string(b)}
		}
	}
	if err != nil && tb != nil {
		tb.Fatal(err)
	}
	a.err = err
	return a
}

// errorBody checks that body is {"error": "..."} and returns the message.
func errorBody(body string) (string, error) {
	var e map[string]string
	if err := json.Unmarshal([]byte(body), &e); err != nil || len(e) != 1 || e["error"] == "" {
		return "", fmt.Errorf("body %q, want {\"error\": \"...\"}", body)
	}
	return e["error"], nil
}
