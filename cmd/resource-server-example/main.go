// Command resource-server-example is a minimal resource server that accepts
// a Latchkey realm's access tokens with the verifier package: tokens are
// checked locally against the realm's JWKS, and revoked tokens are refused
// by following the realm's revocation rules on NATS, as the realm's NATS
// user. When that feed is stale it answers 503 (or asks introspection, with
// --introspect-client-id), and says so on /healthz. With --resource (the
// identifier of a resource registered in the realm, RFC 8707) it accepts
// only tokens minted for it; it serves its protected-resource metadata
// (RFC 9728) either way, through verifier.Resource.
//
//	latchkey nats-credentials --realm acme > acme-nats.json
//	go run ./cmd/resource-server-example \
//	  --issuer http://127.0.0.1:8080/realms/acme --nats-credentials acme-nats.json --scope read
//	curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9090/hello
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/latchkeyhq/latchkey/realms/verifier"
)

// tokenVerifier is what the handler needs of *verifier.Verifier.
type tokenVerifier interface {
	verifier.TokenVerifier
	Health() verifier.Health
}

// options are the command line.
type options struct {
	issuer, realm      string
	listen, scope      string
	resource           string
	natsURL, natsCA    string
	creds              verifier.Credentials
	credsFile          string
	introspectClientID string
}

func main() {
	var o options
	flag.StringVar(&o.issuer, "issuer", "", "the realm's issuer URL, e.g. http://127.0.0.1:8080/realms/acme (required)")
	flag.StringVar(&o.realm, "realm", "", "the realm's name, when its issuer is a host it claims (no /realms/<realm> in it)")
	flag.StringVar(&o.natsURL, "nats-url", "nats://127.0.0.1:4222", "NATS server(s) carrying the realm's revocation rules, comma-separated (tls://... for TLS)")
	flag.StringVar(&o.credsFile, "nats-credentials", "", "JSON file printed by `latchkey nats-credentials --realm <realm>`")
	flag.StringVar(&o.creds.User, "nats-user", "", "NATS user, when not in --nats-credentials (e.g. rs-acme of deploy/nats/nats.conf)")
	flag.StringVar(&o.natsCA, "nats-ca", "", "PEM file of the CA of the NATS server's TLS certificate (optional)")
	flag.StringVar(&o.introspectClientID, "introspect-client-id", "", "client of the realm that introspects tokens while the NATS feed is stale; its secret is read from INTROSPECT_CLIENT_SECRET (optional: without it, such tokens get 503)")
	flag.StringVar(&o.listen, "listen", "127.0.0.1:9090", "HTTP listen address")
	flag.StringVar(&o.scope, "scope", "", "scope a token must carry to call /hello (optional)")
	flag.StringVar(&o.resource, "resource", "", "this server's resource identifier as registered in the realm, e.g. http://127.0.0.1:9090 (optional: without it, tokens minted without a resource are accepted)")
	flag.Parse()
	if o.issuer == "" {
		fmt.Fprintln(os.Stderr, "resource-server-example: --issuer is required")
		flag.Usage()
		os.Exit(2)
	}
	o.creds.Password = os.Getenv("NATS_PASSWORD") // with --nats-user
	if err := run(o); err != nil {
		slog.Error("resource-server-example", "err", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	realm, err := o.realm, error(nil)
	if realm == "" {
		if realm, err = verifier.RealmOf(o.issuer); err != nil {
			return fmt.Errorf("%w (a host issuer needs --realm)", err)
		}
	}
	if o.credsFile != "" {
		if o.creds, err = verifier.LoadCredentials(o.credsFile); err != nil {
			return err
		}
	}
	opts := []nats.Option{nats.Name("resource-server-example")}
	if o.natsCA != "" {
		opts = append(opts, nats.RootCAs(o.natsCA))
	}
	nc, err := verifier.Connect(o.natsURL, realm, o.creds, opts...)
	if err != nil {
		return fmt.Errorf("connecting to NATS: %w", err)
	}
	defer nc.Close()

	cfg := verifier.Config{Issuer: o.issuer, Realm: o.realm, Audience: o.resource, NATS: nc}
	if o.resource == "" {
		cfg.Audience = o.issuer // tokens minted without a resource
	}
	if o.introspectClientID != "" {
		cfg.Introspection = &verifier.Introspection{ClientID: o.introspectClientID, ClientSecret: os.Getenv("INTROSPECT_CLIENT_SECRET")}
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	v, err := verifier.New(startCtx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("starting the verifier: %w", err)
	}
	defer v.Close()

	srv := &http.Server{Addr: o.listen, Handler: newMux(v, o.issuer, o.identifier(), o.scope), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("listening", "addr", o.listen, "issuer", o.issuer, "scope", o.scope)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// identifier is the resource this server is: --resource, or its own URL.
func (o options) identifier() string {
	if o.resource != "" {
		return o.resource
	}
	return "http://" + o.listen
}

func newMux(v tokenVerifier, issuer, identifier, scope string) *http.ServeMux {
	res := &verifier.Resource{Verifier: v, AuthorizationServer: issuer, Identifier: identifier}
	var required []string
	if scope != "" {
		res.Scopes, required = []string{scope}, []string{scope}
	}
	mux := http.NewServeMux()
	res.Mount(mux)
	mux.Handle("GET /hello", res.Require(required...)(http.HandlerFunc(hello)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { healthz(w, v.Health()) })
	return mux
}

func hello(w http.ResponseWriter, r *http.Request) {
	c, _ := verifier.ClaimsFrom(r.Context())
	writeJSON(w, http.StatusOK, map[string]string{"hello": c.Subject, "client_id": c.ClientID, "scope": c.Scope})
}

// healthz answers 200 while revocations are followed live (or tokens are
// introspected instead), 503 while every token is refused.
func healthz(w http.ResponseWriter, h verifier.Health) {
	status, state := http.StatusOK, "live"
	switch {
	case h.Introspecting:
		state = "introspecting"
	case !h.Live:
		status, state = http.StatusServiceUnavailable, "stale"
	}
	writeJSON(w, status, map[string]any{"status": state, "revocations_synced_at": h.SyncedAt.UTC().Format(time.RFC3339)})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
