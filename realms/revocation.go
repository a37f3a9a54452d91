package realms

import (
	"context"
	"crypto/rand"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
)

// Revoke is a client's revocation request (RFC 7009). A refresh token
// revokes its whole grant: the refresh token and every access token issued
// under it. Another client's token, access or refresh, is refused
// (unauthorized_client) and stays valid; an unknown or already revoked one
// is no error. It returns once this replica's read models show the
// revocation.
func (ts Tokens) Revoke(ctx context.Context, client *domain.Client, token string, meta eventstore.Meta) error {
	grants := ts.rl.Grants()
	if g, ok := grants.byRefreshToken(token); ok {
		if g.ClientID != client.ID {
			return &domain.OAuthError{Code: domain.ErrUnauthorizedClient, Description: "the token was issued to another client"}
		}
		return grants.Revoke(ctx, g.GrantID, "refresh token revoked by its client", meta)
	}
	info, found, err := ts.Introspect(ctx, token, meta.Time)
	if err != nil || !found {
		return err
	}
	return ts.revoke(ctx, info, client.ID, "revoked by its client", meta)
}

// RevokeByID is an administrator's revocation of one token by its id; an
// unknown id is a not-found error.
func (ts Tokens) RevokeByID(ctx context.Context, jti string, meta eventstore.Meta) error {
	info, ok := ts.find(ctx, jti, meta.Time)
	if !ok {
		return domain.NotFound("token " + jti)
	}
	return ts.revoke(ctx, info, "", "revoked by an administrator", meta)
}

// revoke revokes one token. caller is the client asking (only the token's
// own client may; another's is *domain.OAuthError unauthorized_client), or
// empty for an administrator.
func (ts Tokens) revoke(ctx context.Context, info projections.TokenInfo, caller, reason string, meta eventstore.Meta) error {
	ev, rule, oerr := domain.RevokeToken(info.ClientID, caller, info.JTI, info.Expires, reason)
	if oerr != nil {
		return oerr
	}
	if info.Status == domain.StatusRevoked {
		return nil // revoking twice changes nothing
	}
	return ts.rl.execute(ctx, meta, command{decide: func() (plan, error) {
		p := write(domain.ClientRef(info.ClientID), eventstore.AnyVersion, ev)
		p.revoke(rule)
		return p, nil
	}})
}

// signRules signs revocation rules with the realm's active ES256 key: a
// resource server checks them against the realm's JWKS and applies none
// that does not verify (realms/verifier).
func (rl *Realm) signRules(ctx context.Context, rules []domain.RevocationRule) ([]domain.SignedRule, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	kid, signer, err := rl.Keys().active(ctx, domain.AlgES256)
	if err != nil {
		return nil, err
	}
	subject := eventstore.RevocationsSubject(rl.Name)
	out := make([]domain.SignedRule, len(rules))
	for i, r := range rules {
		if out[i], err = domain.SignRule(subject, r, kid, signer, rand.Reader); err != nil {
			return nil, err
		}
	}
	return out, nil
}
