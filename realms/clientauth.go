package realms

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
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

// Authenticate checks a client's credentials at now, against a model at
// most StaleBound behind the stream. Credentials the model refuses (an
// unknown client, a wrong secret, a disabled client) are checked once more
// after a catch-up with the stream that started after the request: the
// client may have been created, rotated or enabled on another replica a
// moment ago. The catch-up is shared with every request waiting for one,
// so refused credentials cost the stream at most one question per realm
// per catchUpSpacing. Refused credentials get the same
// *domain.OAuthError, invalid_client, whatever the reason.
func (cs Clients) Authenticate(ctx context.Context, auth ClientAuth, now time.Time) (*domain.Client, error) {
	if err := cs.rl.fresh.within(ctx, StaleBound); err != nil {
		return nil, staleModels(err)
	}
	c, err := cs.check(auth, now)
	if err == nil {
		return c, nil
	}
	if cs.rl.catchUp(ctx) != nil {
		return nil, err
	}
	return cs.check(auth, now)
}

// staleModels is the error of a decision that cannot be taken because the
// read models cannot be brought within StaleBound of the stream (its
// leader unreachable): answered 503, retry.
func staleModels(err error) error {
	return fmt.Errorf("%w: the read models cannot be brought up to date: %v", eventstore.ErrUnavailable, err)
}

// check checks credentials against the model as it is.
func (cs Clients) check(auth ClientAuth, now time.Time) (*domain.Client, error) {
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
