package main

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/boltstore"
	"github.com/authgate/authgate/accounts/memstore"
	"github.com/authgate/authgate/accounts/redisstore"
	"github.com/authgate/authgate/accounts/regulation"
)

// openedStore is a store with the counter of failed sign-ins that goes
// with it: in process for memory and bolt, in Redis for Redis, so a
// lockout holds for every replica that shares the store.
type openedStore struct {
	store    accounts.Store
	attempts regulation.Attempts
	kind     string
}

// openStore opens the store AUTHGATE_STORE names:
//
//	memory                                  (default) in process memory
//	bolt:///var/lib/authgate/authgate.db    one bbolt file on this machine
//	redis://[:password@]host:port/db        shared by every replica
//	rediss://...                            the same over TLS
//	redis-sentinel://[:password@]h1:p1,h2:p2/db?master_name=NAME
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (openedStore, error) {
	spec := cfg.Store
	switch {
	case spec == "" || spec == "memory":
		return openedStore{memstore.New(nil), regulation.NewLocal(0), "memory"}, nil
	case strings.HasPrefix(spec, "bolt://"):
		path := strings.TrimPrefix(spec, "bolt://")
		if path == "" {
			return openedStore{}, badVar("STORE", "bolt:// needs a file path, e.g. bolt:///var/lib/authgate/authgate.db")
		}
		s, err := boltstore.Open(path, 2*time.Second, nil)
		if err != nil {
			return openedStore{}, badVar("STORE", "%v", err)
		}
		return openedStore{s, regulation.NewLocal(0), "bolt"}, nil
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"), strings.HasPrefix(spec, "redis-sentinel://"):
		s, err := redisstore.Open(ctx, spec, redisstore.Options{Grace: cfg.RedisGrace, Logger: log})
		if err != nil {
			return openedStore{}, badVar("STORE", "%v", redactURL(err, spec))
		}
		return openedStore{s, s.Attempts(), "redis"}, nil
	}
	return openedStore{}, badVar("STORE", "must be memory, bolt:///path, redis://host:port/db, rediss://... or redis-sentinel://...")
}

// redactURL keeps a password in AUTHGATE_STORE out of error messages.
type redacted struct {
	err error
	msg string
}

func (r redacted) Error() string { return r.msg }
func (r redacted) Unwrap() error { return r.err }

func redactURL(err error, spec string) error {
	u, perr := url.Parse(spec)
	if perr != nil || u.User == nil {
		return err
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		return err
	}
	return redacted{err: err, msg: strings.ReplaceAll(err.Error(), pw, "REDACTED")}
}
