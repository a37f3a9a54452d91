package verifier_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/realms/verifier"
)

const mcpResource = "https://mcp.example.test/mcp"

// The middleware a Go resource server puts in front of its API: metadata
// that leads a client to the realm, and the challenges that say what is
// missing. A token for another resource is refused like an invalid one.
func TestResourceMiddleware(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	srv := startSecuredServer(t, dir, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.store.EnsureRealmStream(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	mint := newTokenMint(t)
	nc, _ := connectAs(t, "nats://"+addr, "acme", srv.credentials("acme"))
	if _, err := verifier.New(ctx, verifier.Config{Issuer: testIssuer, JWKSURL: mint.jwks.URL, NATS: nc}); err == nil ||
		!strings.Contains(err.Error(), "Audience is required") {
		t.Fatalf("a verifier without an audience: %v", err)
	}
	v, err := verifier.New(ctx, verifier.Config{Issuer: testIssuer, Audience: mcpResource, JWKSURL: mint.jwks.URL, NATS: nc})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	res := &verifier.Resource{Verifier: v, Identifier: mcpResource, Name: "Tools", Scopes: []string{"mcp:tools", "mcp:admin"}}
	mux := http.NewServeMux()
	res.Mount(mux)
	mux.Handle("/mcp", res.Require("mcp:tools")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := verifier.ClaimsFrom(r.Context())
		_, _ = io.WriteString(w, "hello "+claims.ClientID)
	})))
	api := httptest.NewServer(mux)
	defer api.Close()

	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		resp, err := http.Get(api.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var md map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&md)
		resp.Body.Close()
		want := map[string]any{"resource": mcpResource, "authorization_servers": []any{testIssuer},
			"scopes_supported": []any{"mcp:tools", "mcp:admin"}, "bearer_methods_supported": []any{"header"}, "resource_name": "Tools",
			"dpop_signing_alg_values_supported": []any{"ES256", "RS256", "EdDSA", "Ed25519"}}
		if resp.StatusCode != 200 || !reflect.DeepEqual(md, want) {
			t.Errorf("GET %s: %d %v", path, resp.StatusCode, md)
		}
	}
	if got := res.MetadataURL(); got != "https://mcp.example.test/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("MetadataURL = %q", got)
	}

	call := func(token string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, api.URL+"/mcp", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	meta := `resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource/mcp"`
	good, _ := mint.tokenFor(t, mcpResource, "openid mcp:tools")
	otherResource, _ := mint.tokenFor(t, "https://other.example.test/api", "mcp:tools")
	realmToken, _ := mint.tokenFor(t, testIssuer, "mcp:tools")
	lacking, _ := mint.tokenFor(t, mcpResource, "mcp:admin")
	for _, tc := range []struct {
		name, token, challenge string
		status                 int
	}{
		{"no token", "", "Bearer " + meta + `, scope="mcp:tools"`, 401},
		{"a token for another resource", otherResource, "Bearer " + meta + `, error="invalid_token", error_description="the access token is invalid, expired, revoked or for another resource", scope="mcp:tools"`, 401},
		{"a token for the realm, not the resource", realmToken, "Bearer " + meta + `, error="invalid_token", error_description="the access token is invalid, expired, revoked or for another resource", scope="mcp:tools"`, 401},
		{"a token lacking the scope", lacking, "Bearer " + meta + `, error="insufficient_scope", error_description="the access token lacks scope mcp:tools", scope="mcp:tools"`, 403},
		{"garbage", "not-a-jwt", "Bearer " + meta + `, error="invalid_token", error_description="the access token is invalid, expired, revoked or for another resource", scope="mcp:tools"`, 401},
		{"the right token", good, "", 200},
	} {
		resp, body := call(tc.token)
		if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge {
			t.Errorf("%s: %d %q\n  want %d %q", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status, tc.challenge)
		}
		if tc.status == 200 && body != "hello c1" {
			t.Errorf("%s: body %q", tc.name, body)
		}
	}
}
