package accounts_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/password"
	"github.com/authgate/authgate/accounts/regulation"
)

// TestSignInTimeDoesNotTellUnknownNames measures, in one run and
// interleaved, the median time of a wrong password for an unknown name,
// for an account hashed with the default argon2id, and for a bcrypt
// account from a users file. The unknown name is checked against a dummy
// argon2id hash with the same parameters, so those two cost the same; the
// bcrypt account costs what its own hash costs, which is why the gate
// names such accounts at start (TestStartWarnsAboutHashesThatCostDifferently
// in cmd/authgate). Only ratios measured side by side are asserted.
func TestSignInTimeDoesNotTellUnknownNames(t *testing.T) {
	ctx := context.Background()
	params := password.Params{MemoryKiB: 4096, Time: 1, Threads: 1}
	hasher, err := password.New(params, 1)
	if err != nil {
		t.Fatal(err)
	}
	argon, _ := hasher.Hash(ctx, "correct horse battery")
	bc, _ := bcrypt.GenerateFromPassword([]byte("correct horse battery"), 4)
	f := newService(t, func(c *accounts.Config) {
		c.Hasher = hasher
		c.Regulation = regulation.Policy{} // off: every guess is checked
		c.Static = map[string]accounts.User{
			"known":  {Name: "known", Hash: argon},
			"legacy": {Name: "legacy", Hash: string(bc)},
		}
	})
	names := []string{"nobody", "known", "legacy"}
	samples := map[string][]time.Duration{}
	for range 25 {
		for _, name := range names {
			start := time.Now()
			if _, _, err := f.svc.SignIn(ctx, "192.0.2.1", accounts.Credentials{Username: name, Password: "wrong password"}); err == nil {
				t.Fatal("a wrong password passed")
			}
			samples[name] = append(samples[name], time.Since(start))
		}
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	unknown, known, legacy := median(samples["nobody"]), median(samples["known"]), median(samples["legacy"])
	t.Logf("medians: unknown %v, argon2id account %v, bcrypt cost 4 account %v", unknown, known, legacy)
	if r := float64(unknown) / float64(known); r < 0.5 || r > 2 {
		t.Fatalf("unknown name / argon2id account = %.2f: an unknown name must cost what a known one costs", r)
	}
}
