package verify

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"github.com/authgate/authgate/verify/forwarded"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// DecisionLog says which /verify decisions get a log line.
type DecisionLog uint8

const (
	// LogDenied logs every answer but 200 (the default): refusals are
	// what people look for, and allowed requests then cost nothing.
	LogDenied DecisionLog = iota
	// LogNone logs no decision.
	LogNone
	// LogAll logs every decision.
	LogAll
)

// ParseDecisionLog reads none, denied or all.
func ParseDecisionLog(s string) (DecisionLog, bool) {
	switch s {
	case "denied":
		return LogDenied, true
	case "none":
		return LogNone, true
	case "all":
		return LogAll, true
	}
	return 0, false
}

// HeaderRequestID carries a request's id: taken from the caller when it is
// usable, sent back on the answer so the proxy can log the same id.
const HeaderRequestID = "X-Request-Id"

// outcome is what a decision log line says beyond the request itself.
type outcome struct {
	reason        Reason
	rule          string
	user, session string
}

// callerRequestID returns the caller's X-Request-Id when it is 1-128
// printable ASCII characters, without copying it.
func callerRequestID(r *http.Request) []string {
	v := r.Header[HeaderRequestID]
	if len(v) == 0 || len(v[0]) == 0 || len(v[0]) > 128 {
		return nil
	}
	for i := 0; i < len(v[0]); i++ {
		if c := v[0][i]; c < 0x21 || c > 0x7e {
			return nil
		}
	}
	return v[:1:1]
}

// stampID sets X-Request-Id on the answer: the caller's, else a new one.
// It is called for every answer that is logged, before it is written (a
// refusal, or any answer with LogAll): the id in the proxy's log and in
// the gate's is then the same. An allowed answer under LogDenied is not
// logged and carries none, so it costs nothing.
func (v *Verifier) stampID(c echo.Context) {
	h := c.Response().Header()
	if len(h[HeaderRequestID]) > 0 {
		return
	}
	if id := callerRequestID(c.Request()); id != nil {
		h[HeaderRequestID] = id
		return
	}
	// Only an id: unique enough among a gate's log lines, not a secret,
	// so no system call per refusal for crypto/rand.
	var b [16]byte
	hex.Encode(b[:], binary.BigEndian.AppendUint64(nil, rand.Uint64()))
	h[HeaderRequestID] = []string{string(b[:])}
}

// logsDecisions says whether this request's decision gets a line: the
// decision log wants it and the logger writes info lines. A refusal
// carries an X-Request-Id only then, so a gate that writes no such line
// (AUTHGATE_LOG_LEVEL=warn) makes no id for each of them.
func (v *Verifier) logsDecisions(r *http.Request) bool {
	return v.cfg.DecisionLog != LogNone && v.log.Enabled(r.Context(), slog.LevelInfo)
}

// refuse writes a refusal (a JSON body, or none for a redirect) with its
// request id.
func (v *Verifier) refuse(c echo.Context, status int, body []byte) error {
	if v.logsDecisions(c.Request()) {
		v.stampID(c)
	}
	if body == nil {
		return c.NoContent(status)
	}
	// Echo's JSONBlob would set Content-Type with a new slice each time.
	res := c.Response()
	res.Header()["Content-Type"] = contentTypeJSON
	res.WriteHeader(status)
	_, err := res.Write(body)
	return err
}

var contentTypeJSON = []string{echo.MIMEApplicationJSON}

// logDecision writes the decision's line: who asked what, the answer and
// why; never a token, a cookie, credentials or a query string; the session
// only as the first 8 hex characters of its SHA-256.
func (v *Verifier) logDecision(c echo.Context, o *outcome, elapsed time.Duration) {
	code := c.Response().Status
	r := c.Request()
	if !v.log.Enabled(r.Context(), slog.LevelInfo) {
		return // nothing below is worth computing for a discarded line
	}
	orig := forwarded.OriginalRequest(r, v.cfg.Trusted.Peer(r))
	path := orig.URI
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	session := ""
	if o.session != "" {
		sum := sha256.Sum256([]byte(o.session))
		session = hex.EncodeToString(sum[:4])
	}
	v.log.LogAttrs(r.Context(), slog.LevelInfo, "verify decision",
		slog.String("request_id", strings.Join(c.Response().Header()[HeaderRequestID], "")),
		slog.String("client_ip", v.cfg.Trusted.ClientIP(r)),
		slog.String("method", orig.Method),
		slog.String("host", orig.Host),
		slog.String("path", path),
		slog.Int("code", code),
		slog.String("reason", o.reason.String()),
		slog.String("rule", o.rule),
		slog.String("user", o.user),
		slog.String("session", session),
		slog.Duration("duration", elapsed),
	)
}
