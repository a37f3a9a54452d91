package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkeyhq/latchkey/domain"
)

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Proofs of each supported kind of key read back as they were made, with
// the key's thumbprint.
func TestParseReadsProofsOfEachAlgorithm(t *testing.T) {
	ec := ecKey(t)
	rs := rsaKey(t, 2048)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	for name, key := range map[string]crypto.Signer{"ES256": ec, "RS256": rs, "EdDSA": ed} {
		t.Run(name, func(t *testing.T) {
			p, err := NewProver(key)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := p.Proof(ProofClaims{JTI: "j1", Method: "POST", URL: "https://a.example/token", IAT: now,
				ATH: domain.AccessTokenHash("t"), Nonce: "n1"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			want := domain.DPoPProof{Typ: "dpop+jwt", Alg: name, JKT: p.JKT(), JTI: "j1", HTM: "POST", HTU: "https://a.example/token",
				Nonce: "n1", IAT: now, HasIAT: true, ATH: domain.AccessTokenHash("t"), HasATH: true}
			if got != want {
				t.Fatalf("read %+v\nwant %+v", got, want)
			}
			if jkt, _ := Thumbprint(key.Public()); jkt != p.JKT() || len(jkt) != 43 {
				t.Fatalf("thumbprint %q, prover's %q", jkt, p.JKT())
			}
		})
	}
}

// The thumbprint is RFC 7638's: its §3.1 example key.
func TestThumbprintOfTheRFCExample(t *testing.T) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON([]byte(`{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`)); err != nil {
		t.Fatal(err)
	}
	if got, _ := Thumbprint(k.Key); got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("thumbprint %q", got)
	}
}

// signWith signs payload under a header of its own making.
func signWith(t *testing.T, key crypto.Signer, alg jose.SignatureAlgorithm, opts *jose.SignerOptions, payload string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseRefuses(t *testing.T) {
	ec := ecKey(t)
	other := ecKey(t)
	small := rsaKey(t, 1024)
	embed := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	const payload = `{"jti":"j","htm":"POST","htu":"https://a.example/t","iat":1}`
	good := signWith(t, ec, jose.ES256, embed, payload)
	// The signature of another key, under this one's header.
	forged := strings.Join(append(strings.Split(good, ".")[:2], strings.Split(signWith(t, other, jose.ES256, embed, payload), ".")[2]), ".")
	hs := "eyJhbGciOiJIUzI1NiIsInR5cCI6ImRwb3Arand0In0." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
	for name, raw := range map[string]string{
		"empty":                     "",
		"not a JWS":                 "hello",
		"too large":                 strings.Repeat("a", MaxProofLength+1),
		"HS256":                     hs,
		"no jwk in the header":      signWith(t, ec, jose.ES256, (&jose.SignerOptions{}).WithType("dpop+jwt"), payload),
		"signed by another key":     forged,
		"an RSA key under 2048 bit": signWith(t, small, jose.RS256, embed, payload),
		"claims not JSON":           signWith(t, ec, jose.ES256, embed, `not json`),
		"a claim named twice":       signWith(t, ec, jose.ES256, embed, `{"jti":"a","jti":"b"}`),
		"JSON serialization":        `{"payload":"e30","signatures":[]}`,
	} {
		if p, err := Parse(raw); err == nil {
			t.Errorf("%s: accepted %+v", name, p)
		} else if oerr, ok := err.(*domain.OAuthError); !ok || oerr.Code != domain.ErrInvalidDPoPProof {
			t.Errorf("%s: %v, want invalid_dpop_proof", name, err)
		}
	}
}

// signEd25519 makes a compact proof with alg Ed25519 (RFC 9864), as
// oauth4webapi signs them; go-jose has no signer for that name. header
// holds the protected header's members beside alg.
func signEd25519(t *testing.T, key ed25519.PrivateKey, header map[string]any, payload string) string {
	t.Helper()
	h := map[string]any{"alg": "Ed25519"}
	for k, v := range header {
		h[k] = v
	}
	raw, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString(raw) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	return input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(input)))
}

// A proof signed under the fully specified name Ed25519 reads as one
// signed EdDSA does; the same checks refuse what they refuse there.
func TestParseReadsEd25519Proofs(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	jwk := jose.JSONWebKey{Key: pub}
	ecJWK := jose.JSONWebKey{Key: ecKey(t).Public()}
	const payload = `{"jti":"j1","htm":"POST","htu":"https://a.example/token","iat":7}`
	header := map[string]any{"typ": "dpop+jwt", "jwk": jwk}

	got, err := Parse(signEd25519(t, key, header, payload))
	if err != nil {
		t.Fatal(err)
	}
	jkt, _ := Thumbprint(pub)
	want := domain.DPoPProof{Typ: "dpop+jwt", Alg: "Ed25519", JKT: jkt, JTI: "j1", HTM: "POST", HTU: "https://a.example/token", IAT: 7, HasIAT: true}
	if got != want {
		t.Fatalf("read %+v\nwant %+v", got, want)
	}

	good := signEd25519(t, key, header, payload)
	for name, raw := range map[string]string{
		"signed by another key": signEd25519(t, other, header, payload),
		"payload changed": strings.Join([]string{strings.Split(good, ".")[0],
			base64.RawURLEncoding.EncodeToString([]byte(`{"jti":"j2"}`)), strings.Split(good, ".")[2]}, "."),
		"no jwk":               signEd25519(t, key, map[string]any{"typ": "dpop+jwt"}, payload),
		"an EC key":            signEd25519(t, key, map[string]any{"typ": "dpop+jwt", "jwk": ecJWK}, payload),
		"a critical header":    signEd25519(t, key, map[string]any{"typ": "dpop+jwt", "jwk": jwk, "crit": []string{"x"}, "x": 1}, payload),
		"a header named twice": base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"Ed25519","alg":"Ed25519"}`)) + ".e30.c2ln",
		"four parts":           good + ".x",
		"signature not base64": good[:strings.LastIndex(good, ".")] + ".!!",
	} {
		if p, err := Parse(raw); err == nil {
			t.Errorf("%s: accepted %+v", name, p)
		} else if oerr, ok := err.(*domain.OAuthError); !ok || oerr.Code != domain.ErrInvalidDPoPProof {
			t.Errorf("%s: %v, want invalid_dpop_proof", name, err)
		}
	}
}
