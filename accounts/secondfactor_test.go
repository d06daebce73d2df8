package accounts_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/memstore"
	"github.com/authgate/authgate/accounts/mfa"
	"github.com/authgate/authgate/verify"
)

var (
	sealOld = []byte("an-older-signing-secret-0123456789abcdef")
	sealNew = []byte("the-current-signing-secret-fedcba987654")
)

// clock is a controllable time shared by the service and its store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type totpFixture struct {
	*fixture
	clock  *clock
	secret string   // alice's base32 secret, once set up
	codes  []string // alice's recovery codes
}

// newTOTPService builds a Service whose clock the test moves, with store
// user alice (password "alice password 1"), sealing under secrets.
func newTOTPService(t *testing.T, secrets ...[]byte) *totpFixture {
	t.Helper()
	if len(secrets) == 0 {
		secrets = [][]byte{sealNew}
	}
	sealer, err := mfa.NewSealer(secrets[0], secrets[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	// In the middle of a step: the edges are whole periods away.
	c := &clock{t: time.Date(2026, 12, 3, 10, 0, 15, 0, time.UTC)}
	store := memstore.New(c.now)
	f := newService(t, func(cfg *accounts.Config) {
		cfg.Store, cfg.Sealer, cfg.Now, cfg.TOTPIssuer = store, sealer, c.now, "Example Gate"
	})
	f.store = store
	if _, err := f.svc.Register(context.Background(), accounts.Registration{Username: "alice", Password: "alice password 1"}); err != nil {
		t.Fatal(err)
	}
	return &totpFixture{fixture: f, clock: c}
}

// enrol sets up and confirms TOTP for alice, and moves the clock to the
// next step so the confirming code is not the current one.
func (f *totpFixture) enrol(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	secret, url, err := f.svc.BeginTOTP(ctx, "192.0.2.1", "alice", "alice password 1", "s1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "otpauth://totp/Example%20Gate:alice?") || !strings.Contains(url, "secret="+secret) {
		t.Fatalf("otpauth URL %q", url)
	}
	codes, err := f.svc.ConfirmTOTP(ctx, "192.0.2.1", "alice", f.code(t, 0), "s1")
	if err != nil {
		t.Fatal(err)
	}
	f.secret, f.codes = secret, codes
	f.clock.advance(mfa.Period)
}

// code is alice's code offset steps from the clock's.
func (f *totpFixture) code(t *testing.T, steps int) string {
	t.Helper()
	u, _ := f.store.User(context.Background(), "alice")
	secret := f.secret
	if secret == "" {
		// Pending: open it the way the page would show it.
		s, _, err := f.svc.PendingTOTP(context.Background(), u.Name, "s1")
		if err != nil {
			t.Fatal(err)
		}
		secret = s
	}
	c, err := mfa.Code(secret, f.clock.now().Add(time.Duration(steps)*mfa.Period))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *totpFixture) signIn(ip string, c accounts.Credentials) ([]string, error) {
	if c.Username == "" {
		c.Username, c.Password = "alice", "alice password 1"
	}
	_, amr, err := f.svc.SignIn(context.Background(), ip, c)
	return amr, err
}

func TestEnrolment(t *testing.T) {
	ctx := context.Background()
	f := newTOTPService(t)
	if _, _, err := f.svc.BeginTOTP(ctx, "192.0.2.1", "alice", "wrong password", "s1"); !errors.Is(err, accounts.ErrBadPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	first, _, err := f.svc.BeginTOTP(ctx, "192.0.2.1", "alice", "alice password 1", "s1")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := f.store.User(ctx, "alice")
	if u.TOTPEnabled() || u.TOTP.Pending == "" || strings.Contains(u.TOTP.Pending, first) {
		t.Fatalf("after set-up: %+v (pending must be sealed, TOTP not yet on)", u.TOTP)
	}
	// Nothing active yet: a password alone still signs in.
	if amr, err := f.signIn("192.0.2.1", accounts.Credentials{}); err != nil || !slices.Equal(amr, []string{"pwd"}) {
		t.Fatalf("sign-in while pending: %v, %v", amr, err)
	}
	// A second set-up replaces the first: the first secret's code is refused.
	second, _, _ := f.svc.BeginTOTP(ctx, "192.0.2.1", "alice", "alice password 1", "s1")
	if second == first {
		t.Fatal("the same secret twice")
	}
	old, _ := mfa.Code(first, f.clock.now())
	if _, err := f.svc.ConfirmTOTP(ctx, "192.0.2.1", "alice", old, "s1"); !errors.Is(err, accounts.ErrBadSetupCode) {
		t.Fatalf("the replaced secret's code: %v", err)
	}
	codes, err := f.svc.ConfirmTOTP(ctx, "192.0.2.1", "alice", f.code(t, 0), "s1")
	if err != nil {
		t.Fatalf("the pending secret's code after a wrong one: %v", err)
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	u, _ = f.store.User(ctx, "alice")
	if !u.TOTPEnabled() || u.TOTP.Pending != "" || len(u.TOTP.Recovery) != 10 {
		t.Fatalf("after confirm: %+v", u.TOTP)
	}
	for _, c := range codes {
		if slices.Contains(u.TOTP.Recovery, c) || strings.Contains(u.TOTP.Secret, second) {
			t.Fatal("a recovery code or the secret is stored in clear")
		}
	}
	if _, _, err := f.svc.BeginTOTP(ctx, "192.0.2.1", "alice", "alice password 1", "s1"); !errors.Is(err, accounts.ErrTOTPEnabled) {
		t.Fatalf("set-up while on: %v", err)
	}
	now, _ := mfa.Code(second, f.clock.now().Add(mfa.Period))
	if _, err := f.svc.ConfirmTOTP(ctx, "192.0.2.1", "alice", now, "s1"); !errors.Is(err, accounts.ErrTOTPEnabled) {
		t.Fatalf("confirm while on: %v", err)
	}
}

func TestSignInSecondFactor(t *testing.T) {
	f := newTOTPService(t)
	f.enrol(t)
	ip := "192.0.2.10"
	if _, err := f.signIn(ip, accounts.Credentials{}); !errors.Is(err, accounts.ErrSecondFactorRequired) {
		t.Fatalf("password alone: %v", err)
	}
	if _, err := f.signIn(ip, accounts.Credentials{Username: "alice", Password: "wrong", TOTP: f.code(t, 0)}); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatalf("wrong password with a right code: %v", err)
	}
	// Past the lockout's window and ban: the failures here are the test's.
	settle := func() { f.clock.advance(time.Hour) }
	settle()
	for _, tc := range []struct {
		name  string
		steps int
		ok    bool
	}{
		{"two steps behind", -2, false},
		{"two steps ahead", 2, false},
		{"one step behind", -1, true},
		{"current step", 0, true},
		{"one step ahead", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			amr, err := f.signIn(ip, accounts.Credentials{TOTP: f.code(t, tc.steps)})
			if tc.ok != (err == nil) {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && !slices.Equal(amr, []string{"pwd", "otp"}) {
				t.Fatalf("amr %v", amr)
			}
			if !tc.ok && !errors.Is(err, accounts.ErrBadSecondFactor) {
				t.Fatalf("err %v, want ErrBadSecondFactor", err)
			}
		})
	}
	settle()
	t.Run("replay", func(t *testing.T) {
		c := f.code(t, 0)
		if _, err := f.signIn(ip, accounts.Credentials{TOTP: c}); err != nil {
			t.Fatal(err)
		}
		f.clock.advance(10 * time.Second) // same window, another sign-in
		if _, err := f.signIn("198.51.100.7", accounts.Credentials{TOTP: c}); !errors.Is(err, accounts.ErrBadSecondFactor) {
			t.Fatalf("the same code again: %v", err)
		}
	})
	settle()
	t.Run("replay at once from two places", func(t *testing.T) {
		c := f.code(t, 0)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.signIn("203.0.113.1", accounts.Credentials{TOTP: c}); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("one code signed in %d times", ok)
		}
	})
}

func TestRecoveryCodes(t *testing.T) {
	ctx := context.Background()
	f := newTOTPService(t)
	f.enrol(t)
	code := f.codes[3]
	amr, err := f.signIn("192.0.2.1", accounts.Credentials{RecoveryCode: strings.ToUpper(code)})
	if err != nil || !slices.Equal(amr, []string{"pwd", "otp"}) {
		t.Fatalf("recovery code: %v, %v", amr, err)
	}
	if u, _ := f.store.User(ctx, "alice"); len(u.TOTP.Recovery) != 9 {
		t.Fatalf("%d codes left, want 9", len(u.TOTP.Recovery))
	}
	if _, err := f.signIn("192.0.2.1", accounts.Credentials{RecoveryCode: code}); !errors.Is(err, accounts.ErrBadSecondFactor) {
		t.Fatalf("the same recovery code again: %v", err)
	}
	if _, err := f.signIn("192.0.2.1", accounts.Credentials{RecoveryCode: "0000-0000-0000-0000"}); !errors.Is(err, accounts.ErrBadSecondFactor) {
		t.Fatalf("an unknown recovery code: %v", err)
	}
	if _, err := f.signIn("192.0.2.1", accounts.Credentials{RecoveryCode: f.codes[4]}); err != nil {
		t.Fatalf("another recovery code: %v", err)
	}
}

// TestWrongCodesLockOut: wrong codes count with wrong passwords, under the
// same limits, and the lock holds for the right code too.
func TestWrongCodesLockOut(t *testing.T) {
	f := newTOTPService(t)
	f.enrol(t)
	_, _ = f.signIn("192.0.2.1", accounts.Credentials{Username: "alice", Password: "a wrong password"})
	for i := 0; i < 2; i++ { // testRegulation: 3 failures lock the name
		if _, err := f.signIn("192.0.2.1", accounts.Credentials{TOTP: "000000"}); !errors.Is(err, accounts.ErrBadSecondFactor) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	_, err := f.signIn("192.0.2.1", accounts.Credentials{TOTP: f.code(t, 0)})
	var e *accounts.Error
	if !errors.As(err, &e) || e.Code != accounts.Locked || e.RetryAfter <= 0 {
		t.Fatalf("right code after three failures: %v, want Locked", err)
	}
	// The form's second step is under the same lock.
	u, _ := f.store.User(context.Background(), "alice")
	ch, _ := f.svc.Challenge(u)
	if _, _, err := f.svc.SignInChallenge(context.Background(), "192.0.2.1", ch, f.code(t, 0), ""); accounts.ErrorCode(err) != accounts.Locked {
		t.Fatalf("the second step while locked: %v, want Locked", err)
	}
	if _, _, err := f.svc.SignInChallenge(context.Background(), "192.0.2.1", "v1.forged.AAAA", f.code(t, 0), ""); !errors.Is(err, accounts.ErrChallengeExpired) {
		t.Fatalf("a forged challenge: %v", err)
	}
}

func TestChallenge(t *testing.T) {
	ctx := context.Background()
	f := newTOTPService(t)
	f.enrol(t)
	u, _, err := f.svc.SignIn(ctx, "192.0.2.1", accounts.Credentials{Username: "alice", Password: "alice password 1"})
	if !errors.Is(err, accounts.ErrSecondFactorRequired) || u.Name != "alice" {
		t.Fatalf("password step: %v, %q", err, u.Name)
	}
	ch, err := f.svc.Challenge(u)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ch, "alice password 1") || strings.Contains(ch, "alice") {
		t.Fatal("the challenge shows the password or the name")
	}
	if who, _, err := f.svc.SignInChallenge(ctx, "192.0.2.1", ch, "000000", ""); !errors.Is(err, accounts.ErrBadSecondFactor) || who.Name != "alice" {
		t.Fatalf("a wrong code: %v (user %q, for the next challenge)", err, who.Name)
	}
	// The challenge is spent by the wrong code: the next try needs the
	// fresh one the page gets.
	if _, _, err := f.svc.SignInChallenge(ctx, "192.0.2.1", ch, f.code(t, 0), ""); !errors.Is(err, accounts.ErrChallengeExpired) {
		t.Fatalf("a challenge after a wrong code: %v", err)
	}
	ch, _ = f.svc.Challenge(u)
	got, amr, err := f.svc.SignInChallenge(ctx, "192.0.2.1", ch, f.code(t, 0), "")
	if err != nil || got.Name != "alice" || !slices.Equal(amr, []string{"pwd", "otp"}) {
		t.Fatalf("the right code: %q %v %v", got.Name, amr, err)
	}
	if _, _, err := f.svc.SignInChallenge(ctx, "192.0.2.1", ch, f.code(t, 1), ""); !errors.Is(err, accounts.ErrChallengeExpired) {
		t.Fatalf("the challenge a second time: %v", err)
	}

	t.Run("expires after five minutes", func(t *testing.T) {
		ch, _ := f.svc.Challenge(u)
		f.clock.advance(accounts.ChallengeTTL + time.Second)
		if _, _, err := f.svc.SignInChallenge(ctx, "192.0.2.1", ch, f.code(t, 0), ""); !errors.Is(err, accounts.ErrChallengeExpired) {
			t.Fatalf("an old challenge: %v", err)
		}
	})
	t.Run("void after a password change", func(t *testing.T) {
		ch, _ := f.svc.Challenge(u)
		if err := f.svc.SetPassword(ctx, "alice", "alice password 2"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.SignInChallenge(ctx, "192.0.2.1", ch, f.code(t, 0), ""); !errors.Is(err, accounts.ErrChallengeExpired) {
			t.Fatalf("a challenge from before the change: %v", err)
		}
	})
	t.Run("recovery code on the second step", func(t *testing.T) {
		f.clock.advance(mfa.Period)
		u, _ := f.store.User(ctx, "alice")
		ch, _ := f.svc.Challenge(u)
		if _, _, err := f.svc.SignInChallenge(ctx, "192.0.2.1", ch, "", f.codes[0]); err != nil {
			t.Fatalf("recovery code: %v", err)
		}
	})
}

func TestDisableAndReset(t *testing.T) {
	ctx := context.Background()
	f := newTOTPService(t)
	f.enrol(t)
	u, _ := f.store.User(ctx, "alice")
	var sessions []string
	for i := 0; i < 3; i++ {
		tok, _, err := f.svc.StartSession(ctx, u, []string{"pwd", "otp"})
		if err != nil {
			t.Fatal(err)
		}
		id, _ := f.tokens.SessionOf(tok)
		sessions = append(sessions, id)
	}
	if err := f.svc.DisableTOTP(ctx, "192.0.2.1", "alice", "wrong password", f.code(t, 0), sessions[1]); !errors.Is(err, accounts.ErrBadPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := f.svc.DisableTOTP(ctx, "192.0.2.1", "alice", "alice password 1", "000000", sessions[1]); !errors.Is(err, accounts.ErrBadSecondFactor) {
		t.Fatalf("wrong code: %v", err)
	}
	if err := f.svc.DisableTOTP(ctx, "192.0.2.1", "alice", "alice password 1", f.codes[9], sessions[1]); err != nil {
		t.Fatalf("with a recovery code: %v", err)
	}
	u, _ = f.store.User(ctx, "alice")
	if u.TOTPEnabled() || len(u.TOTP.Recovery) != 0 || u.TOTP.Secret != "" {
		t.Fatalf("after disable: %+v", u.TOTP)
	}
	for i, id := range sessions {
		if live, _ := f.store.SessionLive(ctx, id, "alice"); live != (i == 1) {
			t.Errorf("session %d live = %v; only the one asking stays", i, live)
		}
	}
	if amr, err := f.signIn("192.0.2.1", accounts.Credentials{}); err != nil || !slices.Equal(amr, []string{"pwd"}) {
		t.Fatalf("password alone after disable: %v %v", amr, err)
	}
	if err := f.svc.DisableTOTP(ctx, "192.0.2.1", "alice", "alice password 1", "123456", ""); !errors.Is(err, accounts.ErrTOTPNotEnabled) {
		t.Fatalf("disable when off: %v", err)
	}

	// The admin reset, for a lost device: off, and every session ended.
	f.secret = ""
	f.enrol(t)
	tok, _, _ := f.svc.StartSession(ctx, u, []string{"pwd", "otp"})
	id, _ := f.tokens.SessionOf(tok)
	if err := f.svc.ResetTOTP(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if u, _ := f.store.User(ctx, "alice"); u.TOTPEnabled() {
		t.Fatal("still on after reset")
	}
	if live, _ := f.store.SessionLive(ctx, id, "alice"); live {
		t.Fatal("a session outlived the reset")
	}
	if err := f.svc.ResetTOTP(ctx, "alice"); !errors.Is(err, accounts.ErrTOTPNotEnabled) {
		t.Fatalf("reset when off: %v", err)
	}
}

// TestSecretRotation: after AUTHGATE_SECRET rotates (the old one in
// AUTHGATE_SECRET_PREVIOUS), a secret sealed before still works, and is
// sealed again under the new key at its next use.
func TestSecretRotation(t *testing.T) {
	ctx := context.Background()
	before := newTOTPService(t, sealOld)
	before.enrol(t)
	sealed, _ := before.store.User(ctx, "alice")

	after := newTOTPService(t, sealNew, sealOld)
	after.clock.t = before.clock.now()
	after.secret, after.codes = before.secret, before.codes
	if err := after.store.UpdateUser(ctx, sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := after.signIn("192.0.2.1", accounts.Credentials{TOTP: after.code(t, 0)}); err != nil {
		t.Fatalf("a secret sealed under the previous key: %v", err)
	}
	resealed, _ := after.store.User(ctx, "alice")
	if resealed.TOTP.Secret == sealed.TOTP.Secret {
		t.Fatal("not sealed again under the current key")
	}
	sNew, _ := mfa.NewSealer(sealNew)
	if _, stale, err := sNew.Open(resealed.TOTP.Secret, "totp:alice"); err != nil || stale {
		t.Fatalf("the resealed secret does not open with the current key alone: %v, stale %v", err, stale)
	}
}

// TestBasicRefusesTOTPUsers: Basic credentials cannot carry a code, so the
// right password of a TOTP user does not pass /verify, cached or not.
func TestBasicRefusesTOTPUsers(t *testing.T) {
	ctx := context.Background()
	f := newTOTPService(t)
	if _, ok, err := f.svc.CheckBasic(ctx, "192.0.2.1", "alice", "alice password 1"); !ok || err != nil {
		t.Fatalf("before TOTP: %v %v", ok, err)
	}
	f.enrol(t) // the cached credentials must not outlive this
	_, ok, err := f.svc.CheckBasic(ctx, "192.0.2.1", "alice", "alice password 1")
	if ok || !errors.Is(err, verify.ErrSecondFactorRequired) {
		t.Fatalf("after TOTP: ok %v, err %v", ok, err)
	}
}

// TestPendingSetUpBelongsToItsSession: only the session that began a
// set-up may see its secret again or confirm it, within PendingTTL; wrong
// first codes count toward the lockout; a confirmation ends the other
// (password-only) sessions.
func TestPendingSetUpBelongsToItsSession(t *testing.T) {
	ctx := context.Background()
	f := newTOTPService(t)
	u, _ := f.store.User(ctx, "alice")
	tok, _, _ := f.svc.StartSession(ctx, u, []string{"pwd"})
	other, _ := f.tokens.SessionOf(tok)
	secret, _, err := f.svc.BeginTOTP(ctx, "192.0.2.1", "alice", "alice password 1", "s1")
	if err != nil {
		t.Fatal(err)
	}
	code, _ := mfa.Code(secret, f.clock.now())
	if _, _, err := f.svc.PendingTOTP(ctx, "alice", "s2"); !errors.Is(err, accounts.ErrTOTPNotPending) {
		t.Fatalf("another session sees the pending secret: %v", err)
	}
	if _, err := f.svc.ConfirmTOTP(ctx, "192.0.2.1", "alice", code, "s2"); !errors.Is(err, accounts.ErrTOTPNotPending) {
		t.Fatalf("another session confirms: %v", err)
	}
	for i := 0; i < testRegulation.MaxFailures; i++ {
		if _, err := f.svc.ConfirmTOTP(ctx, "192.0.2.1", "alice", "000000", "s1"); !errors.Is(err, accounts.ErrBadSetupCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := f.svc.ConfirmTOTP(ctx, "192.0.2.1", "alice", code, "s1"); accounts.ErrorCode(err) != accounts.Locked {
		t.Fatalf("the right code after %d wrong ones: %v, want Locked", testRegulation.MaxFailures, err)
	}
	f.clock.advance(accounts.PendingTTL + time.Second) // the lock outlasts this; the set-up does not
	if _, _, err := f.svc.PendingTOTP(ctx, "alice", "s1"); !errors.Is(err, accounts.ErrTOTPNotPending) {
		t.Fatalf("an old set-up: %v", err)
	}
	f.clock.advance(time.Hour)
	secret, _, _ = f.svc.BeginTOTP(ctx, "192.0.2.1", "alice", "alice password 1", "s1")
	code, _ = mfa.Code(secret, f.clock.now())
	if _, err := f.svc.ConfirmTOTP(ctx, "192.0.2.1", "alice", code, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ConfirmTOTP(ctx, "192.0.2.1", "alice", code, "s1"); !errors.Is(err, accounts.ErrTOTPEnabled) {
		t.Fatalf("confirming twice: %v", err)
	}
	if live, _ := f.store.SessionLive(ctx, other, "alice"); live {
		t.Fatal("a password-only session outlived turning TOTP on")
	}
}

// TestRecoveryCodesStayUsed: a used recovery code is refused for good,
// even after a write of an older copy of the account record.
func TestRecoveryCodesStayUsed(t *testing.T) {
	ctx := context.Background()
	f := newTOTPService(t)
	f.enrol(t)
	before, _ := f.store.User(ctx, "alice") // an older copy, with every code
	if _, err := f.signIn("192.0.2.1", accounts.Credentials{RecoveryCode: f.codes[0]}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.UpdateUser(ctx, before); err != nil { // a racing writer
		t.Fatal(err)
	}
	f.clock.advance(48 * time.Hour)
	if _, err := f.signIn("192.0.2.1", accounts.Credentials{RecoveryCode: f.codes[0]}); !errors.Is(err, accounts.ErrBadSecondFactor) {
		t.Fatalf("a used recovery code came back: %v", err)
	}
}
