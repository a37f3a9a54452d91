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

	"github.com/latchkeyhq/latchkey/eventstore/estest"
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
	v, err := verifier.New(ctx, verifier.Config{Issuer: testIssuer, JWKSURL: jwks.URL, NATS: srv.NC})
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
