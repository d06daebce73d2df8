// Package metrics is the gate's Prometheus registry: the metric names (a
// contract with every dashboard: picked once, never renamed), the
// observers verify and accounts/web report to, the store wrapper that
// counts failures, and the listener of their own that serves /metrics. No
// label carries a user, host, path, address, session or token.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authgate/authgate/accounts"
	"github.com/authgate/authgate/verify"
	"github.com/authgate/authgate/verify/rules"
)

// verifyCodes are the statuses /verify answers.
var verifyCodes = [...]int{200, 302, 401, 403, 429}

// loginResults and registrationResults are the label values of the
// sign-in and registration counters.
var (
	loginResults        = []string{"success", "failure", "locked", "unavailable"}
	registrationResults = []string{"created", "conflict", "invalid", "closed"}
	storeOps            = []string{"create_user", "user", "update_user", "delete_user", "users", "create_session", "session_live", "delete_session", "delete_user_sessions", "use_once", "put_grant", "grants", "delete_grant", "use_grant", "user_sessions", "ping"}
)

// Metrics is the gate's registry and the counters the hot path touches,
// resolved at start so an observation allocates nothing.
type Metrics struct {
	reg *prometheus.Registry

	verify   [len(verifyCodes)][]prometheus.Counter // [code][reason]
	duration prometheus.Histogram
	logins   map[string]prometheus.Counter
	regs     map[string]prometheus.Counter
	logouts  prometheus.Counter
	storeErr map[string]prometheus.Counter
}

// New builds the registry; version and goVersion label authgate_build_info.
func New(version, goVersion string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_verify_requests_total",
		Help: "Answers of /verify by status code and reason (a fixed set: see README, Observability).",
	}, []string{"code", "reason"})
	for i, code := range verifyCodes {
		for _, r := range verify.Reasons() {
			m.verify[i] = append(m.verify[i], requests.WithLabelValues(strconv.Itoa(code), r.String()))
		}
	}
	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "authgate_verify_duration_seconds",
		Help:    "Time /verify took to decide, in seconds (the gate's own handling, not the network).",
		Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1},
	})
	logins := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_logins_total",
		Help: "Sign-in attempts at /login by result: success, failure, locked, unavailable.",
	}, []string{"result"})
	m.logins = resolve(logins, loginResults)
	regs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_registrations_total",
		Help: "Registrations at /register by result: created, conflict, invalid, closed.",
	}, []string{"result"})
	m.regs = resolve(regs, registrationResults)
	m.logouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "authgate_logouts_total",
		Help: "Sessions ended at /logout (answered 204 or 303; refused requests are not counted).",
	})
	storeErr := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_store_errors_total",
		Help: "Store operations that failed (unreachable or faulty; not a missing account) by operation.",
	}, []string{"op"})
	m.storeErr = resolve(storeErr, storeOps)
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "authgate_build_info",
		Help: "Always 1; the labels name the gate's version and the Go version it was built with.",
	}, []string{"version", "goversion"})
	info.WithLabelValues(version, goVersion).Set(1)
	m.reg.MustRegister(requests, m.duration, logins, regs, m.logouts, storeErr, info)
	return m
}

func resolve(v *prometheus.CounterVec, values []string) map[string]prometheus.Counter {
	out := make(map[string]prometheus.Counter, len(values))
	for _, s := range values {
		out[s] = v.WithLabelValues(s)
	}
	return out
}

// Verified implements verify.Observer.
func (m *Metrics) Verified(code int, reason verify.Reason, elapsed time.Duration) {
	for i, c := range verifyCodes {
		if c == code {
			if int(reason) < len(m.verify[i]) {
				m.verify[i][reason].Inc()
			}
			break
		}
	}
	m.duration.Observe(elapsed.Seconds())
}

// Login, Registration and Logout implement web.Events.
func (m *Metrics) Login(result string) {
	if c, ok := m.logins[result]; ok {
		c.Inc()
	}
}

func (m *Metrics) Registration(result string) {
	if c, ok := m.regs[result]; ok {
		c.Inc()
	}
}

func (m *Metrics) Logout() { m.logouts.Inc() }

// Registry is where every metric is registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Watch registers what is read at scrape time: the token cache, whether
// the store is up (the /readyz check), the rules in force and reloads.
func (m *Metrics) Watch(v *verify.Verifier, store accounts.Store, rf *rules.File) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "authgate_token_cache_hits_total", Help: "Tokens found in the verified-token cache (by /verify and the gate's own pages)."},
			func() float64 { h, _, _ := v.TokenCacheStats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "authgate_token_cache_misses_total", Help: "Tokens that had to be verified in full (by /verify and the gate's own pages)."},
			func() float64 { _, mi, _ := v.TokenCacheStats(); return float64(mi) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "authgate_token_cache_entries", Help: "Tokens in the verified-token cache."},
			func() float64 { _, _, e := v.TokenCacheStats(); return float64(e) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "authgate_store_up", Help: "1 when the store answers (the /readyz check), else 0."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				if store.Ping(ctx) != nil {
					return 0
				}
				return 1
			}),
	)
	if rf == nil {
		return
	}
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_rules_reloads_total",
		Help: "Reloads of AUTHGATE_RULES_FILE by result: ok, error (the rules in force stay).",
	}, []string{"result"})
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "authgate_rules_loaded", Help: "Rules in force from AUTHGATE_RULES_FILE."},
			func() float64 {
				if s := rf.Holder.Load(); s != nil {
					return float64(len(s.Rules))
				}
				return 0
			}),
		reloads,
	)
	ok, failed := reloads.WithLabelValues("ok"), reloads.WithLabelValues("error")
	rf.OnReload = func(err error) {
		if err != nil {
			failed.Inc()
		} else {
			ok.Inc()
		}
	}
}

// Serve answers GET /metrics on its own listener (so it can be
// firewalled apart from the gate) until ctx ends; nothing else is served
// there.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	log.Info("metrics listening", "addr", ln.Addr().String())
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics listener stopped", "err", err)
	}
}

// Store wraps s so its failures are counted by operation; answers such as
// "no such user" or "name taken" are not failures.
func (m *Metrics) Store(s accounts.Store) accounts.Store { return countingStore{Store: s, m: m} }

type countingStore struct {
	accounts.Store
	m *Metrics
}

func (s countingStore) count(op string, err error) error {
	if err != nil {
		switch accounts.ErrorCode(err) {
		case accounts.Unavailable, accounts.Internal:
			s.m.storeErr[op].Inc()
		}
	}
	return err
}

func (s countingStore) CreateUser(ctx context.Context, u accounts.User) error {
	return s.count("create_user", s.Store.CreateUser(ctx, u))
}

func (s countingStore) User(ctx context.Context, name string) (accounts.User, error) {
	u, err := s.Store.User(ctx, name)
	return u, s.count("user", err)
}

func (s countingStore) UpdateUser(ctx context.Context, u accounts.User) error {
	return s.count("update_user", s.Store.UpdateUser(ctx, u))
}

func (s countingStore) DeleteUser(ctx context.Context, name string) error {
	return s.count("delete_user", s.Store.DeleteUser(ctx, name))
}

func (s countingStore) Users(ctx context.Context) ([]accounts.User, error) {
	us, err := s.Store.Users(ctx)
	return us, s.count("users", err)
}

func (s countingStore) CreateSession(ctx context.Context, sess accounts.Session, maxPerUser int) error {
	return s.count("create_session", s.Store.CreateSession(ctx, sess, maxPerUser))
}

func (s countingStore) SessionLive(ctx context.Context, id, user string) (bool, error) {
	ok, err := s.Store.SessionLive(ctx, id, user)
	return ok, s.count("session_live", err)
}

func (s countingStore) DeleteSession(ctx context.Context, id string) error {
	return s.count("delete_session", s.Store.DeleteSession(ctx, id))
}

func (s countingStore) DeleteUserSessions(ctx context.Context, user, keep string) error {
	return s.count("delete_user_sessions", s.Store.DeleteUserSessions(ctx, user, keep))
}

func (s countingStore) PutGrant(ctx context.Context, g accounts.Grant) error {
	return s.count("put_grant", s.Store.PutGrant(ctx, g))
}

func (s countingStore) Grants(ctx context.Context, kind string) ([]accounts.Grant, error) {
	gs, err := s.Store.Grants(ctx, kind)
	return gs, s.count("grants", err)
}

func (s countingStore) DeleteGrant(ctx context.Context, kind, id string) error {
	return s.count("delete_grant", s.Store.DeleteGrant(ctx, kind, id))
}

func (s countingStore) UseGrant(ctx context.Context, kind, hash string, now time.Time) (accounts.Grant, error) {
	g, err := s.Store.UseGrant(ctx, kind, hash, now)
	return g, s.count("use_grant", err)
}

func (s countingStore) UserSessions(ctx context.Context, user string) (int, error) {
	n, err := s.Store.UserSessions(ctx, user)
	return n, s.count("user_sessions", err)
}

func (s countingStore) UseOnce(ctx context.Context, key string, until time.Time) (bool, error) {
	first, err := s.Store.UseOnce(ctx, key, until)
	return first, s.count("use_once", err)
}

func (s countingStore) Ping(ctx context.Context) error {
	return s.count("ping", s.Store.Ping(ctx))
}
