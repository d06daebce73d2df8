package cli

import (
	"flag"
	"fmt"
	"io"

	"github.com/authgate/authgate/verify/assertion"
)

const keygenUsage = `usage: authgate keygen [-type ec|ed25519]

Writes a new PKCS#8 PEM private key to stdout, for
AUTHGATE_ASSERTION_KEY_FILE: ec (P-256, signs with ES256; the default) or
ed25519 (EdDSA).
`

// Keygen is "authgate keygen".
func Keygen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("authgate keygen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	kind := fs.String("type", "ec", "ec or ed25519")
	pos, err := Interspersed(fs, args)
	if err == flag.ErrHelp {
		fmt.Fprint(stdout, keygenUsage)
		return nil
	}
	if err != nil || len(pos) != 0 {
		return fmt.Errorf("keygen: %v\n%s", err, keygenUsage)
	}
	pem, err := assertion.Generate(*kind)
	if err != nil {
		return fmt.Errorf("keygen: %v", err)
	}
	_, err = stdout.Write(pem)
	return err
}
