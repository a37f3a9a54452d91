package realms

import (
	"context"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
)

// AccessTokenType is the JWT "typ" of access tokens (RFC 9068).
const AccessTokenType = "at+jwt"

// AccessClaims are the claims of a Latchkey access token (RFC 9068), plus
// the nodes the token may act on and the client's access preset.
type AccessClaims struct {
	jwt.RegisteredClaims
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	Nodes    []string `json:"nodes,omitempty"`
	Preset   string   `json:"preset,omitempty"`
}

// TokenRequest is what an access token is minted for.
type TokenRequest struct {
	ClientID, Subject, Scope string
	Nodes                    []string
	Preset                   string
	Lifetime                 int64
}

// IssuedToken is a signed access token and what its event records.
type IssuedToken struct {
	Token  string
	Claims AccessClaims
	Kid    string
}

// Audience of access tokens: the realm's issuer, so that a resource server
// of one realm never accepts another realm's token.
func (rl *Realm) Audience() string { return rl.Issuer }

// MintAccessToken signs an access token with the realm's active ES256 key.
func (rl *Realm) MintAccessToken(ctx context.Context, req TokenRequest, now time.Time) (IssuedToken, error) {
	kid, signer, err := rl.Signer(ctx, domain.AlgES256)
	if err != nil {
		return IssuedToken{}, err
	}
	claims := AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    rl.Issuer,
			Subject:   req.Subject,
			Audience:  jwt.ClaimStrings{rl.Audience()},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Duration(req.Lifetime) * time.Second)),
			ID:        uuid.NewString(),
		},
		ClientID: req.ClientID,
		Scope:    req.Scope,
		Nodes:    req.Nodes,
		Preset:   req.Preset,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["typ"] = AccessTokenType
	tok.Header["kid"] = kid
	signed, err := tok.SignedString(signer)
	if err != nil {
		return IssuedToken{}, err
	}
	return IssuedToken{Token: signed, Claims: claims, Kid: kid}, nil
}

// IssuerRealm extracts the realm name from an issuer URL of this registry,
// reading the token's claims without verifying them: the caller then
// verifies with that realm's keys.
func (r *Registry) IssuerRealm(raw string) (string, bool) {
	claims := &jwt.RegisteredClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err != nil {
		return "", false
	}
	prefix := r.publicURL + "/realms/"
	if len(claims.Issuer) <= len(prefix) || claims.Issuer[:len(prefix)] != prefix {
		return "", false
	}
	name := claims.Issuer[len(prefix):]
	return name, domain.IsValidName(name)
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
func (rl *Realm) VerifyIDTokenHint(raw string, now time.Time) (IDTokenHint, bool) {
	claims := &IDClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{domain.AlgRS256, domain.AlgES256}), jwt.WithIssuer(rl.Issuer),
		jwt.WithTimeFunc(func() time.Time { return time.Unix(0, 0) })) // an expired hint still identifies its client
	_, err := parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); strings.EqualFold(typ, AccessTokenType) {
			return nil, jwt.ErrTokenUnverifiable
		}
		kid, _ := t.Header["kid"].(string)
		pub, alg, found := rl.PublicKey(kid, now)
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
