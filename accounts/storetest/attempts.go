package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts/regulation"
)

// RunAttempts is the suite every regulation.Attempts passes. newCounters
// returns n counters that share their state as gates sharing a store do
// (for an in-process counter, the same one n times).
func RunAttempts(t *testing.T, newCounters func(t *testing.T, n int) []regulation.Attempts) {
	ctx := context.Background()
	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	reg := regulation.Policy{MaxFailures: 5, MaxFailuresPerIP: 20, Window: 10 * time.Minute, BanTime: 15 * time.Minute}
	name := func(n string) regulation.Key {
		return regulation.Key{Key: "u:" + n, Limit: reg.MaxFailures}
	}
	addr := func(a string) regulation.Key {
		return regulation.Key{Key: "i:" + a, Limit: reg.MaxFailuresPerIP}
	}
	// attempt makes one whole attempt and reports the wait Reserve
	// answered (0: the attempt was checked, and settled as failed says).
	attempt := func(t *testing.T, a regulation.Attempts, now time.Time, failed bool, keys ...regulation.Key) time.Duration {
		t.Helper()
		wait, err := a.Reserve(ctx, keys, reg, now)
		if err != nil {
			t.Fatal(err)
		}
		if wait == 0 {
			if err := a.Settle(ctx, keys, reg, now, failed); err != nil {
				t.Fatal(err)
			}
		}
		return wait
	}
	fail := func(t *testing.T, a regulation.Attempts, now time.Time, keys ...regulation.Key) time.Duration {
		t.Helper()
		return attempt(t, a, now, true, keys...)
	}
	succeed := func(t *testing.T, a regulation.Attempts, now time.Time, keys ...regulation.Key) time.Duration {
		t.Helper()
		return attempt(t, a, now, false, keys...)
	}

	t.Run("locks after MaxFailures, for BanTime", func(t *testing.T) {
		a := newCounters(t, 1)[0]
		for i := range reg.MaxFailures {
			if w := fail(t, a, base, name("alice"), addr("192.0.2.1")); w != 0 {
				t.Fatalf("failure %d refused (wait %v) before the limit", i+1, w)
			}
		}
		w := succeed(t, a, base.Add(time.Minute), name("alice"), addr("192.0.2.9"))
		if w < reg.BanTime-time.Minute-time.Second || w > reg.BanTime {
			t.Fatalf("after %d failures: wait %v, want about %v", reg.MaxFailures, w, reg.BanTime-time.Minute)
		}
		if w := succeed(t, a, base.Add(reg.BanTime+time.Second), name("alice"), addr("192.0.2.9")); w != 0 {
			t.Fatalf("after the ban: wait %v", w)
		}
		if w := succeed(t, a, base.Add(time.Minute), name("bob"), addr("192.0.2.9")); w != 0 {
			t.Fatalf("another name locked: %v", w)
		}
	})

	t.Run("window forgets", func(t *testing.T) {
		a := newCounters(t, 1)[0]
		for range reg.MaxFailures - 1 {
			fail(t, a, base, name("alice"))
		}
		later := base.Add(reg.Window + time.Second)
		for i := range reg.MaxFailures - 1 {
			if w := fail(t, a, later, name("alice")); w != 0 {
				t.Fatalf("failure %d after the window: wait %v", i+1, w)
			}
		}
		if w := succeed(t, a, later, name("alice")); w != 0 {
			t.Fatalf("old failures still counted: wait %v", w)
		}
	})

	t.Run("per address", func(t *testing.T) {
		a := newCounters(t, 1)[0]
		for i := range reg.MaxFailuresPerIP {
			fail(t, a, base, name("user"+string(rune('a'+i))), addr("192.0.2.7"))
		}
		if w := succeed(t, a, base, name("zed"), addr("192.0.2.7")); w == 0 {
			t.Fatal("address not locked after MaxFailuresPerIP failures over many names")
		}
		if w := succeed(t, a, base, name("zed"), addr("192.0.2.8")); w != 0 {
			t.Fatalf("another address locked: %v", w)
		}
	})

	t.Run("a success clears no failures of the window", func(t *testing.T) {
		// A right password only releases its reservation: wiping the
		// name's failures would let a success among guesses sent at once
		// reopen the guessing, and wiping the address's would let one
		// valid account launder an attacker's guesses at others.
		a := newCounters(t, 1)[0]
		for range reg.MaxFailures - 1 {
			fail(t, a, base, name("alice"), addr("192.0.2.5"))
		}
		if w := succeed(t, a, base, name("alice"), addr("192.0.2.5")); w != 0 {
			t.Fatalf("right password before the limit refused: %v", w)
		}
		if w := fail(t, a, base, name("alice"), addr("192.0.2.6")); w != 0 {
			t.Fatalf("last failure before the limit refused: %v", w)
		}
		if w := succeed(t, a, base, name("alice"), addr("192.0.2.7")); w == 0 {
			t.Fatal("a success wiped the name's failures")
		}
		// The address kept its failures too: 16 more lock it. Each is for
		// another name, so no name reaches its own limit first.
		for i := range reg.MaxFailuresPerIP - reg.MaxFailures + 1 {
			if w := fail(t, a, base, name("x"+string(rune('a'+i))), addr("192.0.2.5")); w != 0 {
				t.Fatalf("address failure %d refused before its limit: %v", reg.MaxFailures+i, w)
			}
		}
		if w := succeed(t, a, base, name("y"), addr("192.0.2.5")); w == 0 {
			t.Fatal("a success laundered the address's failures")
		}
	})

	t.Run("attempts in flight count against the limit", func(t *testing.T) {
		// Every counter of a shared store sees the same reservations: 50
		// guesses for one name sent at once over three gates get at most
		// MaxFailures reservations, however they interleave.
		cs := newCounters(t, 3)
		var mu sync.Mutex
		var reserved []regulation.Attempts
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				a := cs[i%len(cs)]
				w, err := a.Reserve(ctx, []regulation.Key{name("alice")}, reg, base)
				if err != nil {
					t.Error(err)
					return
				}
				if w == 0 {
					mu.Lock()
					reserved = append(reserved, a)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(reserved) != reg.MaxFailures {
			t.Fatalf("%d of 50 concurrent attempts reserved, want %d", len(reserved), reg.MaxFailures)
		}
		for _, a := range reserved {
			if err := a.Settle(ctx, []regulation.Key{name("alice")}, reg, base, true); err != nil {
				t.Fatal(err)
			}
		}
		for i, a := range cs {
			if w := succeed(t, a, base.Add(time.Second), name("alice")); w < reg.BanTime-2*time.Second {
				t.Fatalf("gate %d after the settled failures: wait %v, want the ban", i, w)
			}
		}
	})

	t.Run("Locked reads without reserving", func(t *testing.T) {
		cs := newCounters(t, 2)
		for range 3 * reg.MaxFailures {
			if w, err := cs[0].Locked(ctx, []regulation.Key{name("dave")}, base); err != nil || w != 0 {
				t.Fatalf("Locked before any failure: %v, %v", w, err)
			}
		}
		for i := range reg.MaxFailures {
			if w := fail(t, cs[i%2], base, name("dave")); w != 0 {
				t.Fatalf("failure %d refused: Locked must not have reserved anything (%v)", i+1, w)
			}
		}
		for i, a := range cs {
			w, err := a.Locked(ctx, []regulation.Key{addr("192.0.2.99"), name("dave")}, base.Add(time.Minute))
			if err != nil || w < reg.BanTime-time.Minute-time.Second || w > reg.BanTime-time.Minute+time.Second {
				t.Fatalf("gate %d: Locked = %v, %v; want the ban less a minute", i, w, err)
			}
		}
	})

	t.Run("failures spread over gates lock on every gate", func(t *testing.T) {
		cs := newCounters(t, 3)
		for i := range reg.MaxFailures {
			if w := fail(t, cs[i%len(cs)], base, name("carol")); w != 0 {
				t.Fatalf("failure %d on gate %d refused: %v", i+1, i%len(cs), w)
			}
		}
		for i, a := range cs {
			if w := succeed(t, a, base, name("carol")); w == 0 {
				t.Fatalf("gate %d does not see the lock", i)
			}
		}
	})

	t.Run("clear lifts a lock on every gate", func(t *testing.T) {
		cs := newCounters(t, 2)
		for range reg.MaxFailures {
			fail(t, cs[0], base, name("erin"))
		}
		if w, _ := cs[1].Locked(ctx, []regulation.Key{name("erin")}, base); w == 0 {
			t.Fatal("not locked")
		}
		if err := cs[1].Clear(ctx, []regulation.Key{name("erin")}); err != nil {
			t.Fatal(err)
		}
		for i, a := range cs {
			if w, _ := a.Locked(ctx, []regulation.Key{name("erin")}, base); w != 0 {
				t.Fatalf("gate %d still locked: %v", i, w)
			}
			if w := succeed(t, a, base, name("erin")); w != 0 {
				t.Fatalf("gate %d refuses after Clear: %v", i, w)
			}
		}
	})
}
