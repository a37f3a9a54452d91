package realms

// Minting: the access tokens (RFC 9068) and ID tokens a realm signs.

import (
	"context"
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
	// Confirmation binds the token to a DPoP key (RFC 9449 §6.1).
	Confirmation *Confirmation `json:"cnf,omitempty"`
}

// Confirmation is a token's cnf claim (RFC 7800): the thumbprint of the
// DPoP key its holder proves.
type Confirmation struct {
	JKT string `json:"jkt"`
}

// TokenRequest is what an access token is minted for.
type TokenRequest struct {
	ClientID, Subject, Scope string
	Nodes                    []string
	Preset                   string
	Lifetime                 int64
	// Audience is the resource (RFC 8707) the token is for; empty: the
	// realm's issuer.
	Audience string
	// JKT binds the token to a DPoP key; empty: a bearer token.
	JKT string
}

// audience is the aud of a token minted for req by issuer.
func (ts Tokens) audience(req TokenRequest, issuer string) string {
	if req.Audience != "" {
		return req.Audience
	}
	return issuer
}

// IssuedToken is a signed access token and what its event records.
type IssuedToken struct {
	Token  string
	Claims AccessClaims
	Kid    string
}

// Type is the token's token_type: DPoP when it is bound to a key (RFC
// 9449 §5), Bearer otherwise.
func (t IssuedToken) Type() string {
	if t.Claims.Confirmation != nil {
		return domain.TokenTypeDPoP
	}
	return domain.TokenTypeBearer
}

// mint signs an access token with the realm's active ES256 key.
func (ts Tokens) mint(ctx context.Context, req TokenRequest, now time.Time) (IssuedToken, error) {
	rl := ts.rl
	kid, signer, err := rl.Keys().active(ctx, domain.AlgES256)
	if err != nil {
		return IssuedToken{}, err
	}
	issuer := rl.Issuer()
	claims := AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   req.Subject,
			Audience:  jwt.ClaimStrings{ts.audience(req, issuer)},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Duration(req.Lifetime) * time.Second)),
			ID:        uuid.NewString(),
		},
		ClientID: req.ClientID,
		Scope:    req.Scope,
		Nodes:    req.Nodes,
		Preset:   req.Preset,
	}
	if req.JKT != "" {
		claims.Confirmation = &Confirmation{JKT: req.JKT}
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

// IssuerRealm names the realm that issued a token, reading its claims
// without verifying them (the caller then verifies with that realm's
// keys): its issuer is <public-url>/realms/<realm> or a host the realm
// claims.
func (r *Registry) IssuerRealm(raw string) (string, bool) {
	claims := &jwt.RegisteredClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err != nil {
		return "", false
	}
	return r.realmOfIssuer(claims.Issuer)
}

// IDTokenContext is what an ID token says about the sign-in.
type IDTokenContext struct {
	Nonce, SessionID, AccessToken, Scope string
	AuthTime                             int64
}

// IDClaims are an OpenID Connect ID token's claims.
type IDClaims struct {
	jwt.RegisteredClaims
	AuthTime          int64  `json:"auth_time,omitempty"`
	Nonce             string `json:"nonce,omitempty"`
	AtHash            string `json:"at_hash,omitempty"`
	SessionID         string `json:"sid,omitempty"`
	AuthorizedParty   string `json:"azp"`
	Email             string `json:"email,omitempty"`
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
}

// mintID signs an ID token with the client's algorithm (RS256 by default,
// or ES256).
func (ts Tokens) mintID(ctx context.Context, client *domain.Client, user *domain.User, ic IDTokenContext, now time.Time) (string, error) {
	rl := ts.rl
	kid, signer, err := rl.Keys().active(ctx, client.IDTokenAlg)
	if err != nil {
		return "", err
	}
	claims := IDClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: rl.Issuer(), Subject: user.ID, Audience: jwt.ClaimStrings{client.ID},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Duration(client.AccessTokenLifetime) * time.Second)),
		},
		AuthTime: ic.AuthTime, Nonce: ic.Nonce, AtHash: domain.AtHash(ic.AccessToken),
		SessionID: ic.SessionID, AuthorizedParty: client.ID,
	}
	if domain.HasScope(ic.Scope, domain.ScopeEmail) {
		claims.Email = user.Email
	}
	if domain.HasScope(ic.Scope, domain.ScopeProfile) {
		claims.Name, claims.PreferredUsername = user.DisplayName, user.Username
	}
	method := jwt.SigningMethod(jwt.SigningMethodRS256)
	if client.IDTokenAlg == domain.AlgES256 {
		method = jwt.SigningMethodES256
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	return tok.SignedString(signer)
}
