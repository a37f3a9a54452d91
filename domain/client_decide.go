package domain

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// MaxSecretOverlap bounds how long a rotated-out secret may stay valid.
const MaxSecretOverlap = 7 * 24 * 3600

// ErrConfirmationRequired is the ConflictError code for high-risk settings
// (and names that mix lookalike scripts) sent without "confirm_high_risk":
// true.
const ErrConfirmationRequired = "confirmation_required"

// ClientContext is what client decisions need to know of the realm.
type ClientContext struct {
	Catalog Catalog
	Tree    Tree
	// MixedGrants: a client may hold client credentials and the code
	// grant together (RealmSettings.MixedGrants).
	MixedGrants bool
}

func highRiskRefused() error {
	return &ConflictError{Code: ErrConfirmationRequired,
		Message: "full access with access tokens living over an hour is a high-risk combination; send \"confirm_high_risk\": true to proceed"}
}

// DecideCreateClient validates a new client's settings (defaults filled
// in) and returns its event and warnings. secretHash is ignored for public
// clients, which have no secret.
func DecideCreateClient(id string, s ClientSettings, secretHash string, confirmHighRisk bool, rc ClientContext) (ClientCreated, []Warning, error) {
	if err := ValidateName("client id", id); err != nil {
		return ClientCreated{}, nil, err
	}
	if strings.HasPrefix(id, ReservedClientPrefix) {
		return ClientCreated{}, nil, &ValidationError{Field: "client id", Message: "client ids starting with " + ReservedClientPrefix + " are reserved"}
	}
	s.Normalize()
	if err := s.ValidateIn(rc); err != nil {
		return ClientCreated{}, nil, err
	}
	if s.HighRisk() && !confirmHighRisk {
		return ClientCreated{}, nil, highRiskRefused()
	}
	if err := checkNameScripts("client name", s.Name, confirmHighRisk); err != nil {
		return ClientCreated{}, nil, err
	}
	if !s.HasSecret() {
		secretHash = ""
	}
	return ClientCreated{ClientID: id, ClientSettings: s, SecretHash: secretHash}, s.Warnings(), nil
}

// DecideUpdateClient replaces a client's settings. It returns nil when
// nothing changes. A client's type cannot change: a public client has no
// secret to become confidential with, and the reverse would strand one.
func DecideUpdateClient(c *Client, next ClientSettings, confirmHighRisk bool, rc ClientContext) (*ClientUpdated, []Warning, error) {
	if c == nil || c.Deleted {
		return nil, nil, ErrNotFound
	}
	next.Normalize()
	if next.Type != c.Type {
		return nil, nil, &ValidationError{Field: "type", Message: fmt.Sprintf("type cannot change from %s to %s; create a new client", c.Type, next.Type)}
	}
	if err := next.ValidateIn(rc); err != nil {
		return nil, nil, err
	}
	// Confirmation is asked each time the risk grows: on becoming high
	// risk, and on a longer lifetime once there; other edits go through.
	raised := !c.HighRisk() || next.AccessTokenLifetime > c.AccessTokenLifetime
	if next.HighRisk() && raised && !confirmHighRisk {
		return nil, nil, highRiskRefused()
	}
	if next.Name != c.Name {
		if err := checkNameScripts("client name", next.Name, confirmHighRisk); err != nil {
			return nil, nil, err
		}
	}
	if reflect.DeepEqual(next, c.ClientSettings) {
		return nil, next.Warnings(), nil
	}
	return &ClientUpdated{Before: c.ClientSettings, After: next}, next.Warnings(), nil
}

// DecideRotateSecret replaces a confidential client's secret; the old one
// stays valid for overlap seconds (0: invalid at once).
func DecideRotateSecret(c *Client, newHash string, overlap int64, now time.Time) (ClientSecretRotated, error) {
	if c == nil || c.Deleted {
		return ClientSecretRotated{}, ErrNotFound
	}
	if c.Type == ClientPublic {
		return ClientSecretRotated{}, &ValidationError{Field: "type", Message: "a public client has no secret to rotate"}
	}
	if !c.HasSecret() {
		return ClientSecretRotated{}, &ValidationError{Field: "token_endpoint_auth_method", Message: "a client authenticating with " + c.TokenEndpointAuthMethod + " has no secret to rotate"}
	}
	if overlap < 0 || overlap > MaxSecretOverlap {
		return ClientSecretRotated{}, &ValidationError{Field: "previous_secret_expires_in",
			Message: fmt.Sprintf("previous_secret_expires_in must be between 0 and %d seconds", MaxSecretOverlap)}
	}
	e := ClientSecretRotated{SecretHash: newHash}
	if overlap > 0 {
		e.PreviousExpiresAt = now.Unix() + overlap
	}
	return e, nil
}

// DecideRehashSecret replaces the legacy hash stale, which a presented
// secret just matched, by fresh, that secret's HMAC. It returns false when
// the client no longer stores stale (another request replaced it first, or
// the secret was rotated): nothing to write, so a race writes one event.
func DecideRehashSecret(c *Client, stale, fresh string) (ClientSecretRehashed, bool) {
	switch {
	case c == nil || c.Deleted || !IsLegacySecretHash(stale) || !strings.HasPrefix(fresh, secretHashPrefix):
		return ClientSecretRehashed{}, false
	case c.SecretHash == stale:
		return ClientSecretRehashed{SecretHash: fresh}, true
	case c.PreviousSecretHash == stale:
		return ClientSecretRehashed{PreviousSecretHash: fresh}, true
	}
	return ClientSecretRehashed{}, false
}

// DecideDisableClient stops a client and revokes every token it holds. It
// returns nil when the client is already disabled.
func DecideDisableClient(c *Client, now time.Time, reason string) (*ClientDisabled, RevocationRule, error) {
	if c == nil || c.Deleted {
		return nil, RevocationRule{}, ErrNotFound
	}
	if c.Status == StatusDisabled {
		return nil, RevocationRule{}, nil
	}
	rule := cutoffRule(c.ID, revocationCutoff(now))
	return &ClientDisabled{TokensRevokedBefore: rule.IssuedBefore, Reason: reason, URLClientID: urlClientID(c.ID)}, rule, nil
}

// DecideEnableClient lets a disabled client get tokens again; the tokens
// revoked when it was disabled stay revoked. Nil when already enabled.
func DecideEnableClient(c *Client) (*ClientEnabled, error) {
	if c == nil || c.Deleted {
		return nil, ErrNotFound
	}
	if c.Status == StatusEnabled {
		return nil, nil
	}
	return &ClientEnabled{}, nil
}

// DecideDeleteClient removes a client for good and revokes its tokens; the
// built-in console's client is never deleted.
func DecideDeleteClient(c *Client, now time.Time) (ClientDeleted, RevocationRule, error) {
	if c == nil || c.Deleted {
		return ClientDeleted{}, RevocationRule{}, ErrNotFound
	}
	if c.ID == ConsoleClientID {
		// A client id is never used again: deleted, the realm would have no
		// console for good.
		return ClientDeleted{}, RevocationRule{}, &ConflictError{Message: "client " + ConsoleClientID + " is the realm's built-in console; disable it instead"}
	}
	rule := cutoffRule(c.ID, revocationCutoff(now))
	return ClientDeleted{TokensRevokedBefore: rule.IssuedBefore, URLClientID: urlClientID(c.ID)}, rule, nil
}
