package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/handlers"
	"github.com/latchkeyhq/latchkey/projections"
)

// serve sends a request to e as a client of host would.
func serve(e http.Handler, method, host, path string, body io.Reader, mutate func(*http.Request)) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://"+host+path, body)
	if mutate != nil {
		mutate(req)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func issuerOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("discovery: %d %s", rec.Code, rec.Body)
	}
	var md struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &md); err != nil {
		t.Fatal(err)
	}
	if md.TokenEndpoint != md.Issuer+"/protocol/openid-connect/token" {
		t.Errorf("token_endpoint %q is not under the issuer %q", md.TokenEndpoint, md.Issuer)
	}
	return md.Issuer
}

func claimsOf(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// TestRoutingByHost: a realm's claimed host reaches it without /realms/
// in the path and is its one issuer, everywhere the issuer shows; a host
// nobody claims routes nothing and never becomes an issuer.
func TestRoutingByHost(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	beta, err := f.reg.Create(ctx, "beta", meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.realm.UpdateSettings(ctx, domain.RealmSettings{Hosts: []string{"ID.Acme.Test", "login.acme.test:8443"}}, meta); err != nil {
		t.Fatal(err)
	}
	// Claims: another realm's host is a conflict, the server's own host
	// and non-hosts are refused, whatever their case.
	var conflict *domain.ConflictError
	if err := beta.UpdateSettings(ctx, domain.RealmSettings{Hosts: []string{"id.acme.test."}}, meta); !errors.As(err, &conflict) {
		t.Errorf("beta claiming acme's host: %v, want a conflict", err)
	}
	var invalid *domain.ValidationError
	for _, h := range []string{"id.example.test", "https://beta.test", "*.beta.test"} {
		if err := beta.UpdateSettings(ctx, domain.RealmSettings{Hosts: []string{h}}, meta); !errors.As(err, &invalid) {
			t.Errorf("beta claiming %q: %v, want a validation error", h, err)
		}
	}

	const acmeIssuer = "https://id.acme.test"
	if got := f.realm.Issuer(); got != acmeIssuer {
		t.Fatalf("acme's issuer = %q, want its first host %q", got, acmeIssuer)
	}
	// Discovery, on either host of the realm or by path on the server's
	// own host, names the one issuer.
	for _, c := range []struct{ host, path string }{
		{"id.acme.test", "/.well-known/openid-configuration"},
		{"ID.ACME.TEST", "/.well-known/openid-configuration"},
		{"login.acme.test:8443", "/.well-known/openid-configuration"},
		{"id.acme.test", "/.well-known/oauth-authorization-server"},
		{"id.acme.test", "/realms/acme/.well-known/openid-configuration"},
		{"id.example.test", "/realms/acme/.well-known/openid-configuration"},
		{"id.example.test", "/.well-known/oauth-authorization-server/realms/acme"},
	} {
		if got := issuerOf(t, serve(f.e, http.MethodGet, c.host, c.path, nil, nil)); got != acmeIssuer {
			t.Errorf("%s%s: issuer %q, want %q", c.host, c.path, got, acmeIssuer)
		}
	}
	// A token got through the host, and its introspection, name it too.
	basic := func(r *http.Request) {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(f.client, f.secret)
	}
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	token := accessToken(t, serve(f.e, http.MethodPost, "id.acme.test", "/protocol/openid-connect/token", strings.NewReader(form), basic))
	if c := claimsOf(t, token); c["iss"] != acmeIssuer || fmt.Sprint(c["aud"]) != "["+acmeIssuer+"]" {
		t.Errorf("token iss %v aud %v, want %s", c["iss"], c["aud"], acmeIssuer)
	}
	rec := serve(f.e, http.MethodPost, "id.acme.test", "/protocol/openid-connect/token/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()), basic)
	var in struct {
		Active bool   `json:"active"`
		Iss    string `json:"iss"`
		Aud    string `json:"aud"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &in)
	if !in.Active || in.Iss != acmeIssuer || in.Aud != acmeIssuer {
		t.Errorf("introspection on the host: %s", rec.Body)
	}
	// A claimed host serves no other realm.
	if rec := serve(f.e, http.MethodGet, "id.acme.test", "/realms/beta/.well-known/openid-configuration", nil, nil); rec.Code != http.StatusNotFound {
		t.Errorf("beta on acme's host: %d, want 404", rec.Code)
	}
	// A host nobody claims routes no path without a realm, and its name
	// never becomes an issuer.
	if rec := serve(f.e, http.MethodGet, "evil.test", "/.well-known/openid-configuration", nil, nil); rec.Code != http.StatusNotFound {
		t.Errorf("an unclaimed host without a realm in the path: %d, want 404", rec.Code)
	}
	if got := issuerOf(t, serve(f.e, http.MethodGet, "evil.test", "/realms/beta/.well-known/openid-configuration", nil, nil)); got != testPublicURL+"/realms/beta" {
		t.Errorf("beta by path on an unclaimed host: issuer %q, want the configured %q", got, testPublicURL+"/realms/beta")
	}
	if rec := serve(f.e, http.MethodGet, "id.example.test", "/.well-known/openid-configuration", nil, nil); rec.Code != http.StatusNotFound {
		t.Errorf("the server's own host without a default realm: %d, want 404", rec.Code)
	}
	// Letting the host go gives the realm its path issuer back, and the
	// host is free for another realm.
	if err := f.realm.UpdateSettings(ctx, domain.RealmSettings{}, meta); err != nil {
		t.Fatal(err)
	}
	if err := beta.UpdateSettings(ctx, domain.RealmSettings{Hosts: []string{"id.acme.test"}}, meta); err != nil {
		t.Fatalf("beta claiming a host acme let go: %v", err)
	}
	if got := f.realm.Issuer(); got != testPublicURL+"/realms/acme" {
		t.Errorf("acme's issuer without hosts = %q", got)
	}
}

// TestDefaultRealmServesTheServersOwnHost: --default-realm answers paths
// without a realm on the public URL's host only.
func TestDefaultRealmServesTheServersOwnHost(t *testing.T) {
	f := newFixture(t)
	e := handlers.New(handlers.Config{Registry: f.reg, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), DefaultRealm: "acme"})
	if got := issuerOf(t, serve(e, http.MethodGet, "id.example.test", "/.well-known/openid-configuration", nil, nil)); got != testPublicURL+"/realms/acme" {
		t.Errorf("default realm: issuer %q, want acme's one issuer", got)
	}
	if rec := serve(e, http.MethodGet, "other.test", "/.well-known/openid-configuration", nil, nil); rec.Code != http.StatusNotFound {
		t.Errorf("another host: %d, want 404", rec.Code)
	}
	if rec := serve(e, http.MethodGet, "id.example.test", "/healthz", nil, nil); rec.Code != http.StatusOK {
		t.Errorf("the server's own paths stay its own: /healthz %d", rec.Code)
	}
}

// TestAdminTokensOfAHostIssuer: a realm's management token names its host
// as issuer; the admin API still finds the realm that issued it.
func TestAdminTokensOfAHostIssuer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	if err := f.realm.UpdateSettings(ctx, domain.RealmSettings{Hosts: []string{"id.acme.test"}}, meta); err != nil {
		t.Fatal(err)
	}
	admin, err := f.realm.Clients().Create(ctx, "", domain.ClientSettings{Name: "admin", Scopes: []string{"management"}}, false, meta)
	if err != nil {
		t.Fatal(err)
	}
	token := accessToken(t, serve(f.e, http.MethodPost, "id.acme.test", "/protocol/openid-connect/token",
		strings.NewReader("grant_type=client_credentials&scope=management"), func(r *http.Request) {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(admin.Client.ID, admin.Secret)
		}))
	rec := serve(f.e, http.MethodGet, "id.example.test", "/admin/realms/acme", nil, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) })
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"issuer":"https://id.acme.test"`) {
		t.Errorf("admin API with a host issuer's token: %d %s", rec.Code, rec.Body)
	}
}

// TestAliasesNeedTheirProfile: an alias exists only where its profile is
// on, and its events say which path they came through.
func TestAliasesNeedTheirProfile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	post := func() *httptest.ResponseRecorder {
		return f.post("/realms/acme/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, func(r *http.Request) { r.SetBasicAuth(f.client, f.secret) })
	}
	if rec := post(); rec.Code != http.StatusNotFound {
		t.Fatalf("/oauth2/token without the coralogix profile: %d, want 404", rec.Code)
	}
	if err := f.realm.UpdateSettings(ctx, domain.RealmSettings{Compat: []string{domain.CompatCoralogix}}, meta); err != nil {
		t.Fatal(err)
	}
	accessToken(t, post())
	events, err := f.realm.History().Events(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var vias []string
	for _, env := range events {
		if env.Type == domain.TypeTokenIssued {
			vias = append(vias, env.Via)
			if entry := projections.AuditEntryOf(env); entry.Via != env.Via {
				t.Errorf("audit entry via %q, event %q", entry.Via, env.Via)
			}
		}
	}
	if len(vias) != 1 || vias[0] != "coralogix POST /oauth2/token" {
		t.Errorf("token.issued via %q, want one, through the alias", vias)
	}
}
