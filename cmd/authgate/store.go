package main

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/authgate/authgate/accounts"
)

// openStore opens the store AUTHGATE_STORE names:
//
//	memory                                  (default) in process memory
//	bolt:///var/lib/authgate/authgate.db    one bbolt file on this machine
//	redis://[:password@]host:port/db        shared by every replica
//	rediss://...                            the same over TLS
//	redis-sentinel://[:password@]h1:p1,h2:p2/db?master_name=NAME
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (accounts.Store, string, error) {
	spec := cfg.Store
	switch {
	case spec == "" || spec == "memory":
		return accounts.NewMemoryStore(nil), "memory", nil
	case strings.HasPrefix(spec, "bolt://"):
		path := strings.TrimPrefix(spec, "bolt://")
		if path == "" {
			return nil, "", badVar("STORE", "bolt:// needs a file path, e.g. bolt:///var/lib/authgate/authgate.db")
		}
		s, err := accounts.OpenBolt(path, 2*time.Second, nil)
		if err != nil {
			return nil, "", badVar("STORE", "%v", err)
		}
		return s, "bolt", nil
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"), strings.HasPrefix(spec, "redis-sentinel://"):
		s, err := accounts.OpenRedis(ctx, spec, accounts.RedisOptions{
			Grace:  cfg.RedisGrace,
			Logger: log,
		})
		if err != nil {
			return nil, "", badVar("STORE", "%v", redactURL(err, spec))
		}
		return s, "redis", nil
	}
	return nil, "", badVar("STORE", "must be memory, bolt:///path, redis://host:port/db, rediss://... or redis-sentinel://...")
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
