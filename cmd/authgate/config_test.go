package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodSecret = "k7Vq3xZ9pL2mN8rT4wY6bC1dF5gH0jS9"

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":8080" || cfg.Issuer != "authgate" || cfg.SessionTTL != 24*time.Hour ||
		cfg.CookieName != "authgate_session" || !cfg.CookieSecure || cfg.Registration != "open" || cfg.AdminGroup != "admins" ||
		cfg.Argon2MemoryKiB != 19456 || cfg.Argon2Time != 2 || cfg.Argon2Parallelism != 1 || cfg.TrustedProxies.String() != "127.0.0.0/8,::1/128" ||
		cfg.MaxFailures != 5 || cfg.MaxFailuresPerIP != 20 || cfg.FailureWindow != 10*time.Minute || cfg.BanTime != 15*time.Minute ||
		cfg.TokenCacheSize != 100000 || cfg.BasicCacheTTL != time.Minute || cfg.RedisGrace != 30*time.Second ||
		cfg.LogLevel != slog.LevelInfo || cfg.LogFormat != "text" || cfg.Title != "authgate" || cfg.BodyLimit != 65536 || cfg.MaxHeaderBytes != 16384 {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	weak := filepath.Join(dir, "weak")
	_ = os.WriteFile(weak, []byte("changeme\n"), 0o600)
	cases := []struct {
		env  []string
		name string
	}{
		{[]string{"AUTHGATE_SESSION_TTL=soon"}, "AUTHGATE_SESSION_TTL"},
		{[]string{"AUTHGATE_SESSION_TTL=1s"}, "AUTHGATE_SESSION_TTL"},
		{[]string{"AUTHGATE_COOKIE_SECURE=maybe"}, "AUTHGATE_COOKIE_SECURE"},
		{[]string{"AUTHGATE_REGISTRATION=sometimes"}, "AUTHGATE_REGISTRATION"},
		{[]string{"AUTHGATE_LOGIN_URL=/login"}, "AUTHGATE_LOGIN_URL"},
		{[]string{"AUTHGATE_LOGIN_URL=javascript:alert(1)"}, "AUTHGATE_LOGIN_URL"},
		{[]string{"AUTHGATE_REDIRECT_DOMAINS=exa mple.com"}, "AUTHGATE_REDIRECT_DOMAINS"},
		{[]string{"AUTHGATE_TRUSTED_PROXIES=10.0.0.0/99"}, "AUTHGATE_TRUSTED_PROXIES"},
		{[]string{"AUTHGATE_TRUSTED_PROXIES="}, "AUTHGATE_TRUSTED_PROXIES"},
		{[]string{"AUTHGATE_TRUSTED_PROXIES= "}, "AUTHGATE_TRUSTED_PROXIES"},
		{[]string{"AUTHGATE_USERS_FILE=/does/not/exist"}, "AUTHGATE_USERS_FILE"},
		{[]string{"AUTHGATE_ARGON2_MEMORY=99999999"}, "AUTHGATE_ARGON2_MEMORY"},
		{[]string{"AUTHGATE_LOG_LEVEL=loud"}, "AUTHGATE_LOG_LEVEL"},
		{[]string{"AUTHGATE_LOG_FORMAT=xml"}, "AUTHGATE_LOG_FORMAT"},
		{[]string{"AUTHGATE_BODY_LIMIT=10"}, "AUTHGATE_BODY_LIMIT"},
		{[]string{"AUTHGATE_COOKIE_NAME=a;b"}, "AUTHGATE_COOKIE_NAME"},
		{[]string{"AUTHGATE_COOKIE_DOMAIN=ex ample"}, "AUTHGATE_COOKIE_DOMAIN"},
		{[]string{"AUTHGATE_READ_TIMEOUT=0s"}, "AUTHGATE_READ_TIMEOUT"},
		{[]string{"AUTHGATE_TOKEN_CACHE_SIZE=-1"}, "AUTHGATE_TOKEN_CACHE_SIZE"},
		{[]string{"AUTHGATE_STORE=postgres://x"}, "AUTHGATE_STORE"},
		{[]string{"AUTHGATE_REDIS_GRACE=soon"}, "AUTHGATE_REDIS_GRACE"},
		{[]string{"AUTHGATE_REDIS_GRACE=0s"}, "AUTHGATE_REDIS_GRACE"},
		{[]string{"AUTHGATE_SECRET=" + goodSecret, "AUTHGATE_SECRET_FILE=" + weak}, "AUTHGATE_SECRET_FILE"},
		// Secrets are checked when the server is built.
		{[]string{"AUTHGATE_SECRET=short"}, "AUTHGATE_SECRET"},
		{[]string{"AUTHGATE_SECRET=changemechangemechangemechangeme"}, "AUTHGATE_SECRET"},
		{[]string{"AUTHGATE_SECRET_FILE=" + weak}, "AUTHGATE_SECRET_FILE"},
		{[]string{"AUTHGATE_SECRET_FILE=/nope"}, "AUTHGATE_SECRET_FILE"},
		{[]string{"AUTHGATE_SECRET=" + goodSecret, "AUTHGATE_SECRET_PREVIOUS=short"}, "AUTHGATE_SECRET_PREVIOUS"},
		{[]string{"AUTHGATE_LISTEN=nonsense"}, "AUTHGATE_LISTEN"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.env, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := run(ctx, nil, tc.env, nil, io.Discard, io.Discard)
			if err == nil {
				t.Fatal("started with a bad configuration")
			}
			if !strings.Contains(err.Error(), tc.name) {
				t.Fatalf("error %q does not name %s", err, tc.name)
			}
			if strings.Contains(err.Error(), "changemechangeme") || strings.Contains(err.Error(), goodSecret) {
				t.Fatalf("error %q echoes a secret", err)
			}
		})
	}
}

// TestConfigParsedOnce: every value arrives in the type its package takes,
// normalised once; an explicit empty value keeps the default.
func TestConfigParsedOnce(t *testing.T) {
	cfg, err := loadConfig([]string{
		"AUTHGATE_COOKIE_DOMAIN=.Example.COM", "AUTHGATE_REGISTRATION=closed", "AUTHGATE_TRUSTED_PROXIES=10.1.0.0/16, 192.0.2.7",
		"AUTHGATE_LOG_LEVEL=debug", "AUTHGATE_SECRET_PREVIOUS=" + goodSecret + "," + goodSecret[1:] + "x", "AUTHGATE_TITLE=",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CookieDomain != "example.com" || cfg.Registration != "closed" || cfg.LogLevel != slog.LevelDebug || cfg.Title != "authgate" {
		t.Fatalf("parsed: %+v", cfg)
	}
	if p := cfg.TrustedProxies.Prefixes(); len(p) != 2 || p[1].String() != "192.0.2.7/32" {
		t.Fatalf("trusted proxies %v", p)
	}
	if len(cfg.SecretPrevious) != 2 || string(cfg.SecretPrevious[0]) != goodSecret {
		t.Fatalf("previous secrets: %d", len(cfg.SecretPrevious))
	}
	// Parsing twice gives the same: nothing is normalised in place later.
	again, _ := loadConfig([]string{"AUTHGATE_COOKIE_DOMAIN=.Example.COM"})
	if again.CookieDomain != cfg.CookieDomain {
		t.Fatalf("cookie domain %q then %q", cfg.CookieDomain, again.CookieDomain)
	}
}

// TestConfigLogsNoSecret: the whole configuration logged through either
// slog handler shows no key, whatever the encoding.
func TestConfigLogsNoSecret(t *testing.T) {
	prev := "Q2w9E4r7T1y8U3i6O5p0A2s4D6f8G1h3"
	cfg, err := loadConfig([]string{"AUTHGATE_SECRET=" + goodSecret, "AUTHGATE_SECRET_PREVIOUS=" + prev})
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "json"} {
		var buf strings.Builder
		c := cfg
		c.LogFormat = logFormat(format)
		newLogger(c, &buf).Info("configuration", "config", cfg)
		for _, s := range []string{goodSecret, prev} {
			for _, form := range []string{s, hex.EncodeToString([]byte(s)), base64.StdEncoding.EncodeToString([]byte(s))} {
				if strings.Contains(buf.String(), form) {
					t.Fatalf("%s log shows a secret:\n%s", format, buf.String())
				}
			}
		}
	}
}

func TestTrustedProxiesNone(t *testing.T) {
	cfg, err := loadConfig([]string{"AUTHGATE_TRUSTED_PROXIES=none"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.TrustedProxies.Prefixes()) != 0 {
		t.Fatalf("none trusts %v", cfg.TrustedProxies.Prefixes())
	}
}

func TestRedirectDomainsDefault(t *testing.T) {
	cfg, err := loadConfig([]string{"AUTHGATE_COOKIE_DOMAIN=.Example.com", "AUTHGATE_LOGIN_URL=https://auth.other.org/login"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.redirectDomains(), ","); got != "example.com,auth.other.org" {
		t.Fatalf("redirect domains = %q", got)
	}
	cfg, _ = loadConfig([]string{"AUTHGATE_COOKIE_DOMAIN=example.com", "AUTHGATE_REDIRECT_DOMAINS=a.org, b.org"})
	if got := strings.Join(cfg.redirectDomains(), ","); got != "a.org,b.org" {
		t.Fatalf("explicit redirect domains = %q", got)
	}
}
