package memstore_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/memstore"
	"github.com/authgate/authgate/accounts/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now *time.Time) accounts.Store {
		return memstore.New(func() time.Time { return *now })
	})
}

func TestMemoryStoreSweep(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := memstore.New(func() time.Time { return now })
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		_ = s.CreateSession(ctx, accounts.Session{ID: fmt.Sprint(i), User: fmt.Sprint("u", i%7), Expires: now.Add(time.Duration(i) * time.Minute)}, 100)
	}
	now = now.Add(50 * time.Minute)
	if n := s.Sweep(); n != 51 {
		t.Fatalf("swept %d, want 51", n)
	}
	if n := s.Sessions(); n != 49 {
		t.Fatalf("%d sessions left, want 49", n)
	}
}

// Store benchmarks:
//
//	go test -run '^$' -bench . -benchmem ./accounts/memstore/

func BenchmarkMemoryStore(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	b.Run("CreateSession", func(b *testing.B) {
		s := memstore.New(nil)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			_ = s.CreateSession(ctx, accounts.Session{ID: strconv.Itoa(i), User: "u" + strconv.Itoa(i%1000), Created: now, Expires: now.Add(time.Hour)}, 10)
		}
	})
	b.Run("SessionLive-parallel", func(b *testing.B) {
		s := memstore.New(nil)
		for i := range 10_000 {
			_ = s.CreateSession(ctx, accounts.Session{ID: strconv.Itoa(i), User: "u" + strconv.Itoa(i/10), Created: now, Expires: now.Add(time.Hour)}, 10)
		}
		b.ResetTimer()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if ok, _ := s.SessionLive(ctx, "4242", "u424"); !ok {
					b.Error("session not live")
					return
				}
			}
		})
	})
}
