package realms

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// signedClient creates a private_key_jwt service client with an inline key
// set and returns it with a function that makes assertions for it.
func signedClient(t *testing.T, rl *Realm) (*domain.Client, func() string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	created, err := rl.Clients().Create(context.Background(), "", domain.ClientSettings{
		Name: "signed", TokenEndpointAuthMethod: domain.AuthPrivateKeyJWT, JWKS: set, Scopes: []string{"read"},
	}, false, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	id := created.Client.ID
	return created.Client, func() string {
		now := time.Now()
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.RegisteredClaims{
			Issuer: id, Subject: id, Audience: jwt.ClaimStrings{rl.Issuer() + "/protocol/openid-connect/token"},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), ID: uuid.NewString(),
		})
		tok.Header["kid"] = "k1"
		signed, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
}

func assertionAuth(assertion string) ClientAuth {
	return ClientAuth{Method: domain.AuthPrivateKeyJWT, AssertionType: domain.ClientAssertionType, Assertion: assertion}
}

// A client-credentials request authenticated by an assertion whose first
// decisions lose their race (this replica's model missed a change of the
// client) is decided again and succeeds: its own assertion, spent once
// before the grant decided, is not taken for a replay. Another request
// with the same assertion is refused.
func TestAssertionSurvivesALostRaceAndIsNotReplayable(t *testing.T) {
	rl := testRealm(t)
	ctx := context.Background()
	client, assertion := signedClient(t, rl)
	id := client.ID
	// The model as it is now: the client at its first version.
	stale, err := rl.models.Snapshot(rl.runner.Applied())
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := rl.Clients().Update(ctx, id, Condition{}, false, testMeta(), func(s domain.ClientSettings) (domain.ClientSettings, error) {
		s.Name = "signed 2"
		return s, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The model misses the change, as a replica's can: every decision
	// taken on it loses its race at the stream, until the client's next
	// change reaches the model (written a moment later, as by another
	// replica).
	if _, err := rl.models.Restore(stale); err != nil {
		t.Fatal(err)
	}
	if c, _ := rl.models.Clients.Get(id); c.Version != client.Version {
		t.Fatalf("the model shows the client at %d, want the missed change's predecessor %d", c.Version, client.Version)
	}
	third := second.ClientSettings
	third.Name = "signed 3"
	written := make(chan uint64, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		seq, err := rl.reg.store.Append(ctx, rl.Name, domain.ClientRef(id), eventstore.AnyVersion, testMeta(),
			domain.ClientUpdated{Before: second.ClientSettings, After: third})
		if err != nil {
			t.Error(err)
		}
		written <- seq
	}()

	a := assertion()
	set, err := rl.Tokens().ClientCredentials(ctx, assertionAuth(a), "", "", "", testMeta())
	if err != nil {
		t.Fatalf("a request whose first decisions lost their race: %v", err)
	}
	updated := <-written
	// The token was decided on the client as the change left it: the
	// decisions before it, on the state the model missed, lost.
	after, err := rl.reg.store.ReadRealm(ctx, rl.Name, updated, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, env := range after {
		if p, _ := env.Payload(); env.Type == domain.TypeTokenIssued && p.(domain.TokenIssued).JTI == set.Access.Claims.ID {
			found = true
		}
	}
	if !found {
		t.Fatalf("the token's event is not after the client's change at %d", updated)
	}
	if set.Access.Claims.Subject != id {
		t.Fatalf("the token's subject is %q, want the client", set.Access.Claims.Subject)
	}

	// The same assertion in another request is a replay.
	_, err = rl.Tokens().ClientCredentials(ctx, assertionAuth(a), "", "", "", testMeta())
	var oerr *domain.OAuthError
	if !errors.As(err, &oerr) || oerr.Code != domain.ErrInvalidClient || !strings.Contains(oerr.Description, "used before") {
		t.Fatalf("the assertion replayed: %v, want invalid_client (used before)", err)
	}
	// A new assertion works.
	if _, err := rl.Tokens().ClientCredentials(ctx, assertionAuth(assertion()), "", "", "", testMeta()); err != nil {
		t.Fatalf("a fresh assertion: %v", err)
	}
}

// A prepared assertion is checked again against the client's state at each
// decision: a client disabled since, or whose keys no longer verify it, is
// refused without the jti being spent again.
func TestPreparedAssertionIsCheckedAgainstTheClientsState(t *testing.T) {
	rl := testRealm(t)
	ctx := context.Background()
	client, assertion := signedClient(t, rl)
	auth, err := rl.Clients().Prepare(ctx, assertionAuth(assertion()), testMeta())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := rl.Clients().Authenticate(ctx, auth, time.Now()); err != nil {
			t.Fatalf("a prepared assertion decided on again: %v", err)
		}
	}
	rekeyed, _ := signedClient(t, rl)
	if _, _, err := rl.Clients().Update(ctx, client.ID, Condition{}, false, testMeta(), func(s domain.ClientSettings) (domain.ClientSettings, error) {
		s.JWKS = rekeyed.JWKS // another key: the assertion no longer verifies
		return s, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := rl.Clients().Authenticate(ctx, auth, time.Now()); err == nil {
		t.Fatal("an assertion the client's keys no longer verify was accepted")
	}

	other, assertOther := signedClient(t, rl)
	auth, err = rl.Clients().Prepare(ctx, assertionAuth(assertOther()), testMeta())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rl.Clients().SetEnabled(ctx, other.ID, Condition{}, false, testMeta()); err != nil {
		t.Fatal(err)
	}
	if _, err := rl.Clients().Authenticate(ctx, auth, time.Now()); err == nil {
		t.Fatal("an assertion of a client disabled since it was verified was accepted")
	}
}
