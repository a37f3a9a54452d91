package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/latchkeyhq/latchkey/domain"
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
