package verifier_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/realms/verifier"
)

// TestVerifierOfAHostIssuer: a realm whose issuer is a host it claims has
// no /realms/<realm> in its issuer; Config.Realm names the realm whose
// revocations to follow, and an issuer's path must agree with it.
func TestVerifierOfAHostIssuer(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	srv := startSecuredServer(t, dir, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.store.EnsureRealmStream(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	const hostIssuer = "https://id.acme.test"
	mint := newTokenMint(t)
	mint.issuer = hostIssuer
	nc, _ := connectAs(t, "nats://"+addr, "acme", srv.credentials("acme"))
	for _, bad := range []verifier.Config{
		{Issuer: hostIssuer, JWKSURL: mint.jwks.URL, NATS: nc},
		{Issuer: "https://id.example.test/realms/beta", Realm: "acme", JWKSURL: mint.jwks.URL, NATS: nc},
		{Issuer: hostIssuer, Realm: "acme.>", JWKSURL: mint.jwks.URL, NATS: nc},
	} {
		if v, err := verifier.New(ctx, bad); err == nil {
			v.Close()
			t.Errorf("issuer %q realm %q: accepted", bad.Issuer, bad.Realm)
		}
	}
	v, err := verifier.New(ctx, verifier.Config{Issuer: hostIssuer, Realm: "acme", JWKSURL: mint.jwks.URL, NATS: nc})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	tok, jti := mint.token(t)
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("a token of the host issuer: %v", err)
	}
	rule := domain.RevocationRule{JTI: jti, ForgetAfter: time.Now().Add(time.Hour).Unix()}
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	if _, err := srv.store.AppendRevocation(ctx, "acme", domain.ClientRef("c1"), eventstore.AnyVersion, meta, domain.TokenRevoked{JTI: jti}, signRule(t, "acme", rule, "k1", mint.key)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the realm's revocation reaching the verifier", func() bool {
		_, err := v.Verify(tok)
		return errors.Is(err, verifier.ErrRevoked)
	})
	mint.issuer = testIssuer // the same key, the realm's path issuer
	if other, _ := mint.token(t); !errorsIsInvalid(v, other) {
		t.Error("a token naming another issuer verified")
	}
}

func errorsIsInvalid(v *verifier.Verifier, token string) bool {
	_, err := v.Verify(token)
	return errors.Is(err, verifier.ErrInvalid)
}
