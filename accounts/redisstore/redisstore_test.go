package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/redisstore"
	"github.com/authgate/authgate/accounts/redistest"
	"github.com/authgate/authgate/accounts/storetest"
)

func openStore(t *testing.T, url string, o redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(context.Background(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// eventually polls cond until it returns nil, and fails the test with what
// and cond's last error if that takes longer than timeout. Revocations
// travel by pub/sub and reconnections take a backoff, so some effects are
// seen shortly after the call that causes them, not synchronously.
func eventually(tb testing.TB, timeout time.Duration, what string, cond func() error) {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-deadline.C:
			if err = cond(); err != nil {
				tb.Fatalf("%s: not within %v: %v", what, timeout, err)
			}
			return
		case <-tick.C:
		}
	}
}

// TestRedisStoreConformance runs the shared suite against a real Redis; each
// subtest gets its own key prefix so they do not see each other's data.
func TestRedisStoreConformance(t *testing.T) {
	srv := redistest.Start(t)
	n := 0
	storetest.Run(t, func(t *testing.T, now *time.Time) accounts.Store {
		n++
		return openStore(t, srv.URL(), redisstore.Options{Prefix: fmt.Sprintf("t%d:", n), Now: func() time.Time { return *now }})
	})
}

func TestRedisRevocationReachesOtherReplica(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := openStore(t, srv.URL(), redisstore.Options{})
	b := openStore(t, srv.URL(), redisstore.Options{})
	now := time.Now()
	if err := a.CreateSession(ctx, accounts.Session{ID: "s1", User: "alice", Created: now, Expires: now.Add(time.Hour)}, 10); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.SessionLive(ctx, "s1", "alice"); !ok || err != nil {
		t.Fatalf("replica B: %v %v", ok, err)
	}
	if err := a.DeleteSession(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "replica B stops honouring the session after logout on A", func() error {
		if ok, err := b.SessionLive(ctx, "s1", "alice"); ok {
			return fmt.Errorf("still live (err %v)", err)
		}
		return nil
	})
}

func TestRedisConcurrentRegistrationAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	stores := []*redisstore.Store{openStore(t, srv.URL(), redisstore.Options{}), openStore(t, srv.URL(), redisstore.Options{})}
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := stores[i%2].CreateUser(ctx, accounts.User{Name: "zoe", Hash: "h"}); err == nil {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("%d creations succeeded across replicas, want 1", created)
	}
}

func TestRedisOutageAndRecovery(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s := openStore(t, srv.URL(), redisstore.Options{Grace: 2 * time.Second})
	now := time.Now()
	_ = s.CreateSession(ctx, accounts.Session{ID: "known", User: "alice", Created: now, Expires: now.Add(time.Hour)}, 10)
	srv.Stop()
	// Known sessions are honoured during the grace period; unknown ones
	// are refused, and writes fail as unavailable.
	if ok, _ := s.SessionLive(ctx, "known", "alice"); !ok {
		t.Fatal("known session refused right after the outage began")
	}
	if ok, _ := s.SessionLive(ctx, "unknown", "alice"); ok {
		t.Fatal("unknown session accepted during the outage")
	}
	if err := s.CreateUser(ctx, accounts.User{Name: "x"}); err == nil {
		t.Fatal("CreateUser succeeded without Redis")
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded without Redis")
	}
	eventually(t, 5*time.Second, "known session refused after the grace period", func() error {
		if ok, _ := s.SessionLive(ctx, "known", "alice"); ok {
			return errors.New("still honoured")
		}
		return nil
	})
	srv.Restart() // empty again: nothing persisted
	eventually(t, 10*time.Second, "store recovers after Redis returned", func() error { return s.Ping(ctx) })
	if ok, _ := s.SessionLive(ctx, "known", "alice"); ok {
		t.Fatal("cache not flushed after the subscription came back")
	}
	if err := s.CreateUser(ctx, accounts.User{Name: "back"}); err != nil {
		t.Fatalf("CreateUser after recovery: %v", err)
	}
}
