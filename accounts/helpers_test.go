package accounts_test

import (
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/memstore"
	"github.com/authgate/authgate/accounts/password"
	"github.com/authgate/authgate/accounts/regulation"
	"github.com/authgate/authgate/verify"
)

// fastParams keep tests quick; the format and code path are the same.
var fastParams = password.Params{MemoryKiB: 64, Time: 1, Threads: 1}

// testRegulation locks a name after 3 failures.
var testRegulation = regulation.Policy{MaxFailures: 3, MaxFailuresPerIP: 50, Window: 10 * time.Minute, BanTime: 15 * time.Minute}

type fixture struct {
	svc    *accounts.Service
	store  *memstore.Store
	hasher *password.Hasher
	tokens *verify.Tokens
}

// newService builds a Service on a memory store, with users-file account
// "root", the test regulation and tokens; mod adjusts the config.
func newService(tb testing.TB, mod func(*accounts.Config)) *fixture {
	tb.Helper()
	tokens, err := verify.NewTokens("authgate", verify.Secret("k7Vq3xZ9pL2mN8rT4wY6bC1dF5gH0jS9"), nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	hasher, err := password.New(fastParams, 0)
	if err != nil {
		tb.Fatal(err)
	}
	store := memstore.New(nil)
	cfg := accounts.Config{
		Store: store, Tokens: tokens, Hasher: hasher, Registration: true,
		Static:     map[string]accounts.User{"root": {Name: "root"}},
		Regulation: testRegulation,
	}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := accounts.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{svc: svc, store: store, hasher: hasher, tokens: tokens}
}
