package regulation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts/regulation"
	"github.com/authgate/authgate/accounts/storetest"
)

// Brute force and credential stuffing: these tests walk through each way
// around the regulation (another spelling of the name, many names from one
// address, guesses sent at once, Basic credentials, a full table).

// TestLocal runs the counter suite against the in-process counter
// of the memory and bolt stores: a name locks after its failures whatever
// address they came from; a spray of names locks the address it came from
// and no other, so bogus names cannot lock out everyone (tinyauth
// GHSA-9xhm-w3wj-xhqh, CVE-2026-77561); a success clears no failures;
// attempts in flight count.
func TestLocal(t *testing.T) {
	storetest.RunAttempts(t, func(t *testing.T, n int) []regulation.Attempts {
		a := regulation.NewLocal(0)
		out := make([]regulation.Attempts, n)
		for i := range out {
			out[i] = a
		}
		return out
	})
}

// TestLocalBoundedMemory: memory stays bounded however many names
// are tried, and a full table does not push out a lock. tinyauth's full
// table locked everyone out (GHSA-9xhm-w3wj-xhqh, CVE-2026-77561); the
// opposite failure, forgetting a lock, would reopen the guessing.
func TestLocalBoundedMemory(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := regulation.Policy{MaxFailures: 5, MaxFailuresPerIP: 0, Window: time.Hour, BanTime: time.Hour}
	a := regulation.NewLocal(1000)
	key := func(name string) []regulation.Key {
		return []regulation.Key{{Key: "u:" + name, Limit: r.MaxFailures}}
	}
	failOnce := func(name string) {
		if w, _ := a.Reserve(ctx, key(name), r, now); w == 0 {
			_ = a.Settle(ctx, key(name), r, now, true)
		}
	}
	for range r.MaxFailures {
		failOnce("alice")
	}
	for i := range 50_000 {
		failOnce(fmt.Sprint("name", i))
	}
	if n := a.Len(); n > 2000 {
		t.Fatalf("%d entries tracked, cap is 1000 counters and 1000 locks", n)
	}
	if w, _ := a.Reserve(ctx, key("alice"), r, now); w == 0 {
		t.Fatal("a flood of names pushed alice's lock out")
	}
}
