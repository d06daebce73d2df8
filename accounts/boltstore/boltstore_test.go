package boltstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/boltstore"
	"github.com/authgate/authgate/accounts/storetest"
)

func TestBoltStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now *time.Time) accounts.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "authgate.db"), time.Second, func() time.Time { return *now })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestBoltPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "authgate.db")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := boltstore.Open(path, time.Second, clock)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.CreateUser(ctx, accounts.User{Name: "alice", Hash: "h"})
	_ = s.CreateSession(ctx, accounts.Session{ID: "live", User: "alice", Created: now, Expires: now.Add(time.Hour)}, 10)
	_ = s.CreateSession(ctx, accounts.Session{ID: "short", User: "alice", Created: now, Expires: now.Add(time.Minute)}, 10)
	_ = s.CreateSession(ctx, accounts.Session{ID: "gone", User: "alice", Created: now, Expires: now.Add(time.Hour)}, 10)
	_ = s.DeleteSession(ctx, "gone")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	now = now.Add(2 * time.Minute)
	s, err = boltstore.Open(path, time.Second, clock)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if u, err := s.User(ctx, "alice"); err != nil || u.Hash != "h" {
		t.Fatalf("user after reopen: %+v %v", u, err)
	}
	for id, want := range map[string]bool{"live": true, "short": false, "gone": false} {
		if ok, _ := s.SessionLive(ctx, id, "alice"); ok != want {
			t.Errorf("session %s live = %v after reopen, want %v", id, ok, want)
		}
	}
}

// TestBoltSecondOpenFailsFast: a second process (here, a second open) gets
// a clear error instead of hanging on bbolt's file lock.
func TestBoltSecondOpenFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authgate.db")
	s, err := boltstore.Open(path, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = boltstore.Open(path, 100*time.Millisecond, nil)
	if !errors.Is(err, boltstore.ErrStoreLocked) {
		t.Fatalf("second open: %v, want ErrStoreLocked", err)
	}
}
