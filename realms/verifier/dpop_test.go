package verifier_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms/dpop"
	"github.com/latchkeyhq/latchkey/realms/verifier"
)

// dpopClient holds a DPoP key and makes proofs with it, as a client does.
type dpopClient struct {
	t      *testing.T
	prover *dpop.Prover
}

func newDPoPClient(t *testing.T, key crypto.Signer) *dpopClient {
	t.Helper()
	p, err := dpop.NewProver(key)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopClient{t: t, prover: p}
}

func (c *dpopClient) cnf() *verifier.Confirmation { return &verifier.Confirmation{JKT: c.prover.JKT()} }

// proof is a proof for method and url with token's hash, issued at iat.
func (c *dpopClient) proof(method, url, token string, iat time.Time) string {
	c.t.Helper()
	raw, err := c.prover.Proof(dpop.ProofClaims{JTI: uuid.NewString(), Method: method, URL: url, IAT: iat.Unix(), ATH: domain.AccessTokenHash(token)})
	if err != nil {
		c.t.Fatal(err)
	}
	return raw
}

func ecSigner(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// unsignedProof is a proof with alg none: what a forger without the key
// would send.
func unsignedProof(t *testing.T, c *dpopClient, url, token string) string {
	t.Helper()
	signed := c.proof(http.MethodPost, url, token, time.Now())
	parts := strings.Split(signed, ".")
	header := map[string]any{}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(raw, &header); err != nil {
		t.Fatal(err)
	}
	header["alg"] = "none"
	raw, _ = json.Marshal(header)
	return base64.RawURLEncoding.EncodeToString(raw) + "." + parts[1] + "."
}

var challengeError = regexp.MustCompile(`error="([a-z_]+)"`)

// A resource server behind verifier.Resource accepts a DPoP-bound token
// only with a proof of its key made for that very request, and answers
// every refusal with RFC 9449's DPoP challenge: invalid_dpop_proof for the
// proof, invalid_token for the token or its binding.
func TestResourceVerifiesDPoPBoundTokens(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	srv := startSecuredServer(t, dir, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.store.EnsureRealmStream(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	mint := newTokenMint(t)
	nc, _ := connectAs(t, "nats://"+addr, "acme", srv.credentials("acme"))
	v, err := verifier.New(ctx, verifier.Config{Issuer: testIssuer, Audience: mcpResource, JWKSURL: mint.jwks.URL, NATS: nc})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	// Clients reach the resource at its identifier's host, not at the
	// address it listens on: proofs name that URL.
	res := &verifier.Resource{Verifier: v, Identifier: mcpResource, Scopes: []string{"mcp:tools"}}
	proxied := &verifier.Resource{Verifier: v, Identifier: mcpResource, PublicURL: "https://gw.example.test/tools/"}
	strict := &verifier.Resource{Verifier: v, Identifier: mcpResource, RequireDPoP: true}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := verifier.ClaimsFrom(r.Context())
		_, _ = io.WriteString(w, "hello "+claims.ClientID)
	})
	mux := http.NewServeMux()
	res.Mount(mux)
	mux.Handle("/mcp", res.Require("mcp:tools")(hello))
	mux.Handle("/admin", res.Require("mcp:admin")(hello))
	mux.Handle("/proxied/mcp", proxied.Require()(hello))
	mux.Handle("/strict", strict.Require()(hello))
	api := httptest.NewServer(mux)
	defer api.Close()

	const target = "https://mcp.example.test/mcp"
	ec := newDPoPClient(t, ecSigner(t))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs := newDPoPClient(t, rsaKey)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed := newDPoPClient(t, edKey)
	thief := newDPoPClient(t, ecSigner(t))

	bound, _ := mint.boundTokenFor(t, mcpResource, "mcp:tools", ec.cnf())
	boundRS, _ := mint.boundTokenFor(t, mcpResource, "mcp:tools", rs.cnf())
	boundEd, _ := mint.boundTokenFor(t, mcpResource, "mcp:tools", ed.cnf())
	bearer, _ := mint.tokenFor(t, mcpResource, "mcp:tools")
	now := time.Now()
	replayed := ec.proof(http.MethodPost, target, bound, now)

	type want struct {
		status int
		scheme string // of the challenge; "" for none
		code   string // its error; "" for none
	}
	refusedProof := want{401, "DPoP", "invalid_dpop_proof"}
	refusedToken := want{401, "DPoP", "invalid_token"}
	for _, tc := range []struct {
		name, method, path, scheme, token string
		proofs                            []string
		want                              want
	}{
		{"an ES256 proof of the token's key", "POST", "/mcp", "DPoP", bound, []string{ec.proof("POST", target, bound, now)}, want{200, "", ""}},
		{"an RS256 proof", "POST", "/mcp", "DPoP", boundRS, []string{rs.proof("POST", target, boundRS, now)}, want{200, "", ""}},
		{"an EdDSA proof", "POST", "/mcp", "DPoP", boundEd, []string{ed.proof("POST", target, boundEd, now)}, want{200, "", ""}},
		{"the scheme in lower case, a query the proof leaves out", "POST", "/mcp?session=1", "dpop", bound, []string{ec.proof("POST", target, bound, now)}, want{200, "", ""}},
		{"behind a proxy, the public URL", "GET", "/proxied/mcp", "DPoP", bound, []string{ec.proof("GET", "https://gw.example.test/tools/proxied/mcp", bound, now)}, want{200, "", ""}},
		{"a proof used once already", "POST", "/mcp", "DPoP", bound, []string{replayed}, want{200, "", ""}},
		{"the same proof again", "POST", "/mcp", "DPoP", bound, []string{replayed}, refusedProof},
		{"the bound token as Bearer", "POST", "/mcp", "Bearer", bound, nil, refusedToken},
		{"the bound token as Bearer, with a proof", "POST", "/mcp", "Bearer", bound, []string{ec.proof("POST", target, bound, now)}, refusedToken},
		{"no proof", "POST", "/mcp", "DPoP", bound, nil, refusedProof},
		{"two proofs", "POST", "/mcp", "DPoP", bound, []string{ec.proof("POST", target, bound, now), ec.proof("POST", target, bound, now)}, refusedProof},
		{"a proof for another method", "POST", "/mcp", "DPoP", bound, []string{ec.proof("GET", target, bound, now)}, refusedProof},
		{"a proof for another URL", "POST", "/mcp", "DPoP", bound, []string{ec.proof("POST", "https://mcp.example.test/other", bound, now)}, refusedProof},
		{"a proof for the address it listens on", "POST", "/mcp", "DPoP", bound, []string{ec.proof("POST", api.URL+"/mcp", bound, now)}, refusedProof},
		{"a proof whose htu has the query", "POST", "/mcp?session=1", "DPoP", bound, []string{ec.proof("POST", target+"?session=1", bound, now)}, refusedProof},
		{"a proof two minutes old", "POST", "/mcp", "DPoP", bound, []string{ec.proof("POST", target, bound, now.Add(-2*time.Minute))}, refusedProof},
		{"a proof from the future", "POST", "/mcp", "DPoP", bound, []string{ec.proof("POST", target, bound, now.Add(time.Minute))}, refusedProof},
		{"a proof for another token (ath)", "POST", "/mcp", "DPoP", bound, []string{ec.proof("POST", target, boundRS, now)}, refusedProof},
		{"a proof without a signature", "POST", "/mcp", "DPoP", bound, []string{unsignedProof(t, ec, target, bound)}, refusedProof},
		{"garbage for a proof", "POST", "/mcp", "DPoP", bound, []string{"not.a.proof"}, refusedProof},
		{"a thief's own key", "POST", "/mcp", "DPoP", bound, []string{thief.proof("POST", target, bound, now)}, refusedToken},
		{"an unbound token as DPoP", "POST", "/mcp", "DPoP", bearer, []string{ec.proof("POST", target, bearer, now)}, refusedToken},
		{"an invalid token as DPoP", "POST", "/mcp", "DPoP", "not-a-jwt", []string{ec.proof("POST", target, "not-a-jwt", now)}, refusedToken},
		{"a bound token lacking the scope", "POST", "/admin", "DPoP", bound, []string{ec.proof("POST", "https://mcp.example.test/admin", bound, now)}, want{403, "DPoP", "insufficient_scope"}},
		{"a bearer token, where DPoP is not required", "POST", "/mcp", "Bearer", bearer, nil, want{200, "", ""}},
		{"a bearer token, where DPoP is required", "POST", "/strict", "Bearer", bearer, nil, refusedToken},
		{"no token, where DPoP is required", "POST", "/strict", "", "", nil, want{401, "DPoP", ""}},
		{"a bound token, where DPoP is required", "POST", "/strict", "DPoP", bound, []string{ec.proof("POST", "https://mcp.example.test/strict", bound, now)}, want{200, "", ""}},
		{"no token", "POST", "/mcp", "", "", nil, want{401, "Bearer", ""}},
	} {
		req, _ := http.NewRequest(tc.method, api.URL+tc.path, nil)
		if tc.scheme != "" {
			req.Header.Set("Authorization", tc.scheme+" "+tc.token)
		}
		for _, p := range tc.proofs {
			req.Header.Add("DPoP", p)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		challenges := resp.Header.Values("WWW-Authenticate")
		got := want{status: resp.StatusCode}
		if len(challenges) == 1 {
			got.scheme, _, _ = strings.Cut(challenges[0], " ")
			if m := challengeError.FindStringSubmatch(challenges[0]); m != nil {
				got.code = m[1]
			}
		}
		if got != tc.want || len(challenges) > 1 {
			t.Errorf("%s: %+v %q %s\n  want %+v", tc.name, got, challenges, body, tc.want)
			continue
		}
		if got.scheme == "DPoP" && !strings.HasSuffix(challenges[0], `algs="ES256 RS256 EdDSA Ed25519"`) {
			t.Errorf("%s: a DPoP challenge names no algorithms: %q", tc.name, challenges[0])
		}
		if got.status == 200 && string(body) != "hello c1" {
			t.Errorf("%s: body %q", tc.name, body)
		}
	}

	// The whole challenge of a bad proof, as a client reads it.
	req, _ := http.NewRequest(http.MethodPost, api.URL+"/mcp", nil)
	req.Header.Set("Authorization", "DPoP "+bound)
	req.Header.Set("DPoP", ec.proof("GET", target, bound, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantChallenge := `DPoP resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource/mcp", error="invalid_dpop_proof", ` +
		`error_description="htm does not match the request's method POST", scope="mcp:tools", algs="ES256 RS256 EdDSA Ed25519"`
	if got := resp.Header.Get("WWW-Authenticate"); got != wantChallenge {
		t.Errorf("challenge\n  got  %s\n  want %s", got, wantChallenge)
	}

	// The metadata tells clients proofs are welcome, and where they are a must.
	for _, tc := range []struct {
		res  *verifier.Resource
		want map[string]any
	}{
		{res, map[string]any{"resource": mcpResource, "authorization_servers": []any{testIssuer}, "scopes_supported": []any{"mcp:tools"},
			"bearer_methods_supported": []any{"header"}, "dpop_signing_alg_values_supported": []any{"ES256", "RS256", "EdDSA", "Ed25519"}}},
		{strict, map[string]any{"resource": mcpResource, "authorization_servers": []any{testIssuer},
			"bearer_methods_supported": []any{"header"}, "dpop_signing_alg_values_supported": []any{"ES256", "RS256", "EdDSA", "Ed25519"},
			"dpop_bound_access_tokens_required": true}},
	} {
		rec := httptest.NewRecorder()
		tc.res.ServeMetadata(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		var md map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &md); err != nil || !reflect.DeepEqual(md, tc.want) {
			t.Errorf("metadata %s\n  want %v", rec.Body, tc.want)
		}
	}
}

// The Verifier alone: a bound token is refused by Verify (it came without
// its proof), and VerifyDPoP says which check failed.
func TestVerifierDPoPErrors(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	srv := startSecuredServer(t, dir, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.store.EnsureRealmStream(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	mint := newTokenMint(t)
	nc, _ := connectAs(t, "nats://"+addr, "acme", srv.credentials("acme"))
	v, err := verifier.New(ctx, verifier.Config{Issuer: testIssuer, Audience: testIssuer, JWKSURL: mint.jwks.URL, NATS: nc})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	const url = "https://api.example.test/orders"
	c := newDPoPClient(t, ecSigner(t))
	bound, _ := mint.boundTokenFor(t, testIssuer, "read", c.cnf())
	if _, err := v.Verify(bound); !errors.Is(err, verifier.ErrDPoPBinding) || !errors.Is(err, verifier.ErrInvalid) {
		t.Errorf("Verify(a bound token) = %v, want ErrDPoPBinding", err)
	}
	claims, err := v.VerifyDPoP(verifier.DPoPRequest{Token: bound, Proofs: []string{c.proof("GET", url, bound, time.Now())}, Method: "GET", URL: url})
	if err != nil || claims.Confirmation == nil || claims.Confirmation.JKT != c.prover.JKT() {
		t.Fatalf("VerifyDPoP = %+v, %v", claims, err)
	}
	stale := c.proof("GET", url, bound, time.Now().Add(-time.Hour))
	if _, err := v.VerifyDPoP(verifier.DPoPRequest{Token: bound, Proofs: []string{stale}, Method: "GET", URL: url}); !errors.Is(err, verifier.ErrDPoPProof) ||
		!strings.Contains(err.Error(), "too old") {
		t.Errorf("a stale proof: %v", err)
	}
}
