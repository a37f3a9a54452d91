package realms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// ClientAuth is what a request presented to authenticate its client. The
// HTTP side reads it (HTTP Basic, the form, a client assertion, or a bare
// client_id); the realm decides.
type ClientAuth struct {
	// Method is domain.AuthSecretBasic, domain.AuthSecretPost,
	// domain.AuthPrivateKeyJWT (a client assertion) or domain.AuthNone (a
	// client_id alone).
	Method string
	// ClientID is the client_id presented; for an assertion, its iss when
	// the request names no client_id (AssertionIssuer).
	ClientID string
	Secret   string
	// PublicAllowed admits a public client by its client_id alone: the
	// code and refresh grants and revocation do; introspection and the
	// client-credentials grant need a confidential client.
	PublicAllowed bool
	// AssertionType and Assertion are client_assertion_type and
	// client_assertion (private_key_jwt); Endpoint is the URL they were
	// sent to, an audience the assertion may name.
	AssertionType, Assertion, Endpoint string

	// prepared: Prepare has read what authentication needs from outside
	// the models, once for the request; assertion is then the assertion
	// it verified and whose jti it spent.
	prepared  bool
	assertion *verifiedAssertion
}

var (
	errClientAuthRequired = &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "client authentication required"}
	errClientAuthFailed   = &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "client authentication failed"}
)

// Prepare reads, once per request, what authenticating its client needs
// from outside the realm's models: the metadata document of a client known
// by URL (recorded when new or changed, see Resolve), and a client
// assertion, verified and its jti spent (AuthenticateAssertion's rules).
// Authenticate then checks the client's state in the models, as often as a
// command decides again, and never spends the jti twice: the request's own
// second decision is not a replay. The grants prepare the auth they are
// given themselves; meta is the request's (the discovery of a client is
// written by the system).
func (cs Clients) Prepare(ctx context.Context, auth ClientAuth, meta eventstore.Meta) (ClientAuth, error) {
	if auth.prepared {
		return auth, nil
	}
	meta.Actor, meta.OnBehalfOf = eventstore.ActorSystem, ""
	switch {
	case auth.Method == domain.AuthPrivateKeyJWT:
		v, err := cs.verifyAssertion(ctx, auth, meta)
		if err != nil {
			return auth, err
		}
		auth.ClientID, auth.assertion = v.clientID, v
	case domain.IsClientIDURL(auth.ClientID):
		if _, err := cs.Resolve(ctx, auth.ClientID, meta); err != nil {
			return auth, asInvalidClient(err)
		}
	}
	auth.prepared = true
	return auth, nil
}

// asInvalidClient answers a client that cannot be found as invalid_client
// (it is a credential, not a resource); other failures stay as they are.
func asInvalidClient(err error) error {
	if errors.Is(err, domain.ErrNotFound) {
		return errClientAuthFailed
	}
	return err
}

// Authenticate checks a client's credentials at now, against a model at
// most StaleBound behind the stream. Credentials not prepared yet are
// prepared first (Prepare), with a request of the system's at now. Credentials the model refuses (an
// unknown client, a wrong secret, a disabled client) are checked once more
// after a catch-up with the stream that started after the request: the
// client may have been created, rotated or enabled on another replica a
// moment ago. The catch-up is shared with every request waiting for one,
// so refused credentials cost the stream at most one question per realm
// per catchUpSpacing. Refused credentials get the same
// *domain.OAuthError, invalid_client, whatever the reason.
func (cs Clients) Authenticate(ctx context.Context, auth ClientAuth, now time.Time) (*domain.Client, error) {
	auth, err := cs.Prepare(ctx, auth, eventstore.Meta{Actor: eventstore.ActorSystem, Time: now})
	if err != nil {
		return nil, err
	}
	if err := cs.rl.fresh.within(ctx, StaleBound); err != nil {
		return nil, staleModels(err)
	}
	c, err := cs.check(ctx, auth, now)
	if err == nil {
		return c, nil
	}
	if cs.rl.catchUp(ctx) != nil {
		return nil, err
	}
	return cs.check(ctx, auth, now)
}

// staleModels is the error of a decision that cannot be taken because the
// read models cannot be brought within StaleBound of the stream (its
// leader unreachable): answered 503, retry.
func staleModels(err error) error {
	return fmt.Errorf("%w: the read models cannot be brought up to date: %v", eventstore.ErrUnavailable, err)
}

// check checks credentials against the model as it is.
func (cs Clients) check(ctx context.Context, auth ClientAuth, now time.Time) (*domain.Client, error) {
	switch auth.Method {
	case domain.AuthPrivateKeyJWT:
		return cs.checkAssertion(ctx, auth.assertion)
	case domain.AuthNone:
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
