package realms

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// Keys are a realm's signing keys: ES256 for access tokens and
// checkpoints, RS256 (or ES256) for ID tokens. Private keys live sealed in
// the key store; only public keys enter events.
type Keys struct{ rl *Realm }

// List is every key of the realm, active and retired.
func (k Keys) List() []domain.SigningKey { return k.rl.state().Keys }

// JWKS lists the public keys to publish at now: active ones and retired
// ones some token may still carry.
func (k Keys) JWKS(now time.Time) []json.RawMessage {
	keys := []json.RawMessage{}
	for _, key := range k.rl.state().Keys {
		if key.Published(now) {
			keys = append(keys, key.PublicJWK)
		}
	}
	return keys
}

// Rotate adds new active keys and retires the current ones, which stay
// published until every token they signed has expired.
func (k Keys) Rotate(ctx context.Context, meta eventstore.Meta) error {
	rl := k.rl
	keys, err := rl.reg.newKeys(ctx, rl.Name)
	if err != nil {
		return err
	}
	return rl.execute(ctx, meta, command{decide: func() (plan, error) {
		state := rl.state()
		// The longest lifetime any token can have, not the longest clients
		// have now: a lifetime shortened since, or a client deleted, must
		// not retire a key before the tokens it signed expire.
		events, err := domain.DecideRotateKeys(state, keys, meta.Time, domain.MaxAccessTokenLifetime)
		return write(domain.RealmRef(rl.Name), state.Version, events...), err
	}})
}

// IDTokenHint is what a verified id_token_hint says: the client the ID
// token was issued to, its user, and the browser session it came from.
type IDTokenHint struct {
	ClientID, Subject, SessionID string
}

// VerifyIDTokenHint checks an id_token_hint (OIDC RP-Initiated Logout): an
// ID token this realm signed with a key it still publishes, whatever its
// expiry. An access token is not an ID token, though the same keys sign
// it: one with typ at+jwt, or without an azp naming its one audience, is
// refused.
func (k Keys) VerifyIDTokenHint(raw string, now time.Time) (IDTokenHint, bool) {
	claims := &IDClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{domain.AlgRS256, domain.AlgES256}), jwt.WithIssuer(k.rl.Issuer()),
		jwt.WithTimeFunc(func() time.Time { return time.Unix(0, 0) })) // an expired hint still identifies its client
	_, err := parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); strings.EqualFold(typ, AccessTokenType) {
			return nil, jwt.ErrTokenUnverifiable
		}
		kid, _ := t.Header["kid"].(string)
		pub, alg, found := k.publicKey(kid, now)
		if !found || alg != t.Method.Alg() {
			return nil, jwt.ErrTokenUnverifiable
		}
		return pub, nil
	})
	if err != nil || len(claims.Audience) != 1 || claims.AuthorizedParty != claims.Audience[0] {
		return IDTokenHint{}, false
	}
	return IDTokenHint{ClientID: claims.Audience[0], Subject: claims.Subject, SessionID: claims.SessionID}, true
}

// active returns the realm's active key for alg.
func (k Keys) active(ctx context.Context, alg string) (string, crypto.Signer, error) {
	key, ok := k.rl.state().ActiveKey(alg)
	if !ok {
		return "", nil, fmt.Errorf("realm %s has no active %s key", k.rl.Name, alg)
	}
	return k.signerFor(ctx, key.Kid)
}

// signerFor returns a signing key of the realm by kid, active or retired
// (checkpoints that vouch for a new key are signed with the previous one).
func (k Keys) signerFor(ctx context.Context, kid string) (string, crypto.Signer, error) {
	rl := k.rl
	if s, ok := rl.signers.Load(kid); ok {
		return kid, s.(crypto.Signer), nil
	}
	der, err := rl.reg.keys.Get(ctx, rl.Name, kid)
	if err != nil {
		return "", nil, err
	}
	s, err := parsePrivateKey(der)
	if err != nil {
		return "", nil, err
	}
	rl.signers.Store(kid, s)
	return kid, s, nil
}

// publicKey returns a published key by kid, for verifying this realm's
// tokens; a retired key past its publication time is not returned.
func (k Keys) publicKey(kid string, now time.Time) (crypto.PublicKey, string, bool) {
	rl := k.rl
	for _, key := range rl.state().Keys {
		if key.Kid != kid || !key.Published(now) {
			continue
		}
		if pub, ok := rl.publics.Load(kid); ok {
			return pub, key.Alg, true
		}
		pub, err := parseJWK(key.PublicJWK)
		if err != nil {
			return nil, "", false
		}
		rl.publics.Store(kid, pub)
		return pub, key.Alg, true
	}
	return nil, "", false
}
