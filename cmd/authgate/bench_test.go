package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/redistest"
)

// benchGate is the wired server (routes, middleware, verifier, store) and a
// live token for it.
func benchGate(tb testing.TB, env ...string) (*server, string) {
	tb.Helper()
	s := testServer(tb, env...)
	tb.Cleanup(s.close)
	for _, path := range []string{"/register", "/login"} {
		w := s.try("127.0.0.1:1", "", path, `{"username":"alice","password":"correct horse battery"}`)
		if w.Code >= 300 {
			tb.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		if path == "/login" {
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &tok)
			return s, tok.AccessToken
		}
	}
	return nil, ""
}

// verifyRequest is what nginx's auth_request sends for a page view.
func verifyRequest(token string) *http.Request {
	r := httptest.NewRequest("GET", "/verify", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("X-Original-URL", "https://app.example.com/reports?q=1")
	r.Header.Set("X-Original-Method", "GET")
	return r
}

func serveVerify(b *testing.B, s *server, token string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := verifyRequest(token)
		for pb.Next() {
			w := httptest.NewRecorder()
			s.handler.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Errorf("verify: %d", w.Code)
				return
			}
		}
	})
}

// BenchmarkVerifyStore: /verify through the whole handler stack with each
// store. With Redis the session is answered from the local cache (pub/sub
// keeps it honest), so no request waits on the network.
//
//	go test -run '^$' -bench 'VerifyStore' -benchmem ./cmd/authgate/
func BenchmarkVerifyStore(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		s, tok := benchGate(b)
		serveVerify(b, s, tok)
	})
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		s, tok := benchGate(b, "AUTHGATE_STORE="+srv.URL())
		serveVerify(b, s, tok)
	})
}

// BenchmarkVerifyRedisVsMemory measures both stores in the same run,
// interleaved in rounds so that a noisy neighbour slows both alike, and
// reports redis throughput as a fraction of memory's (the "redis/memory"
// metric; 1.0 is parity).
func BenchmarkVerifyRedisVsMemory(b *testing.B) {
	srv := redistest.Start(b)
	mem, memTok := benchGate(b)
	red, redTok := benchGate(b, "AUTHGATE_STORE="+srv.URL())
	var memTime, redTime time.Duration
	round := func(s *server, tok string, n int) time.Duration {
		r := verifyRequest(tok)
		start := time.Now()
		for range n {
			w := httptest.NewRecorder()
			s.handler.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("verify: %d", w.Code)
			}
		}
		return time.Since(start)
	}
	round(mem, memTok, 1000) // warm both caches
	round(red, redTok, 1000)
	b.ResetTimer()
	const chunk = 2000
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		memTime += round(mem, memTok, n)
		redTime += round(red, redTok, n)
	}
	if redTime > 0 {
		b.ReportMetric(float64(memTime)/float64(redTime), "redis/memory")
	}
}

// BenchmarkVerifyMillionSessions: /verify with a million live sessions in
// the memory store (100k users with 10 sessions each, the per-user cap),
// and the memory they take: the live heap they add (after a GC) and the
// process's RSS. The store is filled once per process.
//
//	go test -run '^$' -bench 'MillionSessions' ./cmd/authgate/
func BenchmarkVerifyMillionSessions(b *testing.B) {
	million.Do(func() {
		heapBefore := liveHeapMB()
		s, tok := benchGate(b)
		ctx := context.Background()
		now := time.Now()
		for i := range 1_000_000 {
			id := strconv.Itoa(i) + "-0123456789abcdefghij" // 22+ characters, like real ids
			user := "user" + strconv.Itoa(i/10)
			if err := s.store.CreateSession(ctx, accounts.Session{ID: id, User: user, Created: now, Expires: now.Add(time.Hour)}, 10); err != nil {
				b.Fatal(err)
			}
		}
		million.s, million.tok = s, tok
		million.heapMB = liveHeapMB() - heapBefore
		million.rssMB = rssMB(b)
	})
	b.ResetTimer()
	serveVerify(b, million.s, million.tok)
	// After the run: ResetTimer would clear them.
	b.ReportMetric(million.heapMB, "heap-MB-for-1M")
	b.ReportMetric(million.rssMB, "RSS-MB")
}

var million struct {
	sync.Once
	s             *server
	tok           string
	heapMB, rssMB float64
}

func liveHeapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// rssMB is this process's resident memory (VmRSS) in MB.
func rssMB(tb testing.TB) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// nopWriter is a reused response writer: the benchmark measures the gate,
// not the recorder.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkVerifyMetrics: the cache-hit /verify through the whole handler
// stack with metrics off and on (a counter, a histogram and two clock
// reads per request).
//
//	go test -run '^$' -bench 'VerifyMetrics' -benchmem -count 6 ./cmd/authgate/
func BenchmarkVerifyMetrics(b *testing.B) {
	for _, tc := range []struct {
		name string
		env  []string
	}{{"off", nil}, {"on", []string{"AUTHGATE_METRICS_LISTEN=127.0.0.1:0"}}} {
		b.Run(tc.name, func(b *testing.B) {
			s, tok := benchGate(b, tc.env...)
			r := verifyRequest(tok)
			w := &nopWriter{h: make(http.Header, 8)}
			s.handler.ServeHTTP(w, r) // warm the token cache
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				s.handler.ServeHTTP(w, r)
			}
			if w.code != http.StatusOK {
				b.Fatalf("verify: %d", w.code)
			}
		})
	}
}
