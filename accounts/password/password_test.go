package password

import (
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// fastParams keep tests quick; the format and code path are the same.
var fastParams = Params{MemoryKiB: 64, Time: 1, Threads: 1}

func TestCheck(t *testing.T) {
	cases := []struct {
		pw   string
		want error
	}{
		{"short", ErrTooShort},
		{"password", ErrCommon},
		{"PASSWORD", ErrCommon},
		{"12345678", ErrCommon},
		{"correct horse battery", nil},
		{strings.Repeat("x", MaxLength+1), ErrTooLong},
		{strings.Repeat("é", 500), nil}, // 1000 bytes, any characters
	}
	for _, tc := range cases {
		if err := Check(tc.pw); !errors.Is(err, tc.want) {
			t.Errorf("Check(%.20q) = %v, want %v", tc.pw, err, tc.want)
		}
	}
}

func TestHasherArgon2id(t *testing.T) {
	h, err := New(fastParams, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	long := strings.Repeat("p", 1000)
	hash, err := h.Hash(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", hash)
	}
	if ok, err := h.Verify(ctx, hash, long); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	// Never truncated: a password differing only in its last byte fails.
	if ok, _ := h.Verify(ctx, hash, long[:999]+"q"); ok {
		t.Fatal("password differing at byte 1000 accepted")
	}
	if ok, _ := h.Verify(ctx, "", long); ok {
		t.Fatal("empty hash (unknown user) accepted")
	}
}

func TestHasherBcrypt(t *testing.T) {
	h, _ := New(fastParams, 1)
	b, _ := bcrypt.GenerateFromPassword([]byte("hunter2hunter2"), bcrypt.MinCost)
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		hash := prefix + string(b[4:])
		if ok, err := h.Verify(context.Background(), hash, "hunter2hunter2"); !ok || err != nil {
			t.Errorf("%s: %v %v", prefix, ok, err)
		}
		if ok, _ := h.Verify(context.Background(), hash, "wrong"); ok {
			t.Errorf("%s: wrong password accepted", prefix)
		}
	}
}

func TestDefaultParamsMatchOWASP(t *testing.T) {
	h, err := New(DefaultParams, 1)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := h.Hash(context.Background(), "correct horse battery")
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("default hash %q", hash)
	}
}

// TestHashParametersBounded guards against hashes that make one login
// allocate gigabytes (argon2 memory exhaustion; Authelia issue #1044, where
// 1 GiB per attempt ran a host out of memory).
func TestHashParametersBounded(t *testing.T) {
	for _, bad := range []string{
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=255$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$$",
		"$1$md5$",
		"plaintext",
	} {
		if err := CheckHash(bad); err == nil {
			t.Errorf("CheckHash(%q) accepted", bad)
		}
	}
	if _, err := New(Params{MemoryKiB: 1 << 30, Time: 1, Threads: 1}, 1); err == nil {
		t.Error("NewHasher accepted 1 TiB of memory")
	}
}

// TestHasherConcurrencyCap: hashes beyond the cap wait (and give up with
// the request) instead of each taking argon2's memory at once. Guards against
// memory exhaustion under many logins (Authelia issue #1044).
func TestHasherConcurrencyCap(t *testing.T) {
	h, _ := New(fastParams, 1)
	h.sem <- struct{}{} // hold the only slot
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Verify(ctx, "", "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify with the slot held = %v, want it to wait and then give up", err)
	}
	<-h.sem
}

// BenchmarkPasswordHash is one sign-in's cost at the default argon2id
// parameters (19 MiB, t=2, p=1).
func BenchmarkPasswordHash(b *testing.B) {
	h, err := New(DefaultParams, 1)
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
