package realms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/realms/webfetch"
)

// private_key_jwt (RFC 7523 §2.2, OpenID Connect Core §9): a client
// authenticates with a JWT it signs with its own key, registered as jwks
// or jwks_uri. The assertion's jti is spent on the shared store, so a
// replay is refused on every replica.

// checkKeys refuses a client whose inline key set does not parse into
// public signing keys (the shape is domain's rule; this is the keys).
func checkKeys(s domain.ClientSettings) error {
	if s.TokenEndpointAuthMethod != domain.AuthPrivateKeyJWT || len(s.JWKS) == 0 {
		return nil
	}
	if _, err := parseKeySet(s.JWKS); err != nil {
		return &domain.ValidationError{Field: "jwks", Message: "jwks: " + err.Error()}
	}
	return nil
}

// parseKeySet reads a JWK Set of public ES256, RS256 or EdDSA keys.
func parseKeySet(raw []byte) ([]jose.JSONWebKey, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("not a JWK Set of supported keys: %v", err)
	}
	for i, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return nil, fmt.Errorf("key %d is not a valid public key", i)
		}
		switch k.Key.(type) {
		case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, fmt.Errorf("key %d is of a type that cannot verify ES256, RS256 or EdDSA", i)
		}
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("the key set is empty")
	}
	return set.Keys, nil
}

// keyRefetchEvery bounds how often a client's jwks_uri is fetched again
// because an assertion named a key it lacks.
const keyRefetchEvery = time.Minute

// clientKeys returns a client's public keys: inline, or from its jwks_uri
// (cached by the fetcher); fresh forces one early fetch of the URL.
func (cs Clients) clientKeys(ctx context.Context, c *domain.Client, fresh bool) ([]jose.JSONWebKey, error) {
	if c.JWKSURI == "" {
		return parseKeySet(c.JWKS)
	}
	fetch := cs.rl.reg.fetch
	if fresh {
		last, _ := cs.rl.reg.keyRefetched.Load(c.JWKSURI)
		if t, ok := last.(time.Time); ok && time.Since(t) < keyRefetchEvery {
			return nil, errors.New("the key is not in the client's key set")
		}
		cs.rl.reg.keyRefetched.Store(c.JWKSURI, time.Now())
		fetch.Forget(c.JWKSURI)
	}
	raw, err := fetch.JSON(ctx, c.JWKSURI)
	if err != nil {
		var fe *webfetch.Error
		if errors.As(err, &fe) {
			return nil, errors.New("the client's key set could not be fetched: " + fe.Reason)
		}
		return nil, err
	}
	return parseKeySet(raw)
}

// errNoKey: no key of the client verifies the assertion's signature.
var errNoKey = errors.New("no key of the client verifies the signature")

// verifyWith checks the assertion's signature with one of keys: the one
// its kid names, else each key that suits its algorithm.
func verifyWith(assertion string, keys []jose.JSONWebKey) (*jwt.RegisteredClaims, error) {
	parser := jwt.NewParser(jwt.WithValidMethods(domain.AssertionAlgs), jwt.WithoutClaimsValidation())
	var lastErr error = errNoKey
	for _, k := range keys {
		claims := &jwt.RegisteredClaims{}
		_, err := parser.ParseWithClaims(assertion, claims, func(t *jwt.Token) (any, error) {
			if kid, _ := t.Header["kid"].(string); kid != "" && k.KeyID != "" && kid != k.KeyID {
				return nil, errNoKey
			}
			if k.Algorithm != "" && k.Algorithm != t.Method.Alg() {
				return nil, errNoKey
			}
			return crypto.PublicKey(k.Key), nil
		})
		if err == nil {
			return claims, nil
		}
		if !errors.Is(err, errNoKey) {
			lastErr = err
		}
	}
	return nil, lastErr
}

// AssertionIssuer is the iss of a client assertion, read without checking
// anything: the client the assertion claims to be, which a request that
// sends no client_id is counted and logged under. "" when it names none.
func AssertionIssuer(assertion string) string {
	claims := &jwt.RegisteredClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(assertion, claims); err != nil {
		return ""
	}
	return claims.Issuer
}

// verifiedAssertion is a client assertion a request presented, verified
// and its jti spent, with the key material it was verified with.
type verifiedAssertion struct {
	clientID  string
	assertion string
	jwks      []byte
	jwksURI   string
}

// verifyAssertion authenticates a client by its assertion (auth.Assertion)
// sent to the endpoint at auth.Endpoint: the client is its iss (a client
// known by URL is resolved through its metadata document), it must use
// private_key_jwt and be enabled, one of its keys must verify the
// signature, the claims must meet RFC 7523's rules, and the jti must never
// have been spent; it is spent here, once. Every refusal is
// invalid_client.
func (cs Clients) verifyAssertion(ctx context.Context, auth ClientAuth, meta eventstore.Meta) (*verifiedAssertion, error) {
	rl := cs.rl
	now := meta.Time
	if auth.AssertionType != domain.ClientAssertionType {
		return nil, clientRefused("client_assertion_type must be " + domain.ClientAssertionType)
	}
	clientID := AssertionIssuer(auth.Assertion)
	if clientID == "" {
		return nil, clientRefused("client_assertion is not a JWT naming its client in iss")
	}
	if auth.ClientID != "" && auth.ClientID != clientID {
		return nil, clientRefused("client_id does not match the assertion's iss")
	}
	c, err := cs.Resolve(ctx, clientID, meta)
	if errors.Is(err, domain.ErrNotFound) && rl.catchUp(ctx) == nil {
		c, err = cs.Resolve(ctx, clientID, meta) // created on another replica a moment ago
	}
	var oerr *domain.OAuthError
	if errors.As(err, &oerr) {
		return nil, oerr
	}
	if err != nil {
		return nil, asInvalidClient(err)
	}
	if c.TokenEndpointAuthMethod != domain.AuthPrivateKeyJWT {
		return nil, errClientAuthFailed
	}
	keys, err := cs.clientKeys(ctx, c, false)
	if err != nil {
		return nil, clientRefused("client assertion refused: " + err.Error())
	}
	claims, err := verifyWith(auth.Assertion, keys)
	if errors.Is(err, errNoKey) && c.JWKSURI != "" {
		// The client may have rotated its keys since they were fetched.
		if keys, kerr := cs.clientKeys(ctx, c, true); kerr == nil {
			claims, err = verifyWith(auth.Assertion, keys)
		}
	}
	if err != nil {
		return nil, clientRefused("client assertion refused: the signature does not verify with the client's keys")
	}
	issuer := rl.Issuer()
	audiences := []string{issuer, issuer + "/protocol/openid-connect/token"}
	if auth.Endpoint != "" && !slices.Contains(audiences, auth.Endpoint) {
		audiences = append(audiences, auth.Endpoint)
	}
	if oerr := domain.CheckAssertionClaims(assertionClaims(claims), c.ID, audiences, now); oerr != nil {
		return nil, oerr
	}
	if !c.Enabled() {
		return nil, errClientAuthFailed
	}
	err = rl.reg.store.SpendAssertion(ctx, rl.Name, c.ID, claims.ID)
	if errors.Is(err, eventstore.ErrAssertionReplayed) {
		return nil, clientRefused("client assertion refused: it was used before (each jti is single use)")
	}
	if err != nil {
		return nil, err
	}
	return &verifiedAssertion{clientID: c.ID, assertion: auth.Assertion, jwks: c.JWKS, jwksURI: c.JWKSURI}, nil
}

// checkAssertion checks the client of an assertion this request verified
// (and whose jti it spent) against the model as it is, each time a
// command decides: the client must still be there, enabled and signing
// its assertions, and if its keys changed since, one of its keys now must
// still verify the signature.
func (cs Clients) checkAssertion(ctx context.Context, v *verifiedAssertion) (*domain.Client, error) {
	if v == nil {
		return nil, errClientAuthFailed // not prepared: never taken for a verified one
	}
	c, ok := cs.rl.models.Clients.Get(v.clientID)
	if !ok || !c.Enabled() || c.TokenEndpointAuthMethod != domain.AuthPrivateKeyJWT {
		return nil, errClientAuthFailed
	}
	if c.JWKSURI != v.jwksURI || !bytes.Equal(c.JWKS, v.jwks) {
		keys, err := cs.clientKeys(ctx, c, false)
		if err != nil {
			return nil, errClientAuthFailed
		}
		if _, err := verifyWith(v.assertion, keys); err != nil {
			return nil, errClientAuthFailed
		}
	}
	return c, nil
}

func assertionClaims(c *jwt.RegisteredClaims) domain.AssertionClaims {
	unix := func(d *jwt.NumericDate) int64 {
		if d == nil {
			return 0
		}
		return d.Unix()
	}
	return domain.AssertionClaims{
		Issuer: c.Issuer, Subject: c.Subject, JTI: c.ID, Audience: c.Audience,
		ExpiresAt: unix(c.ExpiresAt), IssuedAt: unix(c.IssuedAt), NotBefore: unix(c.NotBefore),
	}
}
