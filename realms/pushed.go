package realms

import (
	"context"
	"errors"
	"maps"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// Pushed authorization requests (RFC 9126). The HTTP side checks a pushed
// request as the authorization endpoint checks one, then records it here;
// the authorization endpoint later trades the request_uri for it, once, on
// whichever replica the browser reaches, and checks it again against the
// client as it is then.

// PushedRequest is a request_uri handed out, and how long it lives.
type PushedRequest struct {
	RequestURI string
	ExpiresIn  int64
}

// Push records the authorization request params of clientID (authenticated
// by the caller, its request checked), bound to the DPoP key jkt when the
// request carried a proof or dpop_jkt; only the request_uri's hash enters
// the history.
func (gs Grants) Push(ctx context.Context, clientID string, params map[string][]string, jkt string, meta eventstore.Meta) (PushedRequest, error) {
	id, credential, err := newCredential()
	if err != nil {
		return PushedRequest{}, err
	}
	uri := domain.RequestURIPrefix + credential
	ev := domain.RequestPushed{
		ClientID: clientID, RequestURIHash: domain.HashSecret(uri), Params: maps.Clone(params), DPoPJKT: jkt,
		ExpiresAt: meta.Time.Unix() + domain.PushedRequestLifetime,
	}
	err = gs.rl.execute(ctx, meta, command{decide: func() (plan, error) {
		return write(domain.PushedRef(id), 0, ev), nil
	}})
	if err != nil {
		return PushedRequest{}, err
	}
	return PushedRequest{RequestURI: uri, ExpiresIn: domain.PushedRequestLifetime}, nil
}

// errPushedUsed: a concurrent request used the request_uri first.
var errPushedUsed = &domain.OAuthError{Code: domain.ErrInvalidRequestURI, Description: "the request_uri was used already: push the request again"}

// UsePushed trades a request_uri for the parameters pushed with it, for
// clientID, once: of two uses at once, on any replicas, one gets them and
// the other invalid_request_uri, as do an unknown, expired or other
// client's request_uri. jkt is the DPoP key the push was bound to.
func (gs Grants) UsePushed(ctx context.Context, clientID, requestURI string, meta eventstore.Meta) (params map[string][]string, jkt string, err error) {
	rl := gs.rl
	id, ok := domain.PushedRequestID(requestURI)
	if !ok {
		return nil, "", &domain.OAuthError{Code: domain.ErrInvalidRequestURI, Description: "the request_uri is not one this server made"}
	}
	hash := domain.HashSecret(requestURI)
	err = rl.execute(ctx, meta, command{lostRace: errPushedUsed, decide: func() (plan, error) {
		p, found := rl.models.Authz.Pushed(id)
		if !found && rl.catchUp(ctx) == nil {
			p, found = rl.models.Authz.Pushed(id)
		}
		if !found {
			p = nil
		}
		if problem := p.UseProblem(clientID, hash, meta.Time); problem != "" {
			return plan{}, &domain.OAuthError{Code: domain.ErrInvalidRequestURI, Description: problem}
		}
		params, jkt = p.Params, p.DPoPJKT
		return write(domain.PushedRef(id), p.Version, domain.PushedRequestUsed{}), nil
	}})
	var oerr *domain.OAuthError
	if errors.As(err, &oerr) {
		return nil, "", oerr
	}
	return maps.Clone(params), jkt, err
}
