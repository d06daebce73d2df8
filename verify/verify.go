package verify

import (
	"context"
	"errors"
	"fmt"
	"github.com/authgate/authgate/verify/forwarded"
	"github.com/authgate/authgate/verify/redirect"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authgate/authgate/verify/assertion"
	"github.com/authgate/authgate/verify/cookie"
	"github.com/authgate/authgate/verify/policy"
	"github.com/authgate/authgate/verify/rules"
)

// refusalReason is the Reason of each policy refusal.
var refusalReason = [...]Reason{
	policy.None:       ReasonOK,
	policy.Unreadable: ReasonRuleDenied,
	policy.Users:      ReasonUsers,
	policy.Groups:     ReasonGroups,
}

// SessionChecker answers "is this session still live?". It is the only
// thing /verify needs from the session store. ok=false with a nil error
// means the session is gone (logged out, expired, evicted); a non-nil error
// means the store could not answer, and the request is refused all the same.
type SessionChecker interface {
	SessionLive(ctx context.Context, id, user string) (ok bool, err error)
}

// Identity is what /verify tells the proxy about an allowed request.
type Identity struct {
	User   string
	Email  string
	Name   string
	Groups []string
}

// BasicChecker checks HTTP Basic credentials sent straight to /verify (curl,
// CI clients). ok=false means wrong credentials; a *LockedError means too
// many failures (429); any other error means the check could not be made,
// and the request is refused.
type BasicChecker interface {
	CheckBasic(ctx context.Context, clientIP, user, password string) (id Identity, ok bool, err error)
}

// ErrSecondFactorRequired is a BasicChecker's answer for the right
// password of a user who has a second factor: Basic credentials cannot
// carry one, so they are refused (401) like wrong ones.
var ErrSecondFactorRequired = errors.New("basic credentials cannot carry the second factor this user has")

// LockedError says an account or client is locked out after too many
// failures; /verify answers 429 with Retry-After.
type LockedError struct {
	RetryAfter time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("too many failed attempts; retry in %s", e.RetryAfter.Round(time.Second))
}

// Identity headers. They are set on every answer that lets a request pass,
// empty when unknown, so a proxy that copies them always overwrites whatever
// a client sent under the same names.
const (
	HeaderUser   = "Remote-User"
	HeaderEmail  = "Remote-Email"
	HeaderName   = "Remote-Name"
	HeaderGroups = "Remote-Groups"
)

// DefaultCookieName is the session cookie's name unless configured.
const DefaultCookieName = "authgate_session"

// DefaultTokenCacheSize is how many verified tokens a gate remembers unless
// configured: about 850 bytes each for a 360-character token, so about
// 85 MB when full.
const DefaultTokenCacheSize = 100_000

// Config is what a Verifier needs. Tokens and Sessions are required.
type Config struct {
	Tokens     *Tokens
	Sessions   SessionChecker
	Basic      BasicChecker // nil: Basic credentials are not accepted
	CookieName string       // empty: DefaultCookieName
	// LoginURL is the public login page; without it the gate never
	// redirects and never sends Location.
	LoginURL string
	// Domains limits which original URLs are put into rd.
	Domains redirect.Domains
	// Trusted decides whose forwarded headers are read.
	Trusted *forwarded.TrustedProxies
	Logger  *slog.Logger
	// TokenCacheSize bounds how many verified tokens are remembered; zero
	// or negative: no cache, every token is verified in full.
	TokenCacheSize int
	// Rules holds the access rules in force (AUTHGATE_RULES_FILE); nil,
	// or empty: every request must be signed in.
	Rules *rules.Holder
	// Observer, when set, sees every answer (metrics).
	Observer Observer
	// DecisionLog says which decisions get a log line (LogDenied, the
	// zero value: every answer but 200).
	DecisionLog DecisionLog
	// RequireMFA (AUTHGATE_TOTP_REQUIRED) asks every signed-in decision
	// for a session established with a second factor, as if every
	// location's verify URL said ?mfa=1. Allow rules still allow.
	RequireMFA bool
	// Assertions, when set (AUTHGATE_ASSERTION_KEY_FILE), adds a signed
	// identity assertion to every 200 for a signed-in identity.
	Assertions *assertion.Issuer
}

// Verifier serves /verify.
type Verifier struct {
	cfg     Config
	log     *slog.Logger
	wwwAuth []string
	cookie  cookie.Reader
	login   redirect.LoginURL
	tokens  *tokenCache // nil: every token is verified in full
	// policies caches parsed verify-URL queries. They come from proxy
	// configs, so there are few; a client-supplied query (a bare Caddy
	// uri) could vary them, so past the cap new ones are parsed every
	// time instead of being admitted (nothing is ever evicted).
	policies sync.Map // raw query -> policy
	policyN  atomic.Int32
}

const maxCachedPolicies = 1024

// New builds a Verifier.
func New(cfg Config) *Verifier {
	if cfg.CookieName == "" {
		cfg.CookieName = DefaultCookieName
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{cfg: cfg, log: log, wwwAuth: []string{`Bearer realm="authgate"`}, cookie: cookie.NewReader(cfg.CookieName),
		login: redirect.NewLoginURL(cfg.LoginURL)}
	if cfg.TokenCacheSize > 0 {
		v.tokens = newTokenCache(cfg.TokenCacheSize)
	}
	return v
}

// TokenCacheStats reports the verified-token cache: lookups answered from
// it, lookups that had to verify in full, and the tokens it holds (all
// zero without a cache).
func (v *Verifier) TokenCacheStats() (hits, misses uint64, entries int) {
	if v.tokens == nil {
		return 0, 0, 0
	}
	hits, misses = v.tokens.stats()
	return hits, misses, v.tokens.len()
}

// RetryAfter is the Retry-After value, in whole seconds rounded up (never
// 0), for a lock that lasts d more: every answer that carries a lock uses
// it, so /verify and /login agree to the second.
func RetryAfter(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}

var (
	bodyUnauthorized = []byte(`{"error":"unauthorized"}` + "\n")
	bodyForbidden    = []byte(`{"error":"forbidden"}` + "\n")
	bodyTooMany      = []byte(`{"error":"too many failed attempts"}` + "\n")
	bodyNeedMFA      = []byte(`{"error":"second factor required"}` + "\n")
)

// Handle is the /verify endpoint. Every path out of it is 200, 302, 401 or
// 403: a panic or a store failure is a refusal, never a pass and never a
// 5xx (nginx would turn a 5xx into an error page without a login redirect).
func (v *Verifier) Handle(c echo.Context) (err error) {
	r := c.Request()
	var (
		now time.Time
		o   outcome
	)
	o.reason = ReasonInternal
	defer func() {
		if p := recover(); p != nil {
			v.log.Error("verify: recovered from panic; request refused", "panic", p)
			o.reason, err = ReasonInternal, v.refuseAfterPanic(c, r)
		}
		code := c.Response().Status
		logIt := v.cfg.DecisionLog == LogAll || v.cfg.DecisionLog == LogDenied && code != http.StatusOK
		if v.cfg.Observer == nil && !logIt {
			return // an allowed request, nothing to report: no clock read
		}
		v.report(c, &o, code, logIt, now)
	}()
	// One clock read serves the token cache's expiry check and, with an
	// observer, the start of the duration: reading the clock is a good
	// part of a cache hit's cost on some machines.
	now = v.cfg.Tokens.now()
	if v.cfg.DecisionLog == LogAll && v.logsDecisions(r) {
		v.stampID(c) // every answer is logged: every answer carries its id
	}

	if v.cfg.Rules != nil {
		if set := v.cfg.Rules.Load(); set != nil {
			o.reason, err = v.ruled(c, r, set, now, &o)
			return err
		}
	}
	o.reason, err = v.signedIn(c, r, nil, now, &o)
	return err
}

// refuseAfterPanic answers a request whose decision panicked: 401, as
// a missing session would get (with the login URL), or, if building that
// answer panics too, a plain 401. /verify runs without Echo's recover
// middleware, and a panic reaching net/http would drop the connection
// (a 502 for the proxy).
func (v *Verifier) refuseAfterPanic(c echo.Context, r *http.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			v.log.Error("verify: recovered from panic while refusing", "panic", p)
			err = v.plainRefusal(c)
		}
	}()
	return v.unauthorized(c, r)
}

// report tells the observer (metrics) and the decision log about an
// answer; a panic in either is logged, never raised: the answer stands.
func (v *Verifier) report(c echo.Context, o *outcome, code int, logIt bool, start time.Time) {
	defer func() {
		if p := recover(); p != nil {
			v.log.Error("verify: recovered from panic while reporting a decision", "panic", p)
			_ = v.plainRefusal(c)
		}
	}()
	elapsed := time.Since(start)
	if v.cfg.Observer != nil {
		v.cfg.Observer.Verified(code, o.reason, elapsed)
	}
	if logIt {
		v.logDecision(c, o, elapsed)
	}
}

// plainRefusal is 401 with the JSON body, unless an answer was already
// written.
func (v *Verifier) plainRefusal(c echo.Context) error {
	if c.Response().Committed {
		return nil
	}
	return c.JSONBlob(http.StatusUnauthorized, bodyUnauthorized)
}

// signedIn answers a request that must carry valid credentials: then the
// deciding rule's groups and users (when a rule decided) and the verify
// URL's own rules must hold.
func (v *Verifier) signedIn(c echo.Context, r *http.Request, rule *rules.Rule, now time.Time, o *outcome) (Reason, error) {
	tok, id, err := v.authenticate(c, r, now)
	if err != nil {
		if _, plain := err.(*authError); !plain { // only a Basic check can lock
			var locked *LockedError
			if errors.As(err, &locked) {
				return ReasonLocked, v.tooMany(c, r, locked)
			}
		}
		return reasonOf(err), v.unauthorized(c, r)
	}
	o.user = id.User
	if tok != nil {
		o.session = tok.session
	}
	if rule != nil {
		switch {
		case !rule.AllowsUser(id.User):
			return ReasonUsers, v.refuse(c, http.StatusForbidden, bodyForbidden)
		case !rule.AllowsGroups(id.Groups):
			return ReasonGroups, v.refuse(c, http.StatusForbidden, bodyForbidden)
		}
	}
	mfa := v.cfg.RequireMFA || rule != nil && rule.MFA
	if r.URL.RawQuery != "" {
		p := v.policyOf(r.URL.RawQuery)
		if reason := refusalReason[p.Check(id.User, id.Groups)]; reason != ReasonOK {
			return reason, v.refuse(c, http.StatusForbidden, bodyForbidden)
		}
		mfa = mfa || p.MFA
	}
	if mfa && (tok == nil || !tok.otp) {
		// Checked after groups and users: signing in again with a code
		// would not help someone those refuse.
		return ReasonMFA, v.needSecondFactor(c, r)
	}
	var hv [4][]string
	if tok != nil {
		hv = tok.header // prepared when the token was first verified
	} else {
		hv = identityHeader(id) // Basic credentials
	}
	v.setIdentity(c, hv)
	if v.cfg.Assertions != nil {
		v.assert(c, r, tok, id, now)
	}
	return ReasonOK, c.NoContent(http.StatusOK)
}

// assert adds the signed identity assertion for the application the
// original request went to. Without a known origin (no trusted proxy
// described it) there is no audience, and no assertion; a failure to sign
// leaves it out too: the application then refuses, the gate does not.
func (v *Verifier) assert(c echo.Context, r *http.Request, tok *verifiedToken, id Identity, now time.Time) {
	if !forwarded.Describes(r.Header) {
		return // no original request, no audience: nothing to look up
	}
	var trusted bool
	if tok != nil {
		trusted = tok.trustedPeer(r, v.cfg.Trusted)
	} else {
		trusted = v.cfg.Trusted.Peer(r)
	}
	sch, host := forwarded.Origin(r, trusted)
	if sch == "" || host == "" {
		return
	}
	iss := v.cfg.Assertions
	s := assertion.Subject{User: id.User, Name: id.Name, Email: id.Email, Groups: id.Groups}
	var h *assertion.Handle
	if tok != nil {
		s.Session, s.AMR = tok.session, tok.amr
		if h = tok.assertions.Load(); h == nil {
			h = iss.Handle(s)
			tok.assertions.Store(h)
		}
	} else {
		h = iss.Handle(s) // Basic credentials
	}
	hv, err := iss.AssertWith(h, s, sch, host, now)
	if err != nil {
		v.log.Error("verify: identity assertion could not be signed", "err", err)
		return
	}
	c.Response().Header()[assertion.Header] = hv
}

func (v *Verifier) setIdentity(c echo.Context, hv [4][]string) {
	h := c.Response().Header()
	h[HeaderUser], h[HeaderEmail], h[HeaderName], h[HeaderGroups] = hv[0], hv[1], hv[2], hv[3]
}

// anonymous are the identity headers of an allowed request without
// credentials: all present, all empty, so a proxy that copies them still
// overwrites whatever the client sent.
var anonymous = identityHeader(Identity{})

// ruled applies the access rules, then, for an authenticated decision, the
// usual checks. The verify URL's own rules still apply after an allow and
// can only narrow it: a location whose verify URL names groups needs a
// signed-in member whatever the file says.
func (v *Verifier) ruled(c echo.Context, r *http.Request, set *rules.Set, now time.Time, o *outcome) (Reason, error) {
	d := v.decide(r, set)
	if d.Rule != nil {
		o.rule = d.Rule.Name
	}
	if v.log.Enabled(r.Context(), slog.LevelDebug) {
		v.log.Debug("verify: decision", "rule", d.RuleName(), "action", d.Action.String())
	}
	switch d.Action {
	case rules.Deny:
		return ReasonRuleDenied, v.refuse(c, http.StatusForbidden, bodyForbidden)
	case rules.Allow:
		if r.URL.RawQuery != "" && v.policyOf(r.URL.RawQuery).Narrows() {
			return v.signedIn(c, r, nil, now, o)
		}
		// Only a token names the user here: Basic credentials are not
		// checked on an allowed request, or anonymous traffic to a public
		// path could make the gate hash passwords, and stale credentials
		// sent to public assets would lock their account.
		hv, reason := anonymous, ReasonPublic
		if auth := forwarded.First(r.Header, "Authorization"); !forwarded.HasScheme(auth, "Basic") {
			if tok, err := v.live(r.Context(), v.requestToken(r, auth), now); err == nil {
				hv, reason = tok.header, ReasonOK
				o.user, o.session = tok.user, tok.session
				if v.cfg.Assertions != nil {
					v.assert(c, r, tok, tok.id, now)
				}
			}
		}
		v.setIdentity(c, hv)
		return reason, c.NoContent(http.StatusOK)
	}
	return v.signedIn(c, r, d.Rule, now, o)
}

// decide applies set to the request: the original request as the same
// trusted proxies describe it to OriginalRequest, and the client address,
// looked up only when a rule that names networks is reached.
func (v *Verifier) decide(r *http.Request, set *rules.Set) rules.Decision {
	req := rules.Request{ClientPending: true}
	peer, ok := forwarded.PeerAddr(r.RemoteAddr)
	if !ok {
		req.ClientPending = false // no address: no network matches
		return set.Decide(req)
	}
	trusted := v.cfg.Trusted.Contains(peer)
	if trusted {
		describe(r, &req)
	}
	d := set.Decide(req)
	if d.NeedClient {
		req.Client, req.ClientPending = v.cfg.Trusted.ClientOf(r, peer, trusted), false
		d = set.Decide(req)
	}
	return d
}

// describe fills req with the original request as the trusted proxy
// described it. The two dialects are read each on its own: X-Forwarded-
// Host/Uri/Method (Traefik, Caddy, the shipped nginx config) and
// X-Original-URL/Method (nginx, ingress-nginx). A proxy of one dialect
// passes a client's headers of the other through untouched (ingress-nginx
// forwards a client's X-Forwarded-Uri; Traefik a client's X-Original-URL),
// so when both are present they must describe the same request; when they
// do not, or a description is partial or unreadable, the request is
// Unsafe: no allow by host, path or method applies to it.
func describe(r *http.Request, req *rules.Request) {
	h := r.Header
	xfu, xou := forwarded.First(h, "X-Forwarded-Uri"), forwarded.First(h, "X-Original-Url")
	if xfu == "" && xou == "" {
		return // unknown: no description at all
	}
	req.Known = true
	method := func(primary string) string {
		if m := forwarded.First(h, primary); m != "" {
			return m
		}
		if m := forwarded.First(h, "X-Original-Method"); m != "" {
			return m
		}
		return r.Method
	}
	if xou != "" {
		_, host, uri, ok := forwarded.SplitURL(xou)
		if !ok || host == "" {
			req.Unsafe = true
			return
		}
		req.Host, req.Path, req.Method = host, uri, method("X-Original-Method")
		if xfu == "" {
			return
		}
		if xfh := forwarded.First(h, "X-Forwarded-Host"); xfu != uri || !strings.EqualFold(xfh, host) && xfh != "" ||
			!strings.EqualFold(method("X-Forwarded-Method"), req.Method) {
			req.Unsafe = true // the two descriptions disagree
		}
		return
	}
	req.Host, req.Path, req.Method = forwarded.First(h, "X-Forwarded-Host"), xfu, method("X-Forwarded-Method")
	if req.Host == "" {
		req.Unsafe = true // a path without a host
	}
}

// authenticate finds credentials in the request: a bearer token, else
// Basic credentials, else the session cookie. A request that presents a
// bearer token is judged on that token alone, never on a cookie beside it.
func (v *Verifier) authenticate(c echo.Context, r *http.Request, now time.Time) (*verifiedToken, Identity, error) {
	auth := forwarded.First(r.Header, "Authorization")
	if forwarded.HasScheme(auth, "Basic") && v.cfg.Basic != nil {
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, Identity{}, errBadCredentials
		}
		id, ok, err := v.cfg.Basic.CheckBasic(r.Context(), c.RealIP(), user, pass)
		if err != nil {
			if errors.Is(err, ErrSecondFactorRequired) {
				return nil, Identity{}, errMFA
			}
			var locked *LockedError
			if !errors.As(err, &locked) {
				v.log.Warn("verify: basic credentials could not be checked; request refused", "err", err)
			}
			return nil, Identity{}, err
		}
		if !ok {
			return nil, Identity{}, errBadCredentials
		}
		return nil, id, nil
	}
	tok, err := v.live(r.Context(), v.requestToken(r, auth), now)
	if err != nil {
		return nil, Identity{}, err
	}
	return tok, tok.id, nil
}

// requestToken is the token a request presents: the bearer token when the
// Authorization header uses that scheme, else the session cookie.
func (v *Verifier) requestToken(r *http.Request, auth string) string {
	if forwarded.HasScheme(auth, "Bearer") {
		return bearerValue(auth)
	}
	if v.tokens == nil {
		return v.cookie.Value(r, nil) // not a nil *tokenCache in an interface
	}
	return v.cookie.Value(r, v.tokens)
}

// live returns raw verified, if its session is live.
func (v *Verifier) live(ctx context.Context, raw string, now time.Time) (*verifiedToken, error) {
	if raw == "" {
		return nil, errNoCredentials
	}
	tok, err := v.token(raw, now)
	if err != nil {
		v.log.Debug("verify: token refused", "reason", err)
		return nil, errBadToken
	}
	// Asked on every request, cached token or not: a logout or a
	// revocation takes effect at once.
	ok, err := v.cfg.Sessions.SessionLive(ctx, tok.session, tok.user)
	if err != nil {
		v.log.Warn("verify: session store unavailable; request refused", "err", err)
		return nil, errStore
	}
	if !ok {
		if v.tokens != nil {
			v.tokens.forget(raw)
		}
		if v.cfg.Assertions != nil {
			v.cfg.Assertions.Forget(tok.session) // signed out: its assertions go
		}
		return nil, errSessionEnded
	}
	return tok, nil
}

// SessionEnded drops what the Verifier keeps for a session that a logout
// just ended (its identity assertions).
func (v *Verifier) SessionEnded(id string) {
	if v.cfg.Assertions != nil {
		v.cfg.Assertions.Forget(id)
	}
}

// SignedIn describes the live session a request carries.
type SignedIn struct {
	Identity
	Session string
	Expires time.Time
	AMR     []string // how the session was established: the token's amr
}

// SignedIn is the "is this request signed in" check for the gate's own
// pages and endpoints: the same token checks as /verify (bearer token, else
// the session cookie; full validation; session live), without Basic
// credentials and without any rule of a location.
func (v *Verifier) SignedIn(r *http.Request) (SignedIn, bool) {
	tok, err := v.live(r.Context(), v.requestToken(r, forwarded.First(r.Header, "Authorization")), v.cfg.Tokens.now())
	if err != nil {
		return SignedIn{}, false
	}
	return SignedIn{Identity: tok.id, Session: tok.session, Expires: tok.expires, AMR: tok.amr}, true
}

// token returns raw verified: from the cache when this exact string passed
// full validation before and has not expired since, else parsed in full
// (and remembered).
func (v *Verifier) token(raw string, now time.Time) (*verifiedToken, error) {
	if v.tokens != nil {
		if t := v.tokens.get(raw, now); t != nil {
			return t, nil
		}
	}
	c, err := v.cfg.Tokens.Parse(raw)
	if err != nil {
		return nil, err
	}
	t := newVerifiedToken(c)
	if v.tokens != nil {
		v.tokens.put(raw, t, now)
	}
	return t, nil
}

// policyOf returns the parsed rules of a verify-URL query.
func (v *Verifier) policyOf(rawQuery string) policy.Policy {
	if p, ok := v.policies.Load(rawQuery); ok {
		return p.(policy.Policy)
	}
	p := policy.Parse(rawQuery)
	if v.policyN.Load() < maxCachedPolicies {
		if _, loaded := v.policies.LoadOrStore(strings.Clone(rawQuery), p); !loaded {
			v.policyN.Add(1)
		}
	}
	return p
}

// tooMany answers Basic credentials of a locked name or address: 429 with
// Retry-After. nginx's auth_request (and ingress-nginx) turns any answer
// but 2xx, 401 and 403 into a 500, so callers of that dialect get 401 with
// the same Retry-After, which the shipped nginx config passes on.
func (v *Verifier) tooMany(c echo.Context, r *http.Request, locked *LockedError) error {
	h := c.Response().Header()
	h["Retry-After"] = []string{RetryAfter(locked.RetryAfter)}
	if forwarded.OriginalRequest(r, v.cfg.Trusted.Peer(r)).Caller == forwarded.CallerOriginalURL {
		h["Www-Authenticate"] = v.wwwAuth
		return v.refuse(c, http.StatusUnauthorized, bodyTooMany)
	}
	return v.refuse(c, http.StatusTooManyRequests, bodyTooMany)
}

// unauthorized answers a request without valid credentials: 302 to the
// login page for a browser navigation relayed by a proxy that forwards
// redirects (Traefik, Caddy), otherwise 401, with Location when a login URL
// is configured so nginx can redirect from error_page.
func (v *Verifier) unauthorized(c echo.Context, r *http.Request) error {
	h := c.Response().Header()
	h["Www-Authenticate"] = v.wwwAuth
	if v.cfg.LoginURL == "" {
		return v.refuse(c, http.StatusUnauthorized, bodyUnauthorized)
	}
	o := forwarded.OriginalRequest(r, v.cfg.Trusted.Peer(r))
	h["Location"] = []string{v.loginLocation(o)}
	// IsNavigation reads Accept: asked only where a 302 could follow.
	if v.redirects(r, o, o.Caller == forwarded.CallerForwarded && forwarded.IsNavigation(r, o)) {
		return v.refuse(c, http.StatusFound, nil)
	}
	return v.refuse(c, http.StatusUnauthorized, bodyUnauthorized)
}

// needSecondFactor answers a signed-in request whose session lacks the
// second factor its location requires. A browser navigation goes to the
// login page exactly as a missing session would (302, or 401 with Location
// for nginx), with mfa=1 so the page explains why; anything else is 403:
// signing in again with a code is something a person does, not a client.
func (v *Verifier) needSecondFactor(c echo.Context, r *http.Request) error {
	o := forwarded.OriginalRequest(r, v.cfg.Trusted.Peer(r))
	if v.cfg.LoginURL == "" || !forwarded.IsNavigation(r, o) {
		return v.refuse(c, http.StatusForbidden, bodyNeedMFA)
	}
	h := c.Response().Header()
	h["Www-Authenticate"] = v.wwwAuth
	h["Location"] = []string{redirect.WithParam(v.loginLocation(o), "mfa", "1")}
	if v.redirects(r, o, true) {
		return v.refuse(c, http.StatusFound, nil)
	}
	return v.refuse(c, http.StatusUnauthorized, bodyNeedMFA)
}

// loginLocation is the login URL with the original URL as rd, when it
// may be followed.
func (v *Verifier) loginLocation(o forwarded.Original) string {
	if o.Scheme == "" || o.Host == "" {
		return v.login.String()
	}
	uri := o.URI
	if uri == "" || uri[0] != '/' {
		uri = "/" + uri // an absolute URL's path starts with "/"
	}
	if !redirect.SafeOriginal(o.Scheme, o.Host, uri, v.cfg.Domains) {
		return v.login.String()
	}
	return v.login.WithOriginal(o.Scheme, o.Host, uri)
}

// redirects says whether a refusal that sends a browser to the login page
// is a 302 rather than a 401 with Location: only for a navigation relayed
// by a proxy that forwards redirects (Traefik, Caddy), unless the verify
// URL's on_fail says otherwise.
func (v *Verifier) redirects(r *http.Request, o forwarded.Original, navigation bool) bool {
	redirect := o.Caller == forwarded.CallerForwarded && navigation
	if r.URL.RawQuery != "" {
		switch v.policyOf(r.URL.RawQuery).OnFail {
		case policy.Force401:
			redirect = false
		case policy.Redirect:
			// Only where the proxy relays a 3xx: nginx would make it a 500.
			redirect = o.Caller != forwarded.CallerOriginalURL
		}
	}
	return redirect
}
