package handlers_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/realms"
)

// Served under an https public URL, every answer tells browsers to use
// https only (HSTS), and none may be sniffed or leak a Referer.
func TestHSTSUnderAnHTTPSPublicURL(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/realms/acme/.well-known/openid-configuration", "/realms/nope/protocol/openid-connect/auth", "/healthz"} {
		rec := httptest.NewRecorder()
		f.e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		for k, want := range map[string]string{
			"Strict-Transport-Security": "max-age=31536000", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
		} {
			if got := rec.Header().Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", path, k, got, want)
			}
		}
	}
}

// Failed client authentications at the token, introspection and
// revocation endpoints count together per client id; past the limit they
// are 429 with Retry-After and an OAuth error body, while the right secret
// is never refused.
func TestFailedClientAuthenticationIsLimited(t *testing.T) {
	f := newFixture(t)
	l := realms.DefaultLimits()
	l.ClientAuth = domain.Limit{Max: 3, Window: 60}
	if err := f.reg.SetLimits(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	wrong := func(r *http.Request) { r.SetBasicAuth(f.client, "wrong secret") }
	right := func(r *http.Request) { r.SetBasicAuth(f.client, f.secret) }
	cc := url.Values{"grant_type": {"client_credentials"}}
	for i, path := range []string{
		"/realms/acme/protocol/openid-connect/token",
		"/realms/acme/protocol/openid-connect/token/introspect",
	} {
		if rec := f.post(path, url.Values{"grant_type": {"client_credentials"}, "token": {"x"}}, wrong); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d at %s: %d %s, want 401", i+1, path, rec.Code, rec.Body)
		}
	}
	rec := f.post("/realms/acme/protocol/openid-connect/revoke", url.Values{"token": {"x"}}, wrong)
	var body struct{ Error string }
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "60" || body.Error != "invalid_client" {
		t.Fatalf("the third failure: %d Retry-After %q %s; want 429, 60 and invalid_client", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	accessToken(t, f.post("/realms/acme/protocol/openid-connect/token", cc, right))
}

// Failed client assertions (private_key_jwt) count against the client the
// assertion names in iss, as wrong secrets do, whether or not the request
// sends a client_id; a valid assertion is never refused by the limit.
func TestFailedClientAssertionsAreLimited(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := realms.DefaultLimits()
	l.ClientAuth = domain.Limit{Max: 3, Window: 60}
	if err := f.reg.SetLimits(ctx, l); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	created, err := f.realm.Clients().Create(ctx, "", domain.ClientSettings{
		Name: "signed", TokenEndpointAuthMethod: domain.AuthPrivateKeyJWT, JWKS: set, Scopes: []string{"read"},
	}, false, eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	id := created.Client.ID
	tokenPath := "/realms/acme/protocol/openid-connect/token"
	assertionOf := func(id string, signer *ecdsa.PrivateKey) string {
		now := time.Now()
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.RegisteredClaims{
			Issuer: id, Subject: id, Audience: jwt.ClaimStrings{testPublicURL + "/realms/acme"}, ID: uuid.NewString(),
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		})
		s, err := tok.SignedString(signer)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	assertion := func(signer *ecdsa.PrivateKey) string { return assertionOf(id, signer) }
	form := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {domain.ClientAssertionType}, "client_assertion": {a}}
	}
	// Signed by a key the client does not hold; then a replay.
	if rec := f.post(tokenPath, form(assertion(stranger)), nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("a forged assertion: %d %s, want 401", rec.Code, rec.Body)
	}
	valid := assertion(key)
	accessToken(t, f.post(tokenPath, form(valid), nil))
	if rec := f.post(tokenPath, form(valid), nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("a replayed assertion: %d %s, want 401", rec.Code, rec.Body)
	}
	// Another client's failure is its own.
	if rec := f.post(tokenPath, form(assertionOf(f.client, stranger)), nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("another client's failed assertion: %d %s, want 401", rec.Code, rec.Body)
	}
	introspect := form(assertion(stranger))
	introspect.Set("token", "x")
	rec := f.post("/realms/acme/protocol/openid-connect/token/introspect", introspect, nil)
	var body struct{ Error string }
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "60" || body.Error != "invalid_client" {
		t.Fatalf("the third failed assertion: %d Retry-After %q %s; want 429, 60 and invalid_client", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	accessToken(t, f.post(tokenPath, form(assertion(key)), nil))
}
