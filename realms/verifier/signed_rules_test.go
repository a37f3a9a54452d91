package verifier_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/realms/verifier"
)

// rotatingJWKS serves a realm's public keys; keys can be added while it
// runs, as a key rotation does.
type rotatingJWKS struct {
	srv  *httptest.Server
	mu   sync.Mutex
	keys map[string]*ecdsa.PrivateKey
}

func newRotatingJWKS(t *testing.T, keys map[string]*ecdsa.PrivateKey) *rotatingJWKS {
	j := &rotatingJWKS{keys: keys}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		j.mu.Lock()
		defer j.mu.Unlock()
		enc := base64.RawURLEncoding.EncodeToString
		var set []map[string]string
		for kid, k := range j.keys {
			pub, _ := k.PublicKey.Bytes()
			set = append(set, map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig", "x": enc(pub[1:33]), "y": enc(pub[33:])})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": set})
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *rotatingJWKS) add(kid string, k *ecdsa.PrivateKey) {
	j.mu.Lock()
	j.keys[kid] = k
	j.mu.Unlock()
}

// Revocation rules count only when the realm signed them. Someone who may
// publish on the rules subject (here Latchkey's own NATS user, over the
// real listener) but holds no realm key can neither revoke a token nor get
// a rule applied: unsigned, signed with another key, signed for another
// realm, or a real signature over another body, each is refused, logged
// and counted. Real rules still revoke within the bound the end-to-end
// tests hold Latchkey to (2 s), whether signed by the key the verifier
// started with, by another key of the JWKS, or by a key added after it
// started.
func TestVerifierAppliesOnlySignedRules(t *testing.T) {
	srv := startSecuredServer(t, t.TempDir(), "127.0.0.1:-1")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := srv.store.EnsureRealmStream(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	mint := newTokenMint(t) // k1 signs tokens
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k3, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := newRotatingJWKS(t, map[string]*ecdsa.PrivateKey{"k1": mint.key, "k2": k2})

	nc, _ := connectAs(t, srv.ns.ClientURL(), "acme", srv.credentials("acme"))
	v, err := verifier.New(ctx, verifier.Config{Issuer: testIssuer, JWKSURL: jwks.srv.URL, NATS: nc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)

	// The forger: publish rights on the stream, no realm key.
	forger, err := nats.Connect(srv.ns.ClientURL(), eventstore.ClientOptions(serverPassword, "")...)
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	subject := eventstore.RevocationsSubject("acme")
	publish := func(body []byte, jws string) {
		t.Helper()
		m := nats.NewMsg(subject)
		m.Data = body
		if jws != "" {
			m.Header.Set(domain.RuleJWSHeader, jws)
		}
		if _, err := forger.RequestMsg(m, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	hour := time.Now().Add(time.Hour).Unix()
	target, targetJTI := mint.token(t)
	byJTI := domain.RevocationRule{JTI: targetJTI, ForgetAfter: hour}
	everything := domain.RevocationRule{ClientID: "c1", IssuedBefore: hour, ForgetAfter: hour}
	body, _ := json.Marshal(everything)
	publish(body, "")                                                  // unsigned
	publish(body, signRule(t, "acme", everything, "k1", stranger).JWS) // another key under a known kid
	publish(body, signRule(t, "acme", everything, "k9", stranger).JWS) // a kid the JWKS does not have
	elsewhere, _ := domain.SignRule("lk.other.revocations", everything, "k1", mint.key, rand.Reader)
	publish(elsewhere.Body, elsewhere.JWS)                        // signed for another subject
	publish(body, signRule(t, "acme", byJTI, "k1", mint.key).JWS) // a real signature over another body
	eventually(t, 10*time.Second, "the five forged rules refused", func() bool { return v.Health().RefusedRules == 5 })
	if _, err := v.Verify(target); err != nil {
		t.Fatalf("a forged rule revoked a token: %v", err)
	}
	if h := v.Health(); !h.Live {
		t.Fatalf("health after forged rules: %+v", h)
	}

	// Real rules, through the store as Latchkey writes them.
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	revoke := func(r domain.RevocationRule, kid string, key *ecdsa.PrivateKey) time.Time {
		t.Helper()
		start := time.Now()
		if _, err := srv.store.AppendRevocation(ctx, "acme", domain.ClientRef("c1"), eventstore.AnyVersion, meta,
			domain.TokenRevoked{JTI: r.JTI}, signRule(t, "acme", r, kid, key)); err != nil {
			t.Fatal(err)
		}
		return start
	}
	revokedWithin := func(token string, start time.Time, bound time.Duration) {
		t.Helper()
		eventually(t, bound, "a signed rule revoking its token", func() bool {
			_, err := v.Verify(token)
			return errors.Is(err, verifier.ErrRevoked)
		})
		t.Logf("revoked %s after the append began", time.Since(start))
	}
	revokedWithin(target, revoke(byJTI, "k1", mint.key), 2*time.Second)
	other, otherJTI := mint.token(t)
	revokedWithin(other, revoke(domain.RevocationRule{JTI: otherJTI, ForgetAfter: hour}, "k2", k2), 2*time.Second)
	// A key added to the JWKS after the verifier fetched it: the rule
	// waits for a fetch made after it was stored (the fetch rate limit is
	// 5 s), and then revokes.
	jwks.add("k3", k3)
	late, lateJTI := mint.token(t)
	revokedWithin(late, revoke(domain.RevocationRule{JTI: lateJTI, ForgetAfter: hour}, "k3", k3), 7*time.Second)

	untouched, _ := mint.token(t)
	if _, err := v.Verify(untouched); err != nil {
		t.Fatalf("a token no rule covers: %v", err)
	}
	if h := v.Health(); h.RefusedRules != 5 || !h.Live {
		t.Errorf("health at the end: %+v, want 5 refused and live", h)
	}
}
