package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// Sealer encrypts small values at rest (TOTP secrets, sign-in challenges)
// with AES-256-GCM under keys derived by HKDF-SHA256 from the gate's
// signing secrets: the current one seals, previous ones still open, so a
// rotation of AUTHGATE_SECRET does not lock anybody out of their second
// factor. Each value is bound to what it is for (its purpose and owner, as
// associated data), so a sealed value moved to another user or field does
// not open.
type Sealer struct {
	keys []sealKey // the first seals
}

type sealKey struct {
	id   string // a short hash of the derived key: which key sealed a value
	aead cipher.AEAD
}

// sealInfo separates this use of the signing secret from every other: the
// derived key is useless for signing tokens and the other way round.
const sealInfo = "authgate mfa seal v1"

// NewSealer derives the sealing keys from current and previous signing
// secrets.
func NewSealer(current []byte, previous ...[]byte) (*Sealer, error) {
	if len(current) == 0 {
		return nil, errors.New("mfa: a sealing secret is required")
	}
	s := &Sealer{}
	for _, secret := range append([][]byte{current}, previous...) {
		key, err := hkdf.Key(sha256.New, secret, nil, sealInfo, 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(key)
		s.keys = append(s.keys, sealKey{id: hex.EncodeToString(sum[:4]), aead: aead})
	}
	return s, nil
}

// ErrUnsealable: the value was not sealed by any key held, was altered, or
// is bound to something else.
var ErrUnsealable = errors.New("sealed value cannot be opened")

// Seal encrypts plain for binding (purpose and owner). The result is
// "v1.<key id>.<base64url(nonce || ciphertext)>".
func (s *Sealer) Seal(plain []byte, binding string) (string, error) {
	k := s.keys[0]
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := k.aead.Seal(nonce, nonce, plain, []byte(binding))
	return "v1." + k.id + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value sealed for binding. stale says it was sealed with
// a previous key: the caller seals it again under the current one.
func (s *Sealer) Open(sealed, binding string) (plain []byte, stale bool, err error) {
	rest, ok := strings.CutPrefix(sealed, "v1.")
	if !ok {
		return nil, false, ErrUnsealable
	}
	id, body, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, false, ErrUnsealable
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, false, ErrUnsealable
	}
	for i, k := range s.keys {
		if k.id != id || len(raw) < k.aead.NonceSize() {
			continue
		}
		n := k.aead.NonceSize()
		plain, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(binding))
		if err != nil {
			return nil, false, ErrUnsealable
		}
		return plain, i > 0, nil
	}
	return nil, false, ErrUnsealable
}
