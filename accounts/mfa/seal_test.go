package mfa

import (
	"bytes"
	"strings"
	"testing"
)

var (
	oldSecret = []byte("previous-signing-secret-0123456789abcdef")
	newSecret = []byte("current-signing-secret-fedcba9876543210")
)

func TestSealRoundTrip(t *testing.T) {
	s, err := NewSealer(newSecret)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal([]byte("JBSWY3DPEHPK3PXP"), "totp:alice")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "JBSWY3DPEHPK3PXP") {
		t.Fatal("sealed value shows the secret")
	}
	plain, stale, err := s.Open(sealed, "totp:alice")
	if err != nil || stale || string(plain) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Open = %q, %v, %v", plain, stale, err)
	}
	again, _ := s.Seal([]byte("JBSWY3DPEHPK3PXP"), "totp:alice")
	if again == sealed {
		t.Error("two seals of one value alike: the nonce is not fresh")
	}
}

func TestSealRefuses(t *testing.T) {
	s, _ := NewSealer(newSecret)
	sealed, _ := s.Seal([]byte("secret"), "totp:alice")
	other, _ := NewSealer([]byte("another-signing-secret-0123456789abcdef"))
	flipped := []byte(sealed)
	flipped[len(flipped)-3] ^= 1
	for name, tc := range map[string]struct {
		s       *Sealer
		sealed  string
		binding string
	}{
		"another user":     {s, sealed, "totp:bob"},
		"another purpose":  {s, sealed, "challenge:alice"},
		"another key":      {other, sealed, "totp:alice"},
		"altered":          {s, string(flipped), "totp:alice"},
		"no version":       {s, strings.TrimPrefix(sealed, "v1."), "totp:alice"},
		"truncated":        {s, sealed[:12], "totp:alice"},
		"empty":            {s, "", "totp:alice"},
		"not base64":       {s, "v1.abcd.!!!", "totp:alice"},
		"short ciphertext": {s, "v1." + strings.Split(sealed, ".")[1] + ".AAAA", "totp:alice"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := tc.s.Open(tc.sealed, tc.binding); err == nil {
				t.Fatal("opened")
			}
		})
	}
}

// After AUTHGATE_SECRET rotates (the old one moves to
// AUTHGATE_SECRET_PREVIOUS), a value sealed before still opens, and says it
// should be sealed again; sealed again, it opens without the old secret.
func TestSealRotation(t *testing.T) {
	before, _ := NewSealer(oldSecret)
	sealed, _ := before.Seal([]byte("JBSWY3DPEHPK3PXP"), "totp:alice")

	after, _ := NewSealer(newSecret, oldSecret)
	plain, stale, err := after.Open(sealed, "totp:alice")
	if err != nil || !stale || string(plain) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Open after rotation = %q, stale %v, %v", plain, stale, err)
	}
	resealed, _ := after.Seal(plain, "totp:alice")

	onlyNew, _ := NewSealer(newSecret)
	if _, _, err := onlyNew.Open(sealed, "totp:alice"); err == nil {
		t.Fatal("the old seal opened without the old secret")
	}
	plain, stale, err = onlyNew.Open(resealed, "totp:alice")
	if err != nil || stale || !bytes.Equal(plain, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatalf("Open of the resealed value = %q, stale %v, %v", plain, stale, err)
	}
}

func FuzzOpen(f *testing.F) {
	s, _ := NewSealer(newSecret)
	sealed, _ := s.Seal([]byte("x"), "b")
	f.Add(sealed)
	f.Add("v1..")
	f.Add("v1.00000000.")
	f.Fuzz(func(t *testing.T, in string) {
		plain, _, err := s.Open(in, "b")
		if err == nil && in != sealed && string(plain) != "x" {
			t.Fatalf("forged %q opened to %q", in, plain)
		}
	})
}
