package domain

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// RuleJWSType is the "typ" of a revocation rule's signature.
const RuleJWSType = "latchkey-revocation+jws"

// RuleJWSHeader is the NATS header a rule message carries its JWS in.
const RuleJWSHeader = "Lk-Rule-Jws"

// SignedRule is a revocation rule as published: its message body (the rule
// as JSON) and a detached JWS over it, ES256 with the realm's active key,
// its protected header naming the subject the rule is published on.
// Resource servers cannot hold the key Latchkey's own messages are MAC'd
// with; they check this signature against the realm's JWKS instead.
type SignedRule struct {
	Rule RevocationRule
	Body []byte
	JWS  string
}

// SignRule signs a rule for publication on subject.
func SignRule(subject string, r RevocationRule, kid string, signer crypto.Signer, rand io.Reader) (SignedRule, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return SignedRule{}, err
	}
	jws, err := signDetached("revocation rule", jwsHeader{Kid: kid, Typ: RuleJWSType, Subject: subject}, body, signer, rand)
	if err != nil {
		return SignedRule{}, err
	}
	return SignedRule{Rule: r, Body: body, JWS: jws}, nil
}

// Why VerifyRule refuses a rule.
var (
	ErrRuleUnsigned     = errors.New("revocation rule: unsigned")
	ErrRuleBadSignature = errors.New("revocation rule: signature does not verify")
)

// VerifyRule returns the rule a message published on subject holds, once
// its signature verifies with the key the JWS names: key looks an ES256
// public key up by kid (in the realm's JWKS). An unsigned rule, one signed
// with another key, for another subject, or whose body was changed is
// refused: it must neither revoke nor be trusted.
func VerifyRule(subject string, body []byte, jws string, key func(kid string) (*ecdsa.PublicKey, bool)) (RevocationRule, error) {
	var r RevocationRule
	if jws == "" {
		return r, ErrRuleUnsigned
	}
	h, sig, err := splitDetached("revocation rule", jws)
	if err != nil {
		return r, err
	}
	if h.Alg != AlgES256 || h.Typ != RuleJWSType {
		return r, fmt.Errorf("revocation rule: jws alg %q typ %q, want %s %s", h.Alg, h.Typ, AlgES256, RuleJWSType)
	}
	if h.Subject != subject {
		return r, fmt.Errorf("revocation rule: signed for subject %q, published on %q", h.Subject, subject)
	}
	pub, ok := key(h.Kid)
	if !ok {
		return r, fmt.Errorf("revocation rule: signed with unknown key %q", h.Kid)
	}
	if !verifyES256(pub, jws, body, sig) {
		return r, ErrRuleBadSignature
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("revocation rule: %w", err)
	}
	return r, nil
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
	return ClientTokensRevoked{IssuedBefore: rule.IssuedBefore, ForgetAfter: rule.ForgetAfter, Reason: reason}, rule
}

// AtHash is OpenID Connect's at_hash: the left half of the access token's
// SHA-256 (the hash of both RS256 and ES256), base64url.
func AtHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
