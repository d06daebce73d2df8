package main

import (
	"context"
	"io"
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
		cfg.CookieName != "authgate_session" || !cfg.CookieSecure || cfg.Registration != "open" ||
		cfg.Argon2MemoryKiB != 19456 || cfg.Argon2Time != 2 || cfg.Argon2Parallelism != 1 || len(cfg.TrustedProxies) != 6 {
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
