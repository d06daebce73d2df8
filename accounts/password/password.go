// Package password owns password hashing: argon2id for new hashes, bcrypt
// (and argon2id) hashes from a users file checked, bounds on the cost a
// stored hash may ask for, the common-password list new passwords are
// checked against, and the semaphore that keeps a login flood from taking
// every processor. It imports nothing of authgate.
package password

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Password length limits, in bytes. The upper bound keeps a single login
// from costing more than hashing a normal password; nothing is truncated.
const (
	MinLength = 8
	MaxLength = 1024
)

// Errors that explain why a password was refused. They are safe to show.
var (
	ErrTooShort = fmt.Errorf("password must be at least %d characters", MinLength)
	ErrTooLong  = fmt.Errorf("password must be at most %d bytes", MaxLength)
	ErrCommon   = errors.New("password is one of the most common passwords; choose another")
	ErrBadHash  = errors.New("unsupported or malformed password hash")
)

// commonPasswords is SecLists' 10k most common passwords
// (Passwords/Common-Credentials/10-million-password-list-top-10000.txt,
// MIT licence; see NOTICE-common-passwords.md), compared case-insensitively.
//
//go:embed common-passwords.txt
var commonPasswordsFile []byte

var commonPasswords = func() map[string]struct{} {
	m := make(map[string]struct{}, 10000)
	sc := bufio.NewScanner(bytes.NewReader(commonPasswordsFile))
	for sc.Scan() {
		m[strings.ToLower(sc.Text())] = struct{}{}
	}
	return m
}()

// Check says why a new password is unacceptable, or nil.
func Check(pw string) error {
	switch {
	case len([]rune(pw)) < MinLength:
		return ErrTooShort
	case len(pw) > MaxLength:
		return ErrTooLong
	}
	if _, common := commonPasswords[strings.ToLower(pw)]; common {
		return ErrCommon
	}
	return nil
}

// Params are argon2id cost parameters.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultParams is OWASP's argon2id baseline (m=19 MiB, t=2, p=1): the
// gate's default, unless AUTHGATE_ARGON2_* say otherwise.
var DefaultParams = Params{MemoryKiB: 19456, Time: 2, Threads: 1}

// Upper bounds for parameters read from a stored hash. A users file with
// m=4194304 would otherwise let one login allocate 4 GiB (the argon2 memory
// exhaustion class of bugs).
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 16
	maxThreads   = 16
)

const (
	saltLen = 16
	keyLen  = 32
)

// Hasher hashes and checks passwords. At most concurrency hashes run at
// once, so a login flood queues instead of exhausting memory or starving
// /verify of CPU.
type Hasher struct {
	params Params
	sem    chan struct{}
	dummy  string
	// checked counts the passwords checked (dummy included): what a
	// brute-force limit must bound, and what tests count.
	checked atomic.Uint64
}

// New builds a Hasher; concurrency <= 0 means GOMAXPROCS-1 (at
// least 1): one processor is always left to /verify, so a login flood
// slows logins, not every proxied request.
func New(p Params, concurrency int) (*Hasher, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if concurrency <= 0 {
		concurrency = max(1, runtime.GOMAXPROCS(0)-1)
	}
	h := &Hasher{params: p, sem: make(chan struct{}, concurrency)}
	d, err := h.hash("authgate dummy password for unknown users")
	if err != nil {
		return nil, err
	}
	h.dummy = d
	return h, nil
}

// Checked is how many passwords this Hasher has checked against a hash,
// including the dummy checks for unknown names.
func (h *Hasher) Checked() uint64 { return h.checked.Load() }

// Params returns the parameters new hashes use.
func (h *Hasher) Params() Params { return h.params }

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns an argon2id PHC string for pw.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash(pw)
}

func (h *Hasher) hash(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := h.params
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify checks pw against an encoded hash (argon2id PHC or bcrypt). An
// empty encoded hash means "no such user": a dummy hash is checked so the
// answer takes as long as for a real account, and false is returned.
func (h *Hasher) Verify(ctx context.Context, encoded, pw string) (bool, error) {
	if len(pw) > MaxLength {
		return false, nil
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	h.checked.Add(1)
	if encoded == "" {
		_, _ = verifyHash(h.dummy, pw)
		return false, nil
	}
	return verifyHash(encoded, pw)
}

func verifyHash(encoded, pw string) (bool, error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		a, err := parseArgon2id(encoded)
		if err != nil {
			return false, err
		}
		got := argon2.IDKey([]byte(pw), a.salt, a.p.Time, a.p.MemoryKiB, a.p.Threads, uint32(len(a.key)))
		return subtle.ConstantTimeCompare(got, a.key) == 1, nil
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(pw))
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword), errors.Is(err, bcrypt.ErrPasswordTooLong):
			return false, nil
		default:
			return false, fmt.Errorf("%w: %w", ErrBadHash, err)
		}
	}
	return false, ErrBadHash
}

type argon2Hash struct {
	p         Params
	salt, key []byte
}

// parseArgon2id reads "$argon2id$v=19$m=..,t=..,p=..$salt$key" and refuses
// parameters beyond the bounds above.
func parseArgon2id(s string) (argon2Hash, error) {
	var a argon2Hash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return a, ErrBadHash
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return a, ErrBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return a, ErrBadHash
		}
		switch k {
		case "m":
			a.p.MemoryKiB = uint32(n)
		case "t":
			a.p.Time = uint32(n)
		case "p":
			if n > 255 {
				return a, ErrBadHash
			}
			a.p.Threads = uint8(n)
		default:
			return a, ErrBadHash
		}
	}
	if err := a.p.Check(); err != nil {
		return a, fmt.Errorf("%w: %w", ErrBadHash, err)
	}
	var err error
	if a.salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(a.salt) < 8 {
		return a, ErrBadHash
	}
	if a.key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(a.key) < 16 || len(a.key) > 128 {
		return a, ErrBadHash
	}
	return a, nil
}

// CheckHash reports whether encoded is a hash this package can verify; used
// when loading a users file so a typo fails at start, not at login.
func CheckHash(encoded string) error {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		_, err := parseArgon2id(encoded)
		return err
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		if _, err := bcrypt.Cost([]byte(encoded)); err != nil {
			return fmt.Errorf("%w: %w", ErrBadHash, err)
		}
		return nil
	}
	return ErrBadHash
}

// Check validates argon2id parameters without hashing anything: those of
// the configuration and those a stored hash asks for alike.
func (p Params) Check() error {
	if p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB || p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Threads > maxThreads {
		return fmt.Errorf("argon2id parameters out of range (memory 8*threads..%d KiB, time 1..%d, threads 1..%d)", maxMemoryKiB, maxTime, maxThreads)
	}
	return nil
}

// Describe says what an encoded hash costs, for people ("bcrypt cost 10",
// "argon2id m=19456 t=2 p=1"), and whether it costs what new hashes with
// p cost. A login's time tells whether an account exists when the two
// differ: unknown names are checked against a hash with p.
func Describe(encoded string, p Params) (desc string, same bool) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		a, err := parseArgon2id(encoded)
		if err != nil {
			return "unreadable argon2id", false
		}
		return fmt.Sprintf("argon2id m=%d t=%d p=%d", a.p.MemoryKiB, a.p.Time, a.p.Threads), a.p == p
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		cost, err := bcrypt.Cost([]byte(encoded))
		if err != nil {
			return "unreadable bcrypt", false
		}
		return fmt.Sprintf("bcrypt cost %d", cost), false
	}
	return "unknown kind", false
}
