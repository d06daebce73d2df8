package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/redisstore"
	"github.com/authgate/authgate/accounts/redistest"
	"github.com/authgate/authgate/accounts/regulation"
	"github.com/authgate/authgate/accounts/storetest"
)

// TestRedisAttemptsConformance runs the counter suite against a real Redis:
// the n counters of one call are n gates sharing one Redis (and one key
// prefix); each call gets its own prefix so subtests do not share counts.
func TestRedisAttemptsConformance(t *testing.T) {
	srv := redistest.Start(t)
	calls := 0
	storetest.RunAttempts(t, func(t *testing.T, n int) []regulation.Attempts {
		calls++
		prefix := fmt.Sprintf("t%d:", calls)
		out := make([]regulation.Attempts, n)
		for i := range out {
			out[i] = openStore(t, srv.URL(), redisstore.Options{Prefix: prefix}).Attempts()
		}
		return out
	})
}

// TestRedisAttemptsUnavailable: a counter that cannot reach Redis answers
// an error wrapping accounts.ErrUnavailable, never a wait or a pass.
func TestRedisAttemptsUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := openStore(t, srv.URL(), redisstore.Options{}).Attempts()
	keys := []regulation.Key{{Key: "u:alice", Limit: 5}, {Key: "i:192.0.2.1", Limit: 20}}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	if w, err := a.Reserve(ctx, keys, regulation.Default, now); w != 0 || err != nil {
		t.Fatalf("Reserve with Redis up: wait %v, err %v", w, err)
	}
	srv.Stop()
	_, err := a.Reserve(ctx, keys, regulation.Default, now)
	if !errors.Is(err, accounts.ErrUnavailable) {
		t.Fatalf("Reserve without Redis: %v, want ErrUnavailable", err)
	}
	if c := accounts.ErrorCode(err); c != accounts.Unavailable {
		t.Fatalf("Reserve without Redis: code %v, want Unavailable", c)
	}
	if err := a.Settle(ctx, keys, regulation.Default, now, true); !errors.Is(err, accounts.ErrUnavailable) {
		t.Fatalf("Settle without Redis: %v, want ErrUnavailable", err)
	}
}
