package domain_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/domain"
)

// A rule verifies with the key its JWS names, for the subject it was
// signed for, with its body as signed; anything else is refused.
func TestVerifyRule(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := map[string]*ecdsa.PublicKey{"k1": &k1.PublicKey, "k2": &k2.PublicKey}
	key := func(kid string) (*ecdsa.PublicKey, bool) { k, ok := jwks[kid]; return k, ok }
	const subject = "lk.acme.revocations"
	rule := domain.RevocationRule{ClientID: "svc", IssuedBefore: 50, ForgetAfter: 150}
	signed, err := domain.SignRule(subject, rule, "k1", k1, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := domain.SignRule(subject, rule, "k2", k2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := domain.SignRule(subject, rule, "k1", stranger, rand.Reader)
	elsewhere, _ := domain.SignRule("lk.other.revocations", rule, "k1", k1, rand.Reader)
	unknown, _ := domain.SignRule(subject, rule, "k9", stranger, rand.Reader)
	protected, sig, _ := strings.Cut(signed.JWS, "..")
	hdr, _ := base64.RawURLEncoding.DecodeString(protected)
	if string(hdr) != `{"alg":"ES256","kid":"k1","typ":"latchkey-revocation+jws","subject":"lk.acme.revocations"}` {
		t.Fatalf("protected header %s", hdr)
	}
	header := func(h string) string { return base64.RawURLEncoding.EncodeToString([]byte(h)) }
	for _, tc := range []struct {
		name    string
		subject string
		body    []byte
		jws     string
		err     string // "" verifies
	}{
		{"as signed", subject, signed.Body, signed.JWS, ""},
		{"signed by a rotated key still in the JWKS", subject, rotated.Body, rotated.JWS, ""},
		{"unsigned", subject, signed.Body, "", domain.ErrRuleUnsigned.Error()},
		{"signed by a key not in the JWKS", subject, unknown.Body, unknown.JWS, `revocation rule: signed with unknown key "k9"`},
		{"signed by another key under a known kid", subject, forged.Body, forged.JWS, domain.ErrRuleBadSignature.Error()},
		{"another body", subject, []byte(`{"client_id":"svc","issued_before":9999999999,"forget_after":9999999999}`), signed.JWS, domain.ErrRuleBadSignature.Error()},
		{"published on another subject", "lk.acme.revocations", elsewhere.Body, elsewhere.JWS,
			`revocation rule: signed for subject "lk.other.revocations", published on "lk.acme.revocations"`},
		{"a checkpoint's header", subject, signed.Body, header(`{"alg":"ES256","kid":"k1","typ":"latchkey-checkpoint+jws","subject":"lk.acme.revocations"}`) + ".." + sig,
			`revocation rule: jws alg "ES256" typ "latchkey-checkpoint+jws", want ES256 latchkey-revocation+jws`},
		{"alg none", subject, signed.Body, header(`{"alg":"none","kid":"k1","typ":"latchkey-revocation+jws","subject":"lk.acme.revocations"}`) + "..",
			`revocation rule: jws alg "none" typ "latchkey-revocation+jws", want ES256 latchkey-revocation+jws`},
		{"an attached payload", subject, signed.Body, protected + ".e30." + sig, "revocation rule: jws is not a detached compact JWS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := domain.VerifyRule(tc.subject, tc.body, tc.jws, key)
			if tc.err == "" {
				if err != nil || got != rule {
					t.Fatalf("VerifyRule = %+v, %v", got, err)
				}
				return
			}
			if err == nil || err.Error() != tc.err {
				t.Fatalf("VerifyRule error = %v, want %s", err, tc.err)
			}
		})
	}
	if _, err := domain.VerifyRule(subject, signed.Body, "", key); !errors.Is(err, domain.ErrRuleUnsigned) {
		t.Errorf("unsigned: %v", err)
	}
}
