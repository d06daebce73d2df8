package accounts_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/redistest"
)

func openRedis(t *testing.T, url string, o accounts.RedisOptions) *accounts.RedisStore {
	t.Helper()
	s, err := accounts.OpenRedis(context.Background(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestRedisStoreConformance runs the shared suite against a real Redis; each
// subtest gets its own key prefix so they do not see each other's data.
func TestRedisStoreConformance(t *testing.T) {
	srv := redistest.Start(t)
	n := 0
	accounts.StoreConformance(t, func(t *testing.T, now *time.Time) accounts.Store {
		n++
		return openRedis(t, srv.URL(), accounts.RedisOptions{Prefix: "t" + time.Now().Format("150405.000000") + ":", Now: func() time.Time { return *now }})
	})
}

// waitFor polls cond for up to d; revocations travel by pub/sub, so a
// replica learns of them shortly after, not synchronously.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

func TestRedisRevocationReachesOtherReplica(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := openRedis(t, srv.URL(), accounts.RedisOptions{})
	b := openRedis(t, srv.URL(), accounts.RedisOptions{})
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
	if !waitFor(time.Second, func() bool { ok, _ := b.SessionLive(ctx, "s1", "alice"); return !ok }) {
		t.Fatal("replica B still honours the session a second after logout on A")
	}
}

func TestRedisConcurrentRegistrationAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	stores := []*accounts.RedisStore{openRedis(t, srv.URL(), accounts.RedisOptions{}), openRedis(t, srv.URL(), accounts.RedisOptions{})}
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
	s := openRedis(t, srv.URL(), accounts.RedisOptions{Grace: 2 * time.Second})
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
	if !waitFor(5*time.Second, func() bool { ok, _ := s.SessionLive(ctx, "known", "alice"); return !ok }) {
		t.Fatal("known session still honoured after the grace period")
	}
	srv.Restart() // empty again: nothing persisted
	if !waitFor(10*time.Second, func() bool { return s.Ping(ctx) == nil }) {
		t.Fatal("store did not recover after Redis returned")
	}
	if ok, _ := s.SessionLive(ctx, "known", "alice"); ok {
		t.Fatal("cache not flushed after the subscription came back")
	}
	if err := s.CreateUser(ctx, accounts.User{Name: "back"}); err != nil {
		t.Fatalf("CreateUser after recovery: %v", err)
	}
}
