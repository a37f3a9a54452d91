package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/handlers"
	"github.com/latchkeyhq/latchkey/realms"
	"github.com/latchkeyhq/latchkey/realms/webfetch"
)

// serveConfig is every setting of `latchkey serve`; each flag has an
// environment variable of the same meaning, and the flag wins.
type serveConfig struct {
	httpAddr  string
	http      httpLimits
	dataDir   string
	publicURL string
	routing   routingConfig
	nats      natsConfig
	replicas  int
	logLevel  string
	noSync    bool
	audit     realms.AuditConfig
	limits    realms.Limits
	// startTimeout bounds start-up: provisioning steps that fail are
	// retried with backoff until it passes.
	startTimeout time.Duration
	// cimdLoopback lets client metadata documents and key sets be fetched
	// from loopback addresses: tests and development only.
	cimdLoopback bool
}

func parseServeFlags(args []string) (serveConfig, error) {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&cfg.httpAddr, "http", envOr("LATCHKEY_HTTP", "127.0.0.1:8080"), "HTTP listen address (LATCHKEY_HTTP)")
	fs.StringVar(&cfg.dataDir, "data", envOr("LATCHKEY_DATA", "./data"), "data directory (LATCHKEY_DATA)")
	fs.StringVar(&cfg.publicURL, "public-url", envOr("LATCHKEY_PUBLIC_URL", ""), "public base URL; issuers are <public-url>/realms/<realm> (LATCHKEY_PUBLIC_URL; default http://<http>)")
	routingFlags(fs, &cfg.routing)
	envErrs := map[string]error{}
	httpFlags(fs, &cfg.http, envErrs)
	natsFlags(fs, &cfg.nats, envErrs)
	replicas := envInt(envErrs, "replicas", "LATCHKEY_REPLICAS", 1)
	fs.IntVar(&cfg.replicas, "replicas", replicas, "replicas of each realm stream: 1, or 3 on a cluster (LATCHKEY_REPLICAS)")
	fs.StringVar(&cfg.logLevel, "log-level", envOr("LATCHKEY_LOG_LEVEL", "info"), "debug, info, warn or error (LATCHKEY_LOG_LEVEL)")
	fs.BoolVar(&cfg.cimdLoopback, "cimd-allow-loopback", false, "development and tests only: fetch client metadata documents and key sets from loopback addresses (never in production: it lets a client_id URL reach this host's own services)")
	fs.BoolVar(&cfg.noSync, "unsafe-no-fsync", false, "embedded NATS only: do not fsync each write (for benchmark comparisons; loses acknowledged events on power failure)")
	auditFlags(fs, &cfg.audit, envErrs)
	limitFlags(fs, &cfg.limits, envErrs)
	startTimeout := envDuration(envErrs, "start-timeout", "LATCHKEY_START_TIMEOUT", 2*time.Minute)
	fs.DurationVar(&cfg.startTimeout, "start-timeout", startTimeout, "how long start-up retries provisioning (streams, buckets, the bootstrap realm) that fails, as on a cluster still forming, before giving up (LATCHKEY_START_TIMEOUT)")
	if err := parseFlags(fs, args, envErrs); err != nil {
		return cfg, err
	}
	if err := checkLimits(cfg.limits); err != nil {
		return cfg, usageError(err)
	}
	if _, err := newLogger(cfg.logLevel); err != nil {
		return cfg, usageError(err)
	}
	if err := cfg.http.check(); err != nil {
		return cfg, usageError(err)
	}
	if cfg.startTimeout <= 0 {
		return cfg, usageError(errors.New("--start-timeout must be positive"))
	}
	if err := cfg.nats.check(); err != nil {
		return cfg, usageError(err)
	}
	if cfg.publicURL == "" {
		cfg.publicURL = "http://" + cfg.httpAddr
	}
	publicURL, err := checkPublicURL(cfg.publicURL)
	if err != nil {
		return cfg, usageError(err)
	}
	cfg.publicURL = publicURL
	if err := cfg.routing.check(publicURL); err != nil {
		return cfg, usageError(err)
	}
	return cfg, nil
}

// checkPublicURL reads the base of every issuer: an absolute http(s) URL
// with no query, fragment or user info (RFC 8414 §2), without a final '/'.
func checkPublicURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("--public-url %q must be an http or https URL with no query, fragment or user info", s)
	}
	return strings.TrimRight(s, "/"), nil
}

func newLogger(level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lv})), nil
}

func serve(args []string) error {
	cfg, err := parseServeFlags(args)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.logLevel)
	if err != nil {
		return err
	}
	if err := realms.CheckBootstrapSecret(os.Getenv("LATCHKEY_BOOTSTRAP_CLIENT_SECRET")); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if cfg.nats.url == "" {
		unlock, err := eventstore.LockDataDir(cfg.dataDir)
		if err != nil {
			return err
		}
		defer unlock() // last: after the embedded server has stopped
	}
	// The master key first: the NATS listener's realm users derive from it.
	masterKey, generated, err := realms.LoadMasterKey(cfg.dataDir, os.Getenv("LATCHKEY_MASTER_KEY"))
	if err != nil {
		return err
	}
	backend, err := openNATS(cfg.nats, cfg.dataDir, cfg.noSync, masterKey, log)
	if err != nil {
		if generated != "" && cfg.nats.url == "" {
			_ = os.Remove(generated) // it sealed nothing, and the lock is ours
		}
		return err
	}
	defer backend.close()
	eventKey, err := eventstore.DeriveKey(masterKey, eventstore.PurposeEventMAC)
	if err != nil {
		return err
	}
	foreign := newForeignMessages(log)
	store, err := eventstore.New(backend.nc, eventstore.Options{Replicas: cfg.replicas, EventKey: eventKey, OnForeign: foreign.report})
	if err != nil {
		return err
	}
	defer store.Close()

	// The registry, once provisioned, closes after HTTP has drained.
	var reg *realms.Registry
	defer func() {
		if reg != nil {
			reg.Close()
		}
	}()

	// HTTP answers from here on: /readyz says what start-up waits for.
	start := newStartup(log, cfg.startTimeout)
	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return err
	}
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), foreign.count)
	ln = cfg.http.limitListener(ln, promReg)
	// Requests in flight when shutdown starts finish; long-lived responses
	// (the audit event stream) end on their own once not ready.
	srv := newHTTPServer(start, cfg.http, log)
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(ln) }()
	// On every way out, HTTP drains first (deferred last, so it runs before
	// the registry, the store and NATS close).
	defer func() {
		stopping := "shutdown"
		start.stage.Store(&stopping)
		log.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Warn("http shutdown", "err", err)
		}
	}()
	log.Info("listening", "http", ln.Addr().String(), "public_url", cfg.publicURL, "embedded_nats", backend.ns != nil)

	reg, err = provision(ctx, start, cfg, store, masterKey, generated)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped by a signal while starting
		}
		return err
	}
	start.serve(handlers.New(handlers.Config{Registry: reg, Log: log, Waiting: start.waiting, Metrics: promReg, DefaultRealm: cfg.routing.defaultRealm}))

	if err := start.step(ctx, stageRealms, reg.LoadAll); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("loading realms: %w", err)
	}
	var boot *realms.Bootstrapped
	err = start.step(ctx, stageBootstrap, func(ctx context.Context) (err error) {
		boot, err = realms.Bootstrap(ctx, reg, cfg.dataDir, realms.BootstrapSecrets{
			ClientSecret: os.Getenv("LATCHKEY_BOOTSTRAP_CLIENT_SECRET"), AdminPassword: os.Getenv("LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD"),
		}, time.Now())
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("bootstrap: %w", err)
	}
	announceBootstrap(boot, cfg.dataDir)
	err = start.step(ctx, stageConsoles, func(ctx context.Context) error {
		return reg.EnsureConsoles(ctx, eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()})
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("console clients: %w", err)
	}
	start.setReady()
	log.Info("ready", "realms", len(reg.List()))

	select {
	case <-ctx.Done():
		return nil
	case err := <-httpDone:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// provision opens the shared stores, each step retried until the start
// deadline, and returns the realm registry over them.
func provision(ctx context.Context, start *startup, cfg serveConfig, store *eventstore.Store, masterKey []byte, generated string) (*realms.Registry, error) {
	var keys *realms.KeyStore
	err := start.step(ctx, stageKeys, func(ctx context.Context) (err error) {
		if keys, err = realms.OpenKeyStore(ctx, store, masterKey); err != nil {
			return err
		}
		return keys.CheckMasterKey(ctx)
	})
	if err != nil {
		// A key generated by this start has sealed nothing yet: it goes,
		// unless another process (sharing the store, not the lock) may
		// already have read it and only a wrong key is certain.
		if generated != "" && (errors.Is(err, realms.ErrWrongMasterKey) || cfg.nats.url == "") {
			_ = os.Remove(generated)
		}
		if errors.Is(err, realms.ErrWrongMasterKey) {
			return nil, fmt.Errorf("%w; start with LATCHKEY_MASTER_KEY set to that key, or with its %s back in %s", err, realms.MasterKeyFile, cfg.dataDir)
		}
		return nil, fmt.Errorf("checking the master key against the stored keys: %w", err)
	}
	var passwords *realms.KeyStore
	err = start.step(ctx, stagePasswords, func(ctx context.Context) (err error) {
		passwords, err = realms.OpenPasswordStore(ctx, store, masterKey)
		return err
	})
	if err != nil {
		return nil, err
	}
	var snapshots *realms.SnapshotStore
	err = start.step(ctx, stageSnapshots, func(ctx context.Context) (err error) {
		snapshots, err = realms.OpenSnapshotStore(ctx, store)
		return err
	})
	if err != nil {
		return nil, err
	}
	reg := realms.NewRegistry(store, keys, passwords, cfg.publicURL, start.log)
	if err := reg.SetAudit(cfg.audit); err != nil {
		return nil, err
	}
	if cfg.cimdLoopback {
		start.log.Warn("--cimd-allow-loopback: client metadata documents and key sets may be fetched from loopback addresses; never use this in production")
		reg.UseFetcher(webfetch.Config{AllowLoopback: true})
	}
	if err := reg.UseHosts(cfg.routing.hosts); err != nil {
		return nil, err
	}
	if err := start.step(ctx, stageLimits, func(ctx context.Context) error { return reg.SetLimits(ctx, cfg.limits) }); err != nil {
		return nil, err
	}
	reg.UseSnapshots(snapshots)
	var consoleSessions *realms.ConsoleSessions
	err = start.step(ctx, stageConsoleSessions, func(ctx context.Context) (err error) {
		consoleSessions, err = realms.OpenConsoleSessions(ctx, store, masterKey)
		return err
	})
	if err != nil {
		return nil, err
	}
	reg.UseConsoleSessions(consoleSessions)
	// Streams written before event MACs: from now on every message needs
	// one (see eventstore/eventmac.go).
	var upgraded map[string]uint64
	err = start.step(ctx, stageMACs, func(ctx context.Context) (err error) {
		upgraded, err = store.RequireMACs(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("recording where event MACs start: %w", err)
	}
	for realm, from := range upgraded {
		start.log.Info("event MACs required", "realm", realm, "from_seq", from, "legacy", "messages before it without a MAC are read as before")
	}
	return reg, nil
}

// announceBootstrap prints a generated admin secret or password once, to
// stderr and outside the JSON log, so that it never lands in log storage by
// accident.
func announceBootstrap(b *realms.Bootstrapped, dataDir string) {
	if b == nil {
		return
	}
	switch {
	case b.ClientID == "":
	case b.Secret == "":
		fmt.Fprintf(os.Stderr, "\nLatchkey bootstrap: created realm master and client %s with the secret from LATCHKEY_BOOTSTRAP_CLIENT_SECRET.\n\n", b.ClientID)
	default:
		fmt.Fprintf(os.Stderr, `
Latchkey bootstrap: created realm master and its admin client. The secret is shown once
(also written to %s/%s, mode 0600):

  client_id:     %s
  client_secret: %s
  token:         %s

`, dataDir, realms.BootstrapFile, b.ClientID, b.Secret, b.TokenEndpoint)
	}
	switch {
	case b.AdminUsername == "":
	case b.AdminPassword == "":
		fmt.Fprintf(os.Stderr, "\nLatchkey bootstrap: created user %s of realm master (realm-admin) with the password from LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD; the console is at %s\n\n", b.AdminUsername, b.ConsoleURL)
	default:
		fmt.Fprintf(os.Stderr, `
Latchkey bootstrap: created user %s of realm master (realm-admin). The password is shown once
(also written to %s/%s, mode 0600):

  console:  %s
  username: %s
  password: %s

`, b.AdminUsername, dataDir, realms.BootstrapFile, b.ConsoleURL, b.AdminUsername, b.AdminPassword)
	}
}
