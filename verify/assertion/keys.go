// Package assertion owns the signed identity the gate hands to the
// applications behind it: the asymmetric keys (EC P-256 with ES256, or
// Ed25519 with EdDSA) read from PKCS#8 PEM files, their public JWKs and the
// JWKS document, and the Issuer that mints the short-lived assertion JWT of
// an allowed request, cached per session and audience so /verify does not
// sign on every request. The keys are separate from the session HMAC
// secret: an application that can check an assertion can never mint a
// session token.
package assertion

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/golang-jwt/jwt/v5"
)

// Key is a signing key and what the JWKS publishes of it.
type Key struct {
	signer crypto.Signer
	method jwt.SigningMethod
	jwk    JWK
}

// JWK is a public key as the JWKS document lists it (RFC 7517, 7518, 8037).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// ErrKeyType refuses keys other than EC P-256 and Ed25519 (RSA included:
// its signatures and keys are large, and two algorithms are enough).
var ErrKeyType = errors.New("want an EC P-256 (ES256) or Ed25519 (EdDSA) private key")

// ParsePEM reads one PKCS#8 private key ("BEGIN PRIVATE KEY").
func ParsePEM(data []byte) (*Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("PEM block %q: want a PKCS#8 \"PRIVATE KEY\" (authgate keygen writes one)", block.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("PKCS#8: %v", err)
	}
	return newKey(k)
}

func newKey(k any) (*Key, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("EC curve %s: %w", k.Curve.Params().Name, ErrKeyType)
		}
		pub, err := k.PublicKey.ECDH()
		if err != nil {
			return nil, err
		}
		raw := pub.Bytes() // 0x04 || X || Y, 32 bytes each
		key := &Key{signer: k, method: jwt.SigningMethodES256,
			jwk: JWK{Kty: "EC", Crv: "P-256", X: b64(raw[1:33]), Y: b64(raw[33:65]), Alg: "ES256", Use: "sig"}}
		key.jwk.Kid = Thumbprint(map[string]string{"crv": key.jwk.Crv, "kty": "EC", "x": key.jwk.X, "y": key.jwk.Y})
		return key, nil
	case ed25519.PrivateKey:
		pub := k.Public().(ed25519.PublicKey)
		key := &Key{signer: k, method: jwt.SigningMethodEdDSA,
			jwk: JWK{Kty: "OKP", Crv: "Ed25519", X: b64(pub), Alg: "EdDSA", Use: "sig"}}
		key.jwk.Kid = Thumbprint(map[string]string{"crv": "Ed25519", "kty": "OKP", "x": key.jwk.X})
		return key, nil
	}
	return nil, ErrKeyType
}

// Thumbprint is the RFC 7638 JWK thumbprint of a key's required members:
// base64url(SHA-256) of their JSON object, keys in lexicographic order, no
// whitespace.
func Thumbprint(required map[string]string) string {
	names := make([]string, 0, len(required))
	for n := range required {
		names = append(names, n)
	}
	sort.Strings(names)
	buf := []byte{'{'}
	for i, n := range names {
		if i > 0 {
			buf = append(buf, ',')
		}
		kn, _ := json.Marshal(n)
		vn, _ := json.Marshal(required[n])
		buf = append(append(append(buf, kn...), ':'), vn...)
	}
	buf = append(buf, '}')
	sum := sha256.Sum256(buf)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// LoadFile reads a key file written by "authgate keygen" (or openssl
// genpkey).
func LoadFile(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// JWK is the public half of k.
func (k *Key) JWK() JWK { return k.jwk }

// Kid is k's key id: its JWK thumbprint.
func (k *Key) Kid() string { return k.jwk.Kid }

// Generate returns a new PKCS#8 PEM private key: kind "ec" (P-256) or
// "ed25519".
func Generate(kind string) ([]byte, error) {
	var k any
	var err error
	switch kind {
	case "ec":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("key type %q: want ec or ed25519", kind)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// JWKS is the document GET /.well-known/jwks.json serves: the current key
// first, then the previous one (nil: none).
func JWKS(current, previous *Key) []byte {
	doc := struct {
		Keys []JWK `json:"keys"`
	}{Keys: []JWK{current.jwk}}
	if previous != nil {
		doc.Keys = append(doc.Keys, previous.jwk)
	}
	b, _ := json.Marshal(doc)
	return b
}
