package accounts

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// Store and password benchmarks:
//
//	go test -run '^$' -bench . -benchmem ./accounts/

func BenchmarkMemoryStore(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	b.Run("CreateSession", func(b *testing.B) {
		s := NewMemoryStore(nil)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			_ = s.CreateSession(ctx, Session{ID: strconv.Itoa(i), User: "u" + strconv.Itoa(i%1000), Created: now, Expires: now.Add(time.Hour)}, 10)
		}
	})
	b.Run("SessionLive-parallel", func(b *testing.B) {
		s := NewMemoryStore(nil)
		for i := range 10_000 {
			_ = s.CreateSession(ctx, Session{ID: strconv.Itoa(i), User: "u" + strconv.Itoa(i/10), Created: now, Expires: now.Add(time.Hour)}, 10)
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

// BenchmarkPasswordHash is one sign-in's cost at the default argon2id
// parameters (19 MiB, t=2, p=1).
func BenchmarkPasswordHash(b *testing.B) {
	h, err := NewHasher(DefaultParams, 1)
	if err != nil {
		b.Fatal(err)
	}
	enc, _ := h.Hash(context.Background(), "correct horse battery")
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := h.Verify(context.Background(), enc, "correct horse battery"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
