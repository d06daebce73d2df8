package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/verify"
)

const envPrefix = "AUTHGATE_"

// Config is every setting, read from AUTHGATE_* variables. README.md lists
// them all with their defaults; keep the two in step.
type Config struct {
	Listen string `env:"LISTEN" envDefault:":8080"`

	// Secret signs tokens (HS256). Unset: a random key is generated at
	// start, so every restart logs everyone out and replicas cannot share
	// tokens; fine for a try-out, wrong for production.
	Secret         string   `env:"SECRET"`
	SecretFile     string   `env:"SECRET_FILE"`
	SecretPrevious []string `env:"SECRET_PREVIOUS" envSeparator:","`
	Issuer         string   `env:"ISSUER" envDefault:"authgate"`

	SessionTTL         time.Duration `env:"SESSION_TTL" envDefault:"24h"`
	MaxSessionsPerUser int           `env:"MAX_SESSIONS_PER_USER" envDefault:"10"`

	CookieName   string `env:"COOKIE_NAME" envDefault:"authgate_session"`
	CookieDomain string `env:"COOKIE_DOMAIN"`
	// CookieSecure false lets the cookie travel over plain HTTP, where
	// anyone on the path can steal the session.
	CookieSecure bool `env:"COOKIE_SECURE" envDefault:"true"`

	LoginURL        string   `env:"LOGIN_URL"`
	RedirectDomains []string `env:"REDIRECT_DOMAINS" envSeparator:","`

	// Store holds users and sessions: memory (default; lost on restart),
	// bolt:///path (one replica, survives restarts) or redis://...
	// (shared by every replica). See openStore.
	Store string `env:"STORE" envDefault:"memory"`
	// RedisGrace: while Redis is unreachable, sessions this replica has
	// already seen stay valid for this long; unknown ones are refused.
	RedisGrace time.Duration `env:"REDIS_GRACE" envDefault:"30s"`

	Registration string `env:"REGISTRATION" envDefault:"open"`
	UsersFile    string `env:"USERS_FILE"`

	// TrustedProxies are the peers whose X-Forwarded-*/X-Original-*/
	// X-Real-IP headers are believed.
	TrustedProxies []string `env:"TRUSTED_PROXIES" envSeparator:"," envDefault:"127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"`

	// Brute-force regulation: past MaxFailures failed sign-ins for one
	// name (or MaxFailuresPerIP from one address) within FailureWindow,
	// that name or address is refused with 429 for BanTime, even with the
	// right password. MaxFailures=0 disables it (not recommended).
	MaxFailures      int           `env:"MAX_FAILURES" envDefault:"5"`
	MaxFailuresPerIP int           `env:"MAX_FAILURES_PER_IP" envDefault:"20"`
	FailureWindow    time.Duration `env:"FAILURE_WINDOW" envDefault:"10m"`
	BanTime          time.Duration `env:"BAN_TIME" envDefault:"15m"`
	// BasicCacheTTL: how long Basic credentials verified on /verify are
	// remembered, so argon2 does not run on every request of a client
	// that sends Basic each time.
	BasicCacheTTL time.Duration `env:"BASIC_CACHE_TTL" envDefault:"60s"`
	// TokenCacheSize: verified tokens remembered so /verify skips HMAC and
	// JSON decoding for a token it has seen (the session is still checked
	// on every request). 0 turns the cache off.
	TokenCacheSize int `env:"TOKEN_CACHE_SIZE" envDefault:"100000"`

	Argon2MemoryKiB   uint32 `env:"ARGON2_MEMORY" envDefault:"19456"`
	Argon2Time        uint32 `env:"ARGON2_TIME" envDefault:"2"`
	Argon2Parallelism uint8  `env:"ARGON2_PARALLELISM" envDefault:"1"`
	// HashConcurrency caps simultaneous password hashes; 0 = GOMAXPROCS.
	HashConcurrency int `env:"HASH_CONCURRENCY" envDefault:"0"`

	ReadHeaderTimeout time.Duration `env:"READ_HEADER_TIMEOUT" envDefault:"5s"`
	ReadTimeout       time.Duration `env:"READ_TIMEOUT" envDefault:"10s"`
	WriteTimeout      time.Duration `env:"WRITE_TIMEOUT" envDefault:"10s"`
	IdleTimeout       time.Duration `env:"IDLE_TIMEOUT" envDefault:"120s"`
	ShutdownTimeout   time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
	MaxHeaderBytes    int           `env:"MAX_HEADER_BYTES" envDefault:"16384"`
	BodyLimit         int64         `env:"BODY_LIMIT" envDefault:"65536"`

	LogLevel  string `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat string `env:"LOG_FORMAT" envDefault:"text"`

	Title   string `env:"TITLE" envDefault:"authgate"`
	LogoURL string `env:"LOGO_URL"`
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

// loadConfig parses environ (KEY=VALUE lines) into a Config and checks it.
func loadConfig(environ []string) (Config, error) {
	var cfg Config
	err := env.ParseWithOptions(&cfg, env.Options{Prefix: envPrefix, Environment: env.ToMap(environ)})
	if err != nil {
		return cfg, renameEnvError(err)
	}
	return cfg, cfg.validate()
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

func (c *Config) validate() error {
	if c.Secret != "" && c.SecretFile != "" {
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
	if c.CookieDomain != "" {
		c.CookieDomain = strings.TrimPrefix(strings.ToLower(c.CookieDomain), ".")
		if _, err := verify.ParseDomains([]string{c.CookieDomain}); err != nil || !strings.Contains(c.CookieDomain, ".") && c.CookieDomain != "localhost" {
			return badVar("COOKIE_DOMAIN", "%q is not a host name", c.CookieDomain)
		}
	}
	if c.LoginURL != "" {
		u, err := url.Parse(c.LoginURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
			return badVar("LOGIN_URL", "must be an absolute http(s) URL such as https://auth.example.com/login")
		}
	}
	if _, err := verify.ParseDomains(c.RedirectDomains); err != nil {
		return badVar("REDIRECT_DOMAINS", "%v", err)
	}
	switch c.Registration {
	case "open", "closed":
	default:
		return badVar("REGISTRATION", "must be open or closed, got %q", c.Registration)
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
	if _, err := verify.ParseTrustedProxies(c.TrustedProxies); err != nil {
		return badVar("TRUSTED_PROXIES", "%v", err)
	}
	if _, err := accounts.CheckParams(accounts.Params{MemoryKiB: c.Argon2MemoryKiB, Time: c.Argon2Time, Threads: c.Argon2Parallelism}); err != nil {
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
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return badVar("LOG_LEVEL", "must be debug, info, warn or error")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return badVar("LOG_FORMAT", "must be text or json")
	}
	if c.LogoURL != "" {
		u, err := url.Parse(c.LogoURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http" && !(u.Scheme == "" && strings.HasPrefix(u.Path, "/"))) {
			return badVar("LOGO_URL", "must be an http(s) URL or an absolute path")
		}
	}
	return nil
}

// redirectDomains is AUTHGATE_REDIRECT_DOMAINS, or when empty the cookie
// domain and the login URL's host.
func (c *Config) redirectDomains() verify.Domains {
	list := c.RedirectDomains
	if len(list) == 0 {
		if c.CookieDomain != "" {
			list = append(list, c.CookieDomain)
		}
		if u, err := url.Parse(c.LoginURL); err == nil && u.Hostname() != "" {
			list = append(list, u.Hostname())
		}
	}
	d, _ := verify.ParseDomains(list)
	return d
}
