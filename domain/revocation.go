package domain

import (
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// RevocationRule is what downstream services receive on
// lk.<realm>.revocations: one compact rule per revocation, however many
// tokens it covers. Exactly one of JTI, ClientID or Subject is set; with
// ClientID or Subject, the rule covers tokens issued (iat) before
// IssuedBefore. After ForgetAfter (Unix seconds) every token the rule can
// cover has expired, and the rule may be dropped.
type RevocationRule struct {
	JTI          string `json:"jti,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	Subject      string `json:"sub,omitempty"`
	IssuedBefore int64  `json:"issued_before,omitempty"`
	ForgetAfter  int64  `json:"forget_after"`
}

// Covers reports whether the rule revokes a token with these claims.
func (r RevocationRule) Covers(jti, clientID, subject string, iat int64) bool {
	switch {
	case r.JTI != "":
		return r.JTI == jti
	case r.ClientID != "":
		return r.ClientID == clientID && iat < r.IssuedBefore
	case r.Subject != "":
		return r.Subject == subject && iat < r.IssuedBefore
	}
	return false
}

// TokenStatus is an access token's state in the read models.
type TokenStatus string

const (
	StatusActive  TokenStatus = "active"
	StatusExpired TokenStatus = "expired"
	StatusRevoked TokenStatus = "revoked"
)

// TokenHash identifies the exact bytes of an issued token: the first 16
// bytes of its SHA-256, base64url. A presented token whose hash matches the
// recorded one is the token that was signed, so introspection needs no
// signature check.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// RevokeToken decides the revocation of one token by a client (RFC 7009):
// a client may revoke only its own tokens.
func RevokeToken(owner, caller, jti string, exp int64, reason string) (TokenRevoked, RevocationRule, *OAuthError) {
	if caller != "" && owner != caller {
		return TokenRevoked{}, RevocationRule{}, &OAuthError{Code: ErrUnauthorizedClient, Description: "the token was issued to another client"}
	}
	return TokenRevoked{JTI: jti, ExpiresAt: exp, Reason: reason},
		RevocationRule{JTI: jti, ForgetAfter: exp}, nil
}

// RevokeClientTokens decides revoking every token a client holds now.
func RevokeClientTokens(c *Client, now time.Time, reason string) (ClientTokensRevoked, RevocationRule) {
	rule := cutoffRule(c.ID, revocationCutoff(now))
	return ClientTokensRevoked{IssuedBefore: rule.IssuedBefore, ForgetAfter: rule.ForgetAfter, Reason: reason, URLClientID: urlClientID(c.ID)}, rule
}

// AtHash is OpenID Connect's at_hash: the left half of the access token's
// SHA-256 (the hash of both RS256 and ES256), base64url.
func AtHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
