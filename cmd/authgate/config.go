package main

import (
	"errors"
	"fmt"
	"github.com/authgate/authgate/verify/forwarded"
	"github.com/authgate/authgate/verify/redirect"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/accounts/password"
	"github.com/authgate/authgate/accounts/redisstore"
	"github.com/authgate/authgate/accounts/regulation"
	"github.com/authgate/authgate/accounts/web"
	"github.com/authgate/authgate/verify"
	"github.com/authgate/authgate/verify/assertion"
)

const envPrefix = "AUTHGATE_"

// Config is every setting, read from AUTHGATE_* variables and parsed once
// into the types the packages take: a value that cannot be read stops the
// program naming its variable, and nothing parses it again. Defaults are
// those of defaultConfig, each taken from the package that owns the
// setting; README.md lists them all, keep the two in step.
type Config struct {
	Listen string `env:"LISTEN"`

	// Secret signs tokens (HS256). Unset: a random key is generated at
	// start, so every restart logs everyone out and replicas cannot share
	// tokens; fine for a try-out, wrong for production.
	Secret         verify.Secret   `env:"SECRET"`
	SecretFile     string          `env:"SECRET_FILE"`
	SecretPrevious []verify.Secret `env:"SECRET_PREVIOUS" envSeparator:","`
	Issuer         string          `env:"ISSUER"`

	SessionTTL         time.Duration `env:"SESSION_TTL"`
	MaxSessionsPerUser int           `env:"MAX_SESSIONS_PER_USER"`

	CookieName   string       `env:"COOKIE_NAME"`
	CookieDomain cookieDomain `env:"COOKIE_DOMAIN"`
	// CookieSecure false lets the cookie travel over plain HTTP, where
	// anyone on the path can steal the session.
	CookieSecure bool `env:"COOKIE_SECURE"`

	LoginURL        absoluteURL      `env:"LOGIN_URL"`
	RedirectDomains redirect.Domains `env:"REDIRECT_DOMAINS"`

	// Store holds users and sessions: memory (default; lost on restart),
	// bolt:///path (one replica, survives restarts) or redis://...
	// (shared by every replica). See openStore.
	Store string `env:"STORE"`
	// RedisGrace: while Redis is unreachable, sessions this replica has
	// already seen stay valid for this long; unknown ones are refused.
	RedisGrace time.Duration `env:"REDIS_GRACE"`

	Registration registration `env:"REGISTRATION"`
	// AdminGroup's members use /admin and /admin/api; "none": nobody.
	AdminGroup string `env:"ADMIN_GROUP"`
	UsersFile  string `env:"USERS_FILE"`

	// RulesFile is the access rules file (package verify/rules): which
	// hosts and paths anyone may reach, which are refused, which need
	// which groups. Empty: no rules, every request must be signed in.
	// Whoever can write the file decides who gets in: keep it as closely
	// held as the signing key. It is reloaded when it changes and on
	// SIGHUP (see rules.go).
	RulesFile string `env:"RULES_FILE"`

	// TrustedProxies are the peers whose X-Forwarded-*/X-Original-*/
	// X-Real-IP headers are believed.
	TrustedProxies forwarded.TrustedProxies `env:"TRUSTED_PROXIES"`

	// Brute-force regulation (regulation.Policy): past MaxFailures
	// failed sign-ins for one name (or MaxFailuresPerIP from one address)
	// within FailureWindow, that name or address is refused with 429 for
	// BanTime, even with the right password. MaxFailures=0 disables it
	// (not recommended).
	MaxFailures      int           `env:"MAX_FAILURES"`
	MaxFailuresPerIP int           `env:"MAX_FAILURES_PER_IP"`
	FailureWindow    time.Duration `env:"FAILURE_WINDOW"`
	BanTime          time.Duration `env:"BAN_TIME"`
	// BasicCacheTTL: how long Basic credentials verified on /verify are
	// remembered, so argon2 does not run on every request of a client
	// that sends Basic each time.
	BasicCacheTTL time.Duration `env:"BASIC_CACHE_TTL"`
	// TokenCacheSize: verified tokens remembered so /verify skips HMAC and
	// JSON decoding for a token it has seen (the session is still checked
	// on every request). 0 turns the cache off.
	TokenCacheSize int `env:"TOKEN_CACHE_SIZE"`

	Argon2MemoryKiB   uint32 `env:"ARGON2_MEMORY"`
	Argon2Time        uint32 `env:"ARGON2_TIME"`
	Argon2Parallelism uint8  `env:"ARGON2_PARALLELISM"`
	// HashConcurrency caps simultaneous password hashes; 0 = GOMAXPROCS-1.
	HashConcurrency int `env:"HASH_CONCURRENCY"`

	ReadHeaderTimeout time.Duration `env:"READ_HEADER_TIMEOUT"`
	ReadTimeout       time.Duration `env:"READ_TIMEOUT"`
	WriteTimeout      time.Duration `env:"WRITE_TIMEOUT"`
	IdleTimeout       time.Duration `env:"IDLE_TIMEOUT"`
	ShutdownTimeout   time.Duration `env:"SHUTDOWN_TIMEOUT"`
	MaxHeaderBytes    int           `env:"MAX_HEADER_BYTES"`
	BodyLimit         int64         `env:"BODY_LIMIT"`

	LogLevel  slog.Level `env:"LOG_LEVEL"`
	LogFormat logFormat  `env:"LOG_FORMAT"`

	Title   string  `env:"TITLE"`
	LogoURL logoURL `env:"LOGO_URL"`

	// TOTPRequired asks a second factor of every signed-in decision of
	// /verify, as if every location's verify URL said ?mfa=1.
	TOTPRequired bool `env:"TOTP_REQUIRED"`

	// DecisionLog says which /verify decisions get a log line: none,
	// denied (every answer but 200) or all.
	DecisionLog decisionLog `env:"DECISION_LOG"`

	// MetricsListen starts a second listener serving GET /metrics
	// (Prometheus) there and nothing else; empty: no metrics. Keep it
	// off the public network (127.0.0.1:9464, or a port only the
	// monitoring can reach).
	MetricsListen string `env:"METRICS_LISTEN"`

	// AssertionKeyFile (a PKCS#8 EC P-256 or Ed25519 private key) turns
	// on signed identity assertions and the JWKS; the previous key is
	// published, never used to sign.
	AssertionKeyFile         string        `env:"ASSERTION_KEY_FILE"`
	AssertionKeyFilePrevious string        `env:"ASSERTION_KEY_FILE_PREVIOUS"`
	AssertionTTL             time.Duration `env:"ASSERTION_TTL"`
}

// defaultConfig is the one place the gate's defaults are written down.
func defaultConfig() Config {
	var trusted forwarded.TrustedProxies
	if err := trusted.UnmarshalText([]byte(strings.Join(forwarded.DefaultTrustedProxies, ","))); err != nil {
		panic(err) // a constant; TestConfigDefaults reads it
	}
	reg := regulation.Default
	argon := password.DefaultParams
	return Config{
		Listen:             ":8080",
		Issuer:             verify.DefaultIssuer,
		SessionTTL:         accounts.DefaultSessionTTL,
		MaxSessionsPerUser: accounts.DefaultMaxSessionsPerUser,
		CookieName:         verify.DefaultCookieName,
		CookieSecure:       true,
		Store:              "memory",
		RedisGrace:         redisstore.DefaultGrace,
		Registration:       "open",
		AdminGroup:         "admins",
		TrustedProxies:     trusted,
		MaxFailures:        reg.MaxFailures,
		MaxFailuresPerIP:   reg.MaxFailuresPerIP,
		FailureWindow:      reg.Window,
		BanTime:            reg.BanTime,
		BasicCacheTTL:      accounts.DefaultBasicCacheTTL,
		TokenCacheSize:     verify.DefaultTokenCacheSize,
		Argon2MemoryKiB:    argon.MemoryKiB,
		Argon2Time:         argon.Time,
		Argon2Parallelism:  argon.Threads,
		ReadHeaderTimeout:  5 * time.Second,
		ReadTimeout:        10 * time.Second,
		WriteTimeout:       10 * time.Second,
		IdleTimeout:        120 * time.Second,
		ShutdownTimeout:    15 * time.Second,
		MaxHeaderBytes:     16 << 10,
		BodyLimit:          64 << 10,
		LogLevel:           slog.LevelInfo,
		LogFormat:          "text",
		Title:              web.DefaultTitle,
		DecisionLog:        decisionLog(verify.LogDenied),
		AssertionTTL:       assertion.DefaultTTL,
	}
}

// regulation is the brute-force policy the variables describe.
func (c Config) regulation() regulation.Policy {
	return regulation.Policy{MaxFailures: c.MaxFailures, MaxFailuresPerIP: c.MaxFailuresPerIP, Window: c.FailureWindow, BanTime: c.BanTime}
}

// adminGroup is the group whose members administer the gate ("": none).
func (c Config) adminGroup() string {
	if c.AdminGroup == "none" {
		return ""
	}
	return c.AdminGroup
}

// argon2 is the hashing cost the variables describe.
func (c Config) argon2() password.Params {
	return password.Params{MemoryKiB: c.Argon2MemoryKiB, Time: c.Argon2Time, Threads: c.Argon2Parallelism}
}

// configError names the variable at fault.
type configError struct {
	name string
	msg  string
}

func (e *configError) Error() string { return envPrefix + e.name + ": " + e.msg }

func badVar(name, format string, args ...any) error {
	return &configError{name: name, msg: fmt.Sprintf(format, args...)}
}

// loadConfig parses environ (KEY=VALUE lines) over the defaults and checks
// what no single variable's type can.
func loadConfig(environ []string) (Config, error) {
	for _, kv := range environ {
		// An empty value takes the default everywhere else; for the
		// trusted proxies that would silently trust loopback when the
		// operator meant "nobody".
		if k, v, _ := strings.Cut(kv, "="); k == envPrefix+"TRUSTED_PROXIES" && strings.TrimSpace(v) == "" {
			return Config{}, badVar("TRUSTED_PROXIES", "is empty: list the proxies' addresses or ranges, or write none to trust no proxy")
		}
	}
	cfg := defaultConfig()
	err := env.ParseWithOptions(&cfg, env.Options{Prefix: envPrefix, Environment: env.ToMap(environ)})
	if err != nil {
		return cfg, renameEnvError(err)
	}
	return cfg, cfg.check()
}

// renameEnvError turns caarlos0/env's field-named errors into ones that name
// the variable a user sets.
func renameEnvError(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	var msgs []string
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			msgs = append(msgs, envPrefix+envName(pe.Name)+": "+pe.Err.Error())
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}

func envName(field string) string {
	f, ok := reflect.TypeOf(Config{}).FieldByName(field)
	if !ok {
		return field
	}
	name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return name
}

// check refuses values that are well-formed but out of range, and
// combinations; it changes nothing.
func (c Config) check() error {
	if len(c.Secret) > 0 && c.SecretFile != "" {
		return badVar("SECRET_FILE", "set either AUTHGATE_SECRET or AUTHGATE_SECRET_FILE, not both")
	}
	if c.Issuer == "" {
		return badVar("ISSUER", "must not be empty")
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > 366*24*time.Hour {
		return badVar("SESSION_TTL", "must be between 1m and 8784h, got %s", c.SessionTTL)
	}
	if c.MaxSessionsPerUser < 1 {
		return badVar("MAX_SESSIONS_PER_USER", "must be at least 1")
	}
	if c.CookieName == "" || strings.ContainsAny(c.CookieName, " \t\r\n;,=\"()<>@:/[]?{}\\") {
		return badVar("COOKIE_NAME", "must be a plain token (letters, digits, '_', '-', '.')")
	}
	if c.MaxFailures < 0 || c.MaxFailuresPerIP < 0 {
		return badVar("MAX_FAILURES", "must not be negative (AUTHGATE_MAX_FAILURES, AUTHGATE_MAX_FAILURES_PER_IP)")
	}
	if c.FailureWindow <= 0 {
		return badVar("FAILURE_WINDOW", "must be a positive duration")
	}
	if c.BanTime <= 0 {
		return badVar("BAN_TIME", "must be a positive duration")
	}
	if gs, err := accounts.ParseGroups(c.AdminGroup); c.AdminGroup != "none" && (err != nil || len(gs) != 1) {
		return badVar("ADMIN_GROUP", "must be one group name (letters, digits, '.', '_', '-'), or none")
	}
	if c.AssertionTTL < assertion.MinTTL || c.AssertionTTL > assertion.MaxTTL {
		return badVar("ASSERTION_TTL", "must be between %s and %s, got %s", assertion.MinTTL, assertion.MaxTTL, c.AssertionTTL)
	}
	if c.AssertionKeyFilePrevious != "" && c.AssertionKeyFile == "" {
		return badVar("ASSERTION_KEY_FILE_PREVIOUS", "is set without AUTHGATE_ASSERTION_KEY_FILE: the previous key is only published beside a current one")
	}
	if c.BasicCacheTTL < time.Second || c.BasicCacheTTL > time.Hour {
		return badVar("BASIC_CACHE_TTL", "must be between 1s and 1h")
	}
	if c.RedisGrace <= 0 || c.RedisGrace > time.Hour {
		return badVar("REDIS_GRACE", "must be a duration between 1ns and 1h")
	}
	if c.TokenCacheSize < 0 || c.TokenCacheSize > 10_000_000 {
		return badVar("TOKEN_CACHE_SIZE", "must be between 0 (off) and 10000000")
	}
	if c.UsersFile != "" {
		if _, err := os.Stat(c.UsersFile); err != nil {
			return badVar("USERS_FILE", "%v", err)
		}
	}
	if err := c.argon2().Check(); err != nil {
		return badVar("ARGON2_MEMORY", "%v (AUTHGATE_ARGON2_TIME, AUTHGATE_ARGON2_PARALLELISM)", err)
	}
	for name, d := range map[string]time.Duration{
		"READ_HEADER_TIMEOUT": c.ReadHeaderTimeout, "READ_TIMEOUT": c.ReadTimeout,
		"WRITE_TIMEOUT": c.WriteTimeout, "IDLE_TIMEOUT": c.IdleTimeout, "SHUTDOWN_TIMEOUT": c.ShutdownTimeout,
	} {
		if d <= 0 {
			return badVar(name, "must be a positive duration")
		}
	}
	if c.MaxHeaderBytes < 1024 {
		return badVar("MAX_HEADER_BYTES", "must be at least 1024")
	}
	if c.BodyLimit < 1024 {
		return badVar("BODY_LIMIT", "must be at least 1024 bytes")
	}
	return nil
}

// redirectDomains is AUTHGATE_REDIRECT_DOMAINS, or when empty the cookie
// domain and the login URL's host.
func (c Config) redirectDomains() redirect.Domains {
	if len(c.RedirectDomains) > 0 {
		return c.RedirectDomains
	}
	var d redirect.Domains
	if c.CookieDomain != "" {
		d = append(d, string(c.CookieDomain))
	}
	if u, err := url.Parse(string(c.LoginURL)); err == nil && u.Hostname() != "" {
		d = append(d, strings.ToLower(u.Hostname()))
	}
	return d
}

// The types below read one variable each; their errors become
// "AUTHGATE_NAME: ..." through renameEnvError.

// cookieDomain is a host name, lower-cased, without a leading dot.
type cookieDomain string

func (d *cookieDomain) UnmarshalText(b []byte) error {
	s := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(string(b))), ".")
	if _, err := redirect.ParseDomains([]string{s}); err != nil || s == "" || !strings.Contains(s, ".") && s != "localhost" {
		return fmt.Errorf("%q is not a host name", string(b))
	}
	*d = cookieDomain(s)
	return nil
}

// absoluteURL is an absolute http(s) URL without credentials or fragment.
type absoluteURL string

func (a *absoluteURL) UnmarshalText(b []byte) error {
	u, err := url.Parse(string(b))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return errors.New("must be an absolute http(s) URL such as https://auth.example.com/login")
	}
	*a = absoluteURL(b)
	return nil
}

// logoURL is an http(s) URL or an absolute path on the gate.
type logoURL string

func (l *logoURL) UnmarshalText(b []byte) error {
	u, err := url.Parse(string(b))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http" && !(u.Scheme == "" && strings.HasPrefix(u.Path, "/"))) {
		return errors.New("must be an http(s) URL or an absolute path")
	}
	*l = logoURL(b)
	return nil
}

// registration is open, invite or closed.
type registration string

func (r *registration) UnmarshalText(b []byte) error {
	switch string(b) {
	case "open", "invite", "closed":
		*r = registration(b)
		return nil
	}
	return fmt.Errorf("must be open, invite or closed, got %q", string(b))
}

func (r registration) String() string { return string(r) }

// logFormat is text or json.
type logFormat string

func (f *logFormat) UnmarshalText(b []byte) error {
	switch string(b) {
	case "text", "json":
		*f = logFormat(b)
		return nil
	}
	return errors.New("must be text or json")
}

// decisionLog is none, denied or all.
type decisionLog verify.DecisionLog

func (d *decisionLog) UnmarshalText(b []byte) error {
	v, ok := verify.ParseDecisionLog(string(b))
	if !ok {
		return errors.New("must be none, denied or all")
	}
	*d = decisionLog(v)
	return nil
}
