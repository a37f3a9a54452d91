package domain

import (
	"slices"
	"time"
)

// Client assertions (RFC 7523 §2.2, §3; OpenID Connect Core §9,
// private_key_jwt): a JWT the client signs with its own key instead of
// sending a secret. Its signature is checked where the keys are; these are
// the rules for its claims.

// ClientAssertionType is the client_assertion_type of a JWT assertion.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Bounds of client assertions: an assertion expires at most
// MaxAssertionLifetime after it is presented (a short-lived credential),
// and clocks may differ by AssertionLeeway. Its jti is remembered as spent
// for AssertionReplayWindow, longer than any accepted assertion lives.
const (
	MaxAssertionLifetime  = 5 * time.Minute
	AssertionLeeway       = 30 * time.Second
	AssertionReplayWindow = MaxAssertionLifetime + 2*AssertionLeeway
	maxJTILength          = 256
)

// AssertionAlgs are the signing algorithms accepted for assertions.
var AssertionAlgs = []string{AlgES256, AlgRS256, "EdDSA"}

// AssertionClaims are the claims an assertion is judged by.
type AssertionClaims struct {
	Issuer, Subject, JTI           string
	Audience                       []string
	ExpiresAt, IssuedAt, NotBefore int64 // Unix seconds; 0 when absent
}

func assertionRefused(desc string) *OAuthError {
	return &OAuthError{Code: ErrInvalidClient, Description: "client assertion refused: " + desc}
}

// CheckAssertionClaims checks an assertion of clientID presented at now:
// iss and sub are the client, aud names one of audiences (the issuer, or
// the endpoint it was sent to), exp is set, not past and near, nbf and iat
// are not in the future, and it has a jti.
func CheckAssertionClaims(c AssertionClaims, clientID string, audiences []string, now time.Time) *OAuthError {
	leeway := int64(AssertionLeeway / time.Second)
	n := now.Unix()
	switch {
	case c.Issuer != clientID || c.Subject != clientID:
		return assertionRefused("iss and sub must both be the client_id")
	case !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(audiences, a) }):
		return assertionRefused("aud must be the issuer or the endpoint's URL")
	case c.ExpiresAt == 0:
		return assertionRefused("exp is required")
	case c.ExpiresAt <= n-leeway:
		return assertionRefused("it has expired")
	case c.ExpiresAt > n+int64(MaxAssertionLifetime/time.Second)+leeway:
		return assertionRefused("exp is too far ahead: an assertion lives at most 5 minutes")
	case c.NotBefore > n+leeway || c.IssuedAt > n+leeway:
		return assertionRefused("it is not valid yet (nbf or iat in the future)")
	case c.JTI == "" || len(c.JTI) > maxJTILength:
		return assertionRefused("jti is required (at most 256 characters)")
	}
	return nil
}
