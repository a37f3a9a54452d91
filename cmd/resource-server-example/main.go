// Command resource-server-example is a minimal resource server that accepts
// a Latchkey realm's access tokens with the verifier package: tokens are
// checked locally against the realm's JWKS, and revoked tokens are refused
// by following the realm's revocation rules on NATS, as the realm's NATS
// user. When that feed is stale it answers 503 (or asks introspection, with
// --introspect-client-id), and says so on /healthz.
//
//	latchkey nats-credentials --realm acme > acme-nats.json
//	go run ./cmd/resource-server-example \
//	  --issuer http://127.0.0.1:8080/realms/acme --nats-credentials acme-nats.json --scope read
//	curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9090/hello
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/latchkeyhq/latchkey/realms/verifier"
)

// tokenVerifier is what the handler needs of *verifier.Verifier.
type tokenVerifier interface {
	Verify(token string) (*verifier.Claims, error)
	Health() verifier.Health
}

// options are the command line.
type options struct {
	issuer, realm      string
	listen, scope      string
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

	cfg := verifier.Config{Issuer: o.issuer, Realm: o.realm, NATS: nc}
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

	srv := &http.Server{Addr: o.listen, Handler: newMux(v, o.scope), ReadHeaderTimeout: 10 * time.Second,
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

func newMux(v tokenVerifier, scope string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /hello", requireToken(v, scope, http.HandlerFunc(hello)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { healthz(w, v.Health()) })
	return mux
}

type claimsKey struct{}

// requireToken lets a request through only with a valid, unrevoked bearer
// token (RFC 6750) that carries scope, when scope is not empty.
func requireToken(v tokenVerifier, scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r)
		if !ok {
			deny(w, http.StatusUnauthorized, "invalid_token", "a bearer access token is required", "")
			return
		}
		claims, err := v.Verify(token)
		if errors.Is(err, verifier.ErrRevoked) {
			deny(w, http.StatusUnauthorized, "invalid_token", "the access token has been revoked", "")
			return
		}
		if errors.Is(err, verifier.ErrStale) {
			// The token may be fine; whether it was revoked cannot be
			// known now. Not a 401: the client should retry, not sign in.
			w.Header().Set("Retry-After", "5")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable", "error_description": "tokens cannot be checked right now"})
			return
		}
		if err != nil {
			deny(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired", "")
			return
		}
		if scope != "" && !slices.Contains(strings.Fields(claims.Scope), scope) {
			deny(w, http.StatusForbidden, "insufficient_scope", "the access token lacks scope "+scope, scope)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
	})
}

func hello(w http.ResponseWriter, r *http.Request) {
	c := r.Context().Value(claimsKey{}).(*verifier.Claims)
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

// bearerToken reads "Authorization: Bearer <token>"; the scheme is
// case-insensitive.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

// deny answers with an RFC 6750 §3 challenge and a JSON error body.
func deny(w http.ResponseWriter, status int, code, description, scope string) {
	challenge := fmt.Sprintf("Bearer error=%q, error_description=%q", code, description)
	if scope != "" {
		challenge += fmt.Sprintf(", scope=%q", scope)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
