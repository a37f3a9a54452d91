package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms/dpop"
)

// newProver is a client's DPoP key.
func newProver(t *testing.T) *dpop.Prover {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := dpop.NewProver(key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// proofFor is p's proof for method and target, with token's hash when
// token is set.
func proofFor(t *testing.T, p *dpop.Prover, method, target, token, nonce string, iat time.Time) string {
	t.Helper()
	c := dpop.ProofClaims{JTI: uuid.NewString(), Method: method, URL: target, IAT: iat.Unix(), Nonce: nonce}
	if token != "" {
		c.ATH = domain.AccessTokenHash(token)
	}
	raw, err := p.Proof(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A resource server behind realms/verifier takes the DPoP-bound tokens
// Latchkey issues (client credentials, after the nonce challenge of a
// realm that requires nonces) only with a proof of their key for that
// request, and says why it refuses in RFC 9449's DPoP challenge.
func TestVerifierTakesLatchkeysDPoPTokens(t *testing.T) {
	t.Parallel()
	w := setUpFlows(t)
	hello := w.startResourceServer(t)
	client := newProver(t)
	tokenURL := w.issuer + "/protocol/openid-connect/token"
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}, "resource": {w.rsID}}.Encode()

	challenge := w.lk.postForm(t, tokenPath(flowsRealm), form, withBasic(w.service.ClientID, w.service.ClientSecret),
		withHeader("DPoP", proofFor(t, client, http.MethodPost, tokenURL, "", "", time.Now())))
	challenge.checkError(t, http.StatusBadRequest, domain.ErrUseDPoPNonce)
	nonce := challenge.header.Get("DPoP-Nonce")
	issued := w.lk.postForm(t, tokenPath(flowsRealm), form, withBasic(w.service.ClientID, w.service.ClientSecret),
		withHeader("DPoP", proofFor(t, client, http.MethodPost, tokenURL, "", nonce, time.Now())))
	issued.requireStatus(t, http.StatusOK)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	issued.decode(t, &tok)
	if tok.TokenType != domain.TokenTypeDPoP {
		t.Fatalf("token_type %q, want DPoP", tok.TokenType)
	}
	token := tok.AccessToken

	now := time.Now()
	used := proofFor(t, client, http.MethodGet, hello, token, "", now)
	for _, tc := range []struct {
		name, scheme, proof string
		status              int
		code                string
	}{
		{"the token with its proof", "DPoP", used, 200, ""},
		{"the same proof again", "DPoP", used, 401, "invalid_dpop_proof"},
		{"as Bearer", "Bearer", "", 401, "invalid_token"},
		{"without a proof", "DPoP", "", 401, "invalid_dpop_proof"},
		{"a proof for POST", "DPoP", proofFor(t, client, http.MethodPost, hello, token, "", now), 401, "invalid_dpop_proof"},
		{"a proof for Latchkey's URL", "DPoP", proofFor(t, client, http.MethodGet, tokenURL, token, "", now), 401, "invalid_dpop_proof"},
		{"a proof two minutes old", "DPoP", proofFor(t, client, http.MethodGet, hello, token, "", now.Add(-2*time.Minute)), 401, "invalid_dpop_proof"},
		{"a proof without ath", "DPoP", proofFor(t, client, http.MethodGet, hello, "", "", now), 401, "invalid_dpop_proof"},
		{"another key's proof", "DPoP", proofFor(t, newProver(t), http.MethodGet, hello, token, "", now), 401, "invalid_token"},
		{"a fresh proof", "DPoP", proofFor(t, client, http.MethodGet, hello, token, "", now), 200, ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, hello, nil)
		req.Header.Set("Authorization", tc.scheme+" "+token)
		if tc.proof != "" {
			req.Header.Set("DPoP", tc.proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := resp.Header.Get("WWW-Authenticate")
		switch {
		case resp.StatusCode != tc.status:
			t.Errorf("%s: %d %q %s, want %d", tc.name, resp.StatusCode, got, body, tc.status)
		case tc.code == "" && !strings.Contains(string(body), w.service.ClientID):
			t.Errorf("%s: body %s", tc.name, body)
		case tc.code != "" && (!strings.HasPrefix(got, "DPoP ") || !strings.Contains(got, `error="`+tc.code+`"`) ||
			!strings.HasSuffix(got, `algs="ES256 RS256 EdDSA Ed25519"`)):
			t.Errorf("%s: challenge %q, want DPoP %s", tc.name, got, tc.code)
		}
	}
}
