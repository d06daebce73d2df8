package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/authgate/authgate/cmd/authgate/cli"
	"github.com/authgate/authgate/cmd/authgate/metrics"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/mfa"
	"github.com/authgate/authgate/accounts/password"
	"github.com/authgate/authgate/accounts/web"
	"github.com/authgate/authgate/verify"
	"github.com/authgate/authgate/verify/assertion"
	"github.com/authgate/authgate/verify/rules"
)

// run is the whole program; main only adds signals and the exit code.
// Tests call it with their own environment and writers.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "serve":
			args = args[1:]
		case "hash-password":
			return hashPassword(ctx, environ, stdin, stdout)
		case "users":
			return users(ctx, args[1:], environ, stdin, stdout)
		case "invites":
			return invites(ctx, args[1:], environ, stdout)
		case "rules":
			return cli.Rules(args[1:], stdout)
		case "keygen":
			return cli.Keygen(args[1:], stdout)
		case "version", "--version":
			return printVersion(stdout)
		case "help", "-h", "--help":
			fmt.Fprint(stdout, usage)
			return nil
		default:
			return fmt.Errorf("unknown command %q\n%s", args[0], usage)
		}
	}
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	srv, err := newServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.close()
	if srv.rules != nil {
		// SIGHUP reloads the rules file at once. Only with a rules file:
		// without one, SIGHUP keeps its usual meaning.
		signal.Notify(srv.rules.Reload, syscall.SIGHUP)
		defer signal.Stop(srv.rules.Reload)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return badVar("LISTEN", "%v", err)
	}
	floor := heapFloor(environ)
	defer runtime.KeepAlive(floor)
	return srv.serve(ctx, ln)
}

// heapFloorSize is the floor heapFloor puts under the garbage collector's
// heap goal.
const heapFloorSize = 16 << 20

// heapFloor keeps the collector from running every couple of megabytes.
// The gate's live heap is a few MB, so with GOGC=100 its goal sits at
// the runtime's 4 MB minimum and /verify traffic (about 2.5 KB per request,
// mostly net/http's) starts a collection every ~800 requests: 130 cycles
// per 100,000 requests against bare Echo's 47, each with fixed costs
// (stacks of every connection's goroutine, stop-the-world phases).
// A 16 MiB block without pointers, never written, raises the goal to
// about twice (16 MiB + live) without being scanned or made resident:
// the pages are never touched. Unlike a higher GOGC, it adds a constant,
// not a multiple of the live heap, so a login flood (19 MiB of argon2
// memory per hash in flight) gets 32 MiB more headroom, not five times
// the flood. Whoever sets GOGC or GOMEMLIMIT has tuned the collector
// themselves: no floor then.
func heapFloor(environ []string) []byte {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=") {
			return nil
		}
	}
	return make([]byte, heapFloorSize)
}

const usage = `usage: authgate [command]

commands:
  serve           run the gate (the default)
  hash-password   read a password on stdin, print its argon2id hash for AUTHGATE_USERS_FILE
  users           add, list, passwd, groups, delete, reset-link, totp-reset accounts in a bolt or redis store
  invites         create, list, revoke invites (AUTHGATE_REGISTRATION=invite)
  version         print the version, the commit and the Go version
  rules           check an access rules file (AUTHGATE_RULES_FILE), explain which rule decides a request
  keygen          print a new private key for AUTHGATE_ASSERTION_KEY_FILE (-type ec|ed25519)

configuration: AUTHGATE_* environment variables, see README.md
`

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// loadSecrets returns the signing key and previous keys, generating a key
// when none is configured.
func loadSecrets(cfg Config, log *slog.Logger) (verify.Secret, []verify.Secret, error) {
	var cur []byte
	switch {
	case cfg.SecretFile != "":
		b, err := os.ReadFile(cfg.SecretFile)
		if err != nil {
			return nil, nil, badVar("SECRET_FILE", "%v", err)
		}
		cur = []byte(strings.TrimRight(string(b), "\r\n"))
		if err := verify.CheckSecret(cur); err != nil {
			return nil, nil, badVar("SECRET_FILE", "%v", err)
		}
	case len(cfg.Secret) > 0:
		cur = cfg.Secret
		if err := verify.CheckSecret(cur); err != nil {
			return nil, nil, badVar("SECRET", "%v", err)
		}
	default:
		cur = make([]byte, 32)
		if _, err := rand.Read(cur); err != nil {
			return nil, nil, err
		}
		log.Warn("AUTHGATE_SECRET is not set: using a random signing key; every restart ends all sessions, replicas cannot share tokens, and a second factor set up on a persistent store cannot be checked after a restart. Set AUTHGATE_SECRET or AUTHGATE_SECRET_FILE in production.")
	}
	var prev []verify.Secret
	for i, p := range cfg.SecretPrevious {
		if len(p) == 0 {
			continue
		}
		if err := verify.CheckSecret(p); err != nil {
			return nil, nil, badVar("SECRET_PREVIOUS", "entry %d: %v", i+1, err)
		}
		prev = append(prev, p)
	}
	return cur, prev, nil
}

// server is the wired application.
type server struct {
	cfg      Config
	log      *slog.Logger
	store    accounts.Store
	kind     string
	accounts *accounts.Service
	web      *web.Handler
	verifier *verify.Verifier
	handler  http.Handler
	rules    *rules.File      // nil without AUTHGATE_RULES_FILE
	metrics  *metrics.Metrics // nil without AUTHGATE_METRICS_LISTEN
	// assertions signs identity assertions; nil without
	// AUTHGATE_ASSERTION_KEY_FILE.
	assertions *assertion.Issuer
	// checked is the store as the service uses it: with metrics, wrapped
	// so its failures are counted (store keeps the concrete store, for
	// sweeping and closing).
	checked accounts.Store
}

func newServer(ctx context.Context, cfg Config, log *slog.Logger) (*server, error) {
	cur, prev, err := loadSecrets(cfg, log)
	if err != nil {
		return nil, err
	}
	tokens, err := verify.NewTokens(cfg.Issuer, cur, prev, nil)
	if err != nil {
		return nil, err
	}
	// TOTP secrets are sealed with keys derived from the same secrets, so
	// a rotation keeps them readable through AUTHGATE_SECRET_PREVIOUS.
	prevKeys := make([][]byte, len(prev))
	for i, p := range prev {
		prevKeys[i] = p
	}
	sealer, err := mfa.NewSealer(cur, prevKeys...)
	if err != nil {
		return nil, err
	}
	assertions, err := newAssertions(cfg)
	if err != nil {
		return nil, err
	}
	static, err := loadUsersFile(cfg)
	if err != nil {
		return nil, err
	}
	hasher, err := newHasher(cfg, cfg.HashConcurrency)
	if err != nil {
		return nil, err
	}
	var rf *rules.File
	if cfg.RulesFile != "" {
		if rf, err = openRulesFile(cfg.RulesFile, log); err != nil {
			return nil, err
		}
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, log: log, store: st.store, kind: st.kind, rules: rf, assertions: assertions}
	s.checked = st.store
	if cfg.MetricsListen != "" {
		b := readBuildInfo()
		s.metrics = metrics.New(b.Version, b.GoVersion)
		st.store = s.metrics.Store(st.store)
		s.checked = st.store
	}
	if err := s.wire(tokens, sealer, hasher, st, static); err != nil {
		_ = st.store.Close()
		return nil, err
	}
	if s.metrics != nil {
		s.metrics.Watch(s.verifier, st.store, rf)
	}
	s.handler = s.routes()
	s.warn(len(static))
	s.warnTiming(static, hasher.Params())
	return s, nil
}

// wire builds the account service, its handlers and the verifier.
func (s *server) wire(tokens *verify.Tokens, sealer *mfa.Sealer, hasher *password.Hasher, st openedStore, static map[string]accounts.User) error {
	cfg := s.cfg
	domains := cfg.redirectDomains()
	svc, err := accounts.New(accounts.Config{
		Store:              st.store,
		Static:             static,
		Tokens:             tokens,
		Hasher:             hasher,
		SessionTTL:         cfg.SessionTTL,
		MaxSessionsPerUser: cfg.MaxSessionsPerUser,
		Registration:       cfg.Registration == "open",
		InviteOnly:         cfg.Registration == "invite",
		ResetURL:           accounts.ResetURL(string(cfg.LoginURL)),
		Regulation:         cfg.regulation(),
		Attempts:           st.attempts,
		BasicCacheTTL:      cfg.BasicCacheTTL,
		Sealer:             sealer,
		TOTPIssuer:         cfg.Title,
		SessionEnded:       func(id string) { s.verifier.SessionEnded(id) },
		Logger:             s.log,
	})
	if err != nil {
		return err
	}
	s.accounts = svc
	var ruleSet *rules.Holder // nil: no rules file
	if s.rules != nil {
		ruleSet = s.rules.Holder
	}
	vc := verify.Config{
		Tokens:         tokens,
		Sessions:       st.store,
		Basic:          svc,
		CookieName:     cfg.CookieName,
		LoginURL:       string(cfg.LoginURL),
		Domains:        domains,
		Trusted:        &s.cfg.TrustedProxies,
		Logger:         s.log,
		TokenCacheSize: cfg.TokenCacheSize,
		Rules:          ruleSet,
		DecisionLog:    verify.DecisionLog(cfg.DecisionLog),
		RequireMFA:     cfg.TOTPRequired,
		Assertions:     s.assertions,
	}
	var events web.Events
	if s.metrics != nil {
		vc.Observer, events = s.metrics, s.metrics
	}
	s.verifier = verify.New(vc)
	s.web, err = web.New(web.Config{
		Service:    svc,
		Sessions:   s.verifier,
		Cookie:     web.Cookie{Name: cfg.CookieName, Domain: string(cfg.CookieDomain), Secure: cfg.CookieSecure},
		LoginURL:   string(cfg.LoginURL),
		Domains:    domains,
		Title:      cfg.Title,
		LogoURL:    string(cfg.LogoURL),
		Logger:     s.log,
		Events:     events,
		AdminGroup: cfg.adminGroup(),
	})
	return err
}

// newAssertions loads AUTHGATE_ASSERTION_KEY_FILE (and the previous key);
// nil when it is unset.
func newAssertions(cfg Config) (*assertion.Issuer, error) {
	if cfg.AssertionKeyFile == "" {
		return nil, nil
	}
	key, err := assertion.LoadFile(cfg.AssertionKeyFile)
	if err != nil {
		return nil, badVar("ASSERTION_KEY_FILE", "%v", err)
	}
	var prev *assertion.Key
	if cfg.AssertionKeyFilePrevious != "" {
		if prev, err = assertion.LoadFile(cfg.AssertionKeyFilePrevious); err != nil {
			return nil, badVar("ASSERTION_KEY_FILE_PREVIOUS", "%v", err)
		}
	}
	return assertion.New(assertion.Config{Key: key, Previous: prev, Issuer: cfg.Issuer, TTL: cfg.AssertionTTL})
}

// loadUsersFile reads AUTHGATE_USERS_FILE (nil when unset).
func loadUsersFile(cfg Config) (map[string]accounts.User, error) {
	if cfg.UsersFile == "" {
		return nil, nil
	}
	data, err := os.ReadFile(cfg.UsersFile)
	if err != nil {
		return nil, badVar("USERS_FILE", "%v", err)
	}
	static, err := accounts.ParseUsersFile(data)
	if err != nil {
		return nil, badVar("USERS_FILE", "%s: %v", cfg.UsersFile, err)
	}
	return static, nil
}

// newHasher hashes with the AUTHGATE_ARGON2_* parameters, at most
// concurrency at a time (0: the password package's default).
func newHasher(cfg Config, concurrency int) (*password.Hasher, error) {
	h, err := password.New(cfg.argon2(), concurrency)
	if err != nil {
		return nil, badVar("ARGON2_MEMORY", "%v", err)
	}
	return h, nil
}

// warn says loudly which defaults are unsafe for production.
func (s *server) warn(staticUsers int) {
	if s.cfg.Registration == "open" {
		s.log.Warn("AUTHGATE_REGISTRATION=open: anyone who can reach /register can create an account. Set it to closed and use AUTHGATE_USERS_FILE in production.")
	}
	if !s.cfg.CookieSecure {
		s.log.Warn("AUTHGATE_COOKIE_SECURE=false: session cookies travel over plain HTTP.")
	}
	if s.kind == "memory" {
		s.log.Warn("AUTHGATE_STORE=memory: accounts and sessions are lost on restart and cannot be shared between replicas. Use bolt:///path for one replica or redis://... for several.")
	}
	if s.cfg.MaxFailures == 0 {
		s.log.Warn("AUTHGATE_MAX_FAILURES=0: brute-force regulation is off.")
	}
	if s.cfg.LoginURL == "" {
		s.log.Warn("AUTHGATE_LOGIN_URL is not set: /verify answers 401 without redirecting browsers to a login page.")
	}
	if s.kind == "redis" {
		s.log.Info("failed sign-ins are counted in Redis: AUTHGATE_MAX_FAILURES holds for every replica together")
	}
	b := readBuildInfo()
	s.log.Info("authgate configured", "version", b.Version, "commit", b.Commit, "go", b.GoVersion,
		"store", s.kind, "registration", s.cfg.Registration.String(),
		"trusted_proxies", s.cfg.TrustedProxies.String(),
		"static_users", staticUsers, "redirect_domains", strings.Join(s.cfg.redirectDomains(), ","), "session_ttl", s.cfg.SessionTTL.String())
}

// warnTiming names the users-file accounts whose hash costs differently
// from the hash unknown names are checked against (argon2id with the
// configured parameters): a login's time tells whether they exist. A
// bcrypt cost-10 account takes about 70 ms, the default argon2id 25 ms, a
// bcrypt cost-5 one 2 ms, with byte-identical answers.
func (s *server) warnTiming(static map[string]accounts.User, p password.Params) {
	var odd []string
	for _, name := range slices.Sorted(maps.Keys(static)) {
		if desc, same := password.Describe(static[name].Hash, p); !same {
			odd = append(odd, name+" ("+desc+")")
		}
	}
	if len(odd) > 0 {
		s.log.Warn("AUTHGATE_USERS_FILE: these accounts' hashes cost differently from the argon2id that unknown names are checked against, so the time a login takes tells whether they exist; rehash them with `authgate hash-password`",
			"accounts", strings.Join(odd, ", "), "default", fmt.Sprintf("argon2id m=%d t=%d p=%d", p.MemoryKiB, p.Time, p.Threads))
	}
}

func (s *server) serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go s.sweep(ctx)
	if s.rules != nil {
		go s.rules.Watch(ctx)
	}
	if s.metrics != nil {
		mln, err := net.Listen("tcp", s.cfg.MetricsListen)
		if err != nil {
			return badVar("METRICS_LISTEN", "%v", err)
		}
		mctx, stop := context.WithCancel(ctx)
		defer stop()
		go s.metrics.Serve(mctx, mln, s.log)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("authgate listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down; finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// sweep drops expired sessions so memory follows the live ones.
func (s *server) sweep(ctx context.Context) {
	ms, ok := s.store.(interface{ Sweep() int })
	if !ok {
		return
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n := ms.Sweep(); n > 0 {
				s.log.Debug("expired sessions swept", "count", n)
			}
		}
	}
}

func (s *server) close() { _ = s.store.Close() }
