package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkeyhq/latchkey/realms/verifier"
)

// fakeVerifier knows a fixed set of tokens; any other is invalid.
type fakeVerifier map[string]*verifier.Claims

const (
	revokedToken = "revoked"
	staleToken   = "stale" // valid, but the revocation feed is stale
)

func (f fakeVerifier) Verify(token string) (*verifier.Claims, error) {
	switch token {
	case revokedToken:
		return nil, verifier.ErrRevoked
	case staleToken:
		return nil, verifier.ErrStale
	}
	if c, ok := f[token]; ok {
		return c, nil
	}
	return nil, verifier.ErrInvalid
}

// VerifyDPoP knows no DPoP-bound tokens.
func (f fakeVerifier) VerifyDPoP(verifier.DPoPRequest) (*verifier.Claims, error) {
	return nil, verifier.ErrInvalid
}

func (f fakeVerifier) Health() verifier.Health { return verifier.Health{Live: true} }

func claims(sub, scope string) *verifier.Claims {
	return &verifier.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub}, ClientID: sub, Scope: scope}
}

const (
	testIssuer   = "http://127.0.0.1:8080/realms/acme"
	testResource = "http://127.0.0.1:9090"
	meta         = `Bearer resource_metadata="http://127.0.0.1:9090/.well-known/oauth-protected-resource"`
)

func TestHello(t *testing.T) {
	v := fakeVerifier{
		"reader":   claims("c-reader", "openid read"),
		"writer":   claims("c-writer", "write readonly"),
		"unscoped": claims("c-unscoped", ""),
	}
	cases := []struct {
		name      string
		scope     string // required by the server
		method    string
		auth      string // Authorization header; empty sends none
		status    int
		challenge string // expected prefix of WWW-Authenticate
		errCode   string
	}{
		{"no token", "read", "GET", "", 401, meta + `, scope="read"`, "invalid_token"},
		{"empty bearer", "read", "GET", "Bearer ", 401, meta + `, scope="read"`, "invalid_token"},
		{"basic credentials", "read", "GET", "Basic Zm9vOmJhcg==", 401, meta + `, scope="read"`, "invalid_token"},
		{"unknown token", "read", "GET", "Bearer forged", 401, meta + `, error="invalid_token"`, "invalid_token"},
		{"revoked token", "read", "GET", "Bearer " + revokedToken, 401, meta + `, error="invalid_token"`, "invalid_token"},
		{"stale revocation feed", "read", "GET", "Bearer " + staleToken, 503, "", "temporarily_unavailable"},
		{"scope missing", "read", "GET", "Bearer writer", 403, meta + `, error="insufficient_scope"`, "insufficient_scope"},
		{"no scopes at all", "read", "GET", "Bearer unscoped", 403, meta + `, error="insufficient_scope"`, "insufficient_scope"},
		{"scope present", "read", "GET", "Bearer reader", 200, "", ""},
		{"scheme is case-insensitive", "read", "GET", "bearer reader", 200, "", ""},
		{"no scope required", "", "GET", "Bearer unscoped", 200, "", ""},
		{"wrong method", "read", "POST", "Bearer reader", 405, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/hello", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			newMux(v, testIssuer, testResource, tc.scope).ServeHTTP(rec, req)

			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			got := rec.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(got, tc.challenge) || (tc.challenge == "") != (got == "") {
				t.Errorf("WWW-Authenticate %q, want prefix %q", got, tc.challenge)
			}
			if tc.status == 403 && !strings.Contains(got, `scope="read"`) {
				t.Errorf("WWW-Authenticate %q does not name the required scope", got)
			}
			if tc.errCode != "" {
				var body struct{ Error string }
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != tc.errCode {
					t.Errorf("body %s, want error %q", rec.Body, tc.errCode)
				}
			}
		})
	}
}

func TestHelloAnswersWithTheTokensClaims(t *testing.T) {
	v := fakeVerifier{"tok": claims("c-1", "openid read")}
	req := httptest.NewRequest(http.MethodGet, "/hello", nil)
	req.Header.Set("Authorization", "Bearer tok")
	rec := httptest.NewRecorder()
	newMux(v, testIssuer, testResource, "read").ServeHTTP(rec, req)

	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var got map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"hello": "c-1", "client_id": "c-1", "scope": "openid read"}
	if len(got) != len(want) {
		t.Errorf("body %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
}

func TestRevokedAndInvalidAreTold(t *testing.T) {
	for token, want := range map[string]string{revokedToken: "revoked", "forged": "invalid"} {
		req := httptest.NewRequest(http.MethodGet, "/hello", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		newMux(fakeVerifier{}, testIssuer, testResource, "").ServeHTTP(rec, req)
		if h := rec.Header().Get("WWW-Authenticate"); !strings.Contains(h, want) {
			t.Errorf("token %q: WWW-Authenticate %q does not say %q", token, h, want)
		}
	}
}

// healthOnly is a verifier in a given health that knows no token.
type healthOnly verifier.Health

func (h healthOnly) Verify(string) (*verifier.Claims, error) { return nil, verifier.ErrInvalid }
func (h healthOnly) VerifyDPoP(verifier.DPoPRequest) (*verifier.Claims, error) {
	return nil, verifier.ErrInvalid
}
func (h healthOnly) Health() verifier.Health { return verifier.Health(h) }

func TestHealthzTellsWhetherTokensCanBeChecked(t *testing.T) {
	for _, tc := range []struct {
		health verifier.Health
		status int
		state  string
	}{
		{verifier.Health{Live: true}, 200, "live"},
		{verifier.Health{Introspecting: true}, 200, "introspecting"},
		{verifier.Health{}, 503, "stale"},
	} {
		rec := httptest.NewRecorder()
		newMux(healthOnly(tc.health), testIssuer, testResource, "").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		var body struct{ Status string }
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != tc.status || body.Status != tc.state {
			t.Errorf("health %+v: HTTP %d %s, want %d %q", tc.health, rec.Code, rec.Body, tc.status, tc.state)
		}
	}
}

func TestStaleFeedAsksTheClientToRetry(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/hello", nil)
	req.Header.Set("Authorization", "Bearer "+staleToken)
	rec := httptest.NewRecorder()
	newMux(fakeVerifier{}, testIssuer, testResource, "").ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || rec.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("stale feed: HTTP %d, Retry-After %q, WWW-Authenticate %q", rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("WWW-Authenticate"))
	}
}

// The protected-resource metadata leads a client to the realm.
func TestProtectedResourceMetadata(t *testing.T) {
	rec := httptest.NewRecorder()
	newMux(fakeVerifier{}, testIssuer, testResource, "read").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-protected-resource", nil))
	var md struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &md); err != nil || rec.Code != 200 || md.Resource != testResource ||
		len(md.AuthorizationServers) != 1 || md.AuthorizationServers[0] != testIssuer || len(md.ScopesSupported) != 1 {
		t.Errorf("metadata: %d %s", rec.Code, rec.Body)
	}
}
