package verifier_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
	"github.com/latchkeyhq/latchkey/realms/dpop"
	"github.com/latchkeyhq/latchkey/realms/verifier"
)

// Any string handed to Verify as a token is refused or accepted without
// panicking, and what is accepted carries exactly the claims the issuer
// signed: no change to a signed token passes for another token. Seeds are
// below and in testdata/fuzz/FuzzVerify; run longer with .ci/fuzz.
func FuzzVerify(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	pub, _ := key.PublicKey.Bytes()
	enc := base64.RawURLEncoding.EncodeToString
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig", "x": enc(pub[1:33]), "y": enc(pub[33:]),
		}}})
	}))
	f.Cleanup(jwks.Close)
	srv := estest.Start(f, f.TempDir())
	ctx := context.Background()
	if err := srv.Store.EnsureRealmStream(ctx, "acme"); err != nil {
		f.Fatal(err)
	}
	v, err := verifier.New(ctx, verifier.Config{Issuer: testIssuer, Audience: testIssuer, JWKSURL: jwks.URL, NATS: srv.NC})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(v.Close)

	now := time.Now()
	sign := func(method jwt.SigningMethod, typ string, claims verifier.Claims) string {
		tok := jwt.NewWithClaims(method, claims)
		tok.Header["typ"], tok.Header["kid"] = typ, "k1"
		raw, err := tok.SignedString(key)
		if err != nil {
			f.Fatal(err)
		}
		return raw
	}
	claims := verifier.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: testIssuer, Subject: "c1", Audience: jwt.ClaimStrings{testIssuer}, ID: "jti-1",
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(24 * time.Hour)),
	}, ClientID: "c1", Scope: "read"}
	valid := sign(jwt.SigningMethodES256, "at+jwt", claims)
	if _, err := v.Verify(valid); err != nil {
		f.Fatalf("the seed token does not verify: %v", err)
	}
	parts := strings.Split(valid, ".")
	f.Add(valid)
	f.Add(sign(jwt.SigningMethodES256, "JWT", claims))                                    // not an access token
	f.Add(parts[0] + "." + parts[1] + ".")                                                // no signature
	f.Add(enc([]byte(`{"alg":"none","typ":"at+jwt","kid":"k1"}`)) + "." + parts[1] + ".") // alg none
	f.Add(enc([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"k1"}`)) + "." + parts[1] + "." + parts[2])
	f.Add(enc([]byte(`{"alg":"ES256","typ":"at+jwt","kid":"k2"}`)) + "." + parts[1] + "." + parts[2])
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		got, err := v.Verify(token)
		if err != nil {
			return
		}
		if got.ID != claims.ID || got.ClientID != claims.ClientID || got.Subject != claims.Subject || got.Scope != claims.Scope {
			t.Fatalf("%q verified with claims %+v, not the ones signed", token, got)
		}
	})
}

// Any string handed to VerifyDPoP as the proof of a DPoP-bound token is
// refused or accepted without panicking, and what is accepted is a proof
// signed by the token's key for this very request. Run longer with
// .ci/fuzz.
func FuzzVerifyDPoP(f *testing.F) {
	mint := newTokenMint(f)
	srv := estest.Start(f, f.TempDir())
	ctx := context.Background()
	if err := srv.Store.EnsureRealmStream(ctx, "acme"); err != nil {
		f.Fatal(err)
	}
	v, err := verifier.New(ctx, verifier.Config{Issuer: testIssuer, Audience: testIssuer, JWKSURL: mint.jwks.URL, NATS: srv.NC})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(v.Close)

	const url = "https://api.example.test/orders"
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	prover, err := dpop.NewProver(key)
	if err != nil {
		f.Fatal(err)
	}
	token, _ := mint.boundTokenFor(f, testIssuer, "read", &verifier.Confirmation{JKT: prover.JKT()})
	proof := func(c dpop.ProofClaims) string {
		raw, err := prover.Proof(c)
		if err != nil {
			f.Fatal(err)
		}
		return raw
	}
	now := time.Now().Unix()
	good := proof(dpop.ProofClaims{JTI: "j1", Method: "GET", URL: url, IAT: now, ATH: domain.AccessTokenHash(token)})
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString
	f.Add(good)
	f.Add(proof(dpop.ProofClaims{JTI: "j2", Method: "POST", URL: url, IAT: now, ATH: domain.AccessTokenHash(token)}))
	f.Add(proof(dpop.ProofClaims{JTI: "j3", Method: "GET", URL: url, IAT: now})) // no ath
	f.Add(parts[0] + "." + parts[1] + ".")                                       // no signature
	f.Add(enc([]byte(`{"alg":"none","typ":"dpop+jwt"}`)) + "." + parts[1] + ".")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := v.VerifyDPoP(verifier.DPoPRequest{Token: token, Proofs: []string{raw}, Method: "GET", URL: url}); err != nil {
			return
		}
		p, err := dpop.Parse(raw)
		if err != nil || p.JKT != prover.JKT() || p.HTM != "GET" || p.HTU != url || p.ATH != domain.AccessTokenHash(token) {
			t.Fatalf("%q was accepted, but is not a proof of the token's key for this request (%+v, %v)", raw, p, err)
		}
	})
}
