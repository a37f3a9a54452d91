// Command resource-server-example is a minimal resource server that accepts
// a Latchkey realm's access tokens with the verifier package: tokens are
// checked locally against the realm's JWKS, and revoked tokens are refused
// by following the realm's revocation rules on NATS.
//
//	go run ./cmd/resource-server-example \
//	  --issuer http://127.0.0.1:8080/realms/acme --scope read
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
}

func main() {
	issuer := flag.String("issuer", "", "the realm's issuer URL, e.g. http://127.0.0.1:8080/realms/acme (required)")
	natsURL := flag.String("nats-url", "nats://127.0.0.1:4222", "NATS server(s) carrying the realm's revocation rules, comma-separated")
	natsUser := flag.String("nats-user", "", "NATS user (optional)")
	natsPassword := flag.String("nats-password", "", "NATS password (optional)")
	listen := flag.String("listen", "127.0.0.1:9090", "HTTP listen address")
	scope := flag.String("scope", "", "scope a token must carry to call /hello (optional)")
	flag.Parse()
	if *issuer == "" {
		fmt.Fprintln(os.Stderr, "resource-server-example: --issuer is required")
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*issuer, *natsURL, *natsUser, *natsPassword, *listen, *scope); err != nil {
		slog.Error("resource-server-example", "err", err)
		os.Exit(1)
	}
}

func run(issuer, natsURL, natsUser, natsPassword, listen, scope string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	realm, err := verifier.RealmOf(issuer)
	if err != nil {
		return err
	}
	// Replies arrive under the realm's own inbox prefix: the only one its
	// NATS permissions let it read (verifier.Permissions).
	opts := []nats.Option{nats.Name("resource-server-example"), nats.MaxReconnects(-1),
		nats.CustomInboxPrefix(verifier.InboxPrefix(realm))}
	if natsUser != "" {
		opts = append(opts, nats.UserInfo(natsUser, natsPassword))
	}
	nc, err := nats.Connect(natsURL, opts...)
	if err != nil {
		return fmt.Errorf("connecting to NATS: %w", err)
	}
	defer nc.Close()

	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	v, err := verifier.New(startCtx, verifier.Config{Issuer: issuer, NATS: nc})
	cancel()
	if err != nil {
		return fmt.Errorf("starting the verifier: %w", err)
	}
	defer v.Close()

	srv := &http.Server{Addr: listen, Handler: newMux(v, scope), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("listening", "addr", listen, "issuer", issuer, "scope", scope)
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
