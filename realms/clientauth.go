package realms

import (
	"time"

	"github.com/latchkeyhq/latchkey/domain"
)

// ClientAuth is what a request presented to authenticate its client. The
// HTTP side reads it (HTTP Basic, the form, or a bare client_id); the realm
// decides. Other methods (private_key_jwt) add their fields here.
type ClientAuth struct {
	// Method is domain.AuthSecretBasic, domain.AuthSecretPost or
	// domain.AuthNone (a client_id alone).
	Method   string
	ClientID string
	Secret   string
	// PublicAllowed admits a public client by its client_id alone: the
	// code and refresh grants and revocation do; introspection and the
	// client-credentials grant need a confidential client.
	PublicAllowed bool
}

var (
	errClientAuthRequired = &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "client authentication required"}
	errClientAuthFailed   = &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "client authentication failed"}
)

// Authenticate checks a client's credentials at now. An unknown client, a
// wrong secret and a disabled client take the same time and get the same
// *domain.OAuthError, invalid_client.
func (cs Clients) Authenticate(auth ClientAuth, now time.Time) (*domain.Client, error) {
	if auth.Method == domain.AuthNone {
		if c, ok := cs.rl.models.Clients.Get(auth.ClientID); ok && auth.PublicAllowed && c.Type == domain.ClientPublic && c.Enabled() {
			return c, nil
		}
		return nil, errClientAuthRequired
	}
	c, _ := cs.rl.models.Clients.Get(auth.ClientID)
	match := cs.rl.reg.keys.secrets.Match(c, auth.Secret, now.Unix())
	if !match.OK || !c.Enabled() {
		return nil, errClientAuthFailed
	}
	if match.Stale != "" {
		cs.rehashSecret(c.ID, match.Stale, auth.Secret, now)
	}
	return c, nil
}
