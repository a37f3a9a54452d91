package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
	"github.com/latchkeyhq/latchkey/handlers"
	"github.com/latchkeyhq/latchkey/realms"
)

const testPublicURL = "https://id.example.test"

// fixture is the real service in-process: embedded JetStream, registry and
// echo, with realm acme and one client-credentials client.
type fixture struct {
	srv    *estest.Server
	reg    *realms.Registry
	e      *echo.Echo
	realm  *realms.Realm
	client string
	secret string
}

func newFixture(tb testing.TB) *fixture {
	return newFixtureWith(tb, false)
}

// newFixtureWith can turn fsync off, for a benchmark baseline only.
func newFixtureWith(tb testing.TB, noSync bool) *fixture {
	tb.Helper()
	srv := estest.StartWith(tb, eventstore.EmbeddedConfig{DataDir: tb.TempDir(), NoSync: noSync})
	ctx := context.Background()
	keys, err := realms.OpenKeyStore(ctx, srv.Store, make([]byte, 32))
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	passwords, err := realms.OpenPasswordStore(ctx, srv.Store, make([]byte, 32))
	if err != nil {
		tb.Fatal(err)
	}
	reg := realms.NewRegistry(srv.Store, keys, passwords, testPublicURL, log)
	tb.Cleanup(reg.Close)
	consoleSessions, err := realms.OpenConsoleSessions(ctx, srv.Store, make([]byte, 32))
	if err != nil {
		tb.Fatal(err)
	}
	reg.UseConsoleSessions(consoleSessions)
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	rl, err := reg.Create(ctx, "acme", meta)
	if err != nil {
		tb.Fatal(err)
	}
	created, err := rl.Clients().Create(ctx, "", domain.ClientSettings{Name: "backend", Scopes: []string{"read", "write"}}, false, meta)
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{srv: srv, reg: reg, e: handlers.New(handlers.Config{Registry: reg, Log: log}), realm: rl, client: created.Client.ID, secret: created.Secret}
}

// post sends a form to the handler in-process.
func (f *fixture) post(path string, form url.Values, mutate func(*http.Request)) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if mutate != nil {
		mutate(req)
	}
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, req)
	return rec
}

// accessToken reads access_token from a 200 token response.
func accessToken(tb testing.TB, rec *httptest.ResponseRecorder) string {
	tb.Helper()
	if rec.Code != http.StatusOK {
		tb.Fatalf("token: status %d: %s", rec.Code, rec.Body)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.AccessToken == "" {
		tb.Fatalf("token response %s: %v", rec.Body, err)
	}
	return body.AccessToken
}
