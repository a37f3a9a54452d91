package realms

import (
	"context"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// IssueAccessToken signs an access token and records it: it is handed out
// only after its token.issued event is acknowledged. It does not wait for
// the read models: a lookup that misses a fresh token waits for them then
// (see Introspect), which keeps that wait off the issuance path. The event
// goes under agg: the client for client credentials, the grant for
// user-delegated tokens.
func (rl *Realm) IssueAccessToken(ctx context.Context, agg domain.AggregateRef, grantType string, req TokenRequest, meta eventstore.Meta) (IssuedToken, error) {
	issued, err := rl.MintAccessToken(ctx, req, meta.Time)
	if err != nil {
		return IssuedToken{}, err
	}
	_, err = rl.reg.store.AppendToken(ctx, rl.Name, agg, meta, domain.TokenIssued{
		JTI:       issued.Claims.ID,
		Hash:      domain.TokenHash(issued.Token),
		Subject:   req.Subject,
		Scope:     req.Scope,
		GrantType: grantType,
		Kid:       issued.Kid,
		Nodes:     req.Nodes,
		Preset:    req.Preset,
		IssuedAt:  issued.Claims.IssuedAt.Unix(),
		ExpiresAt: issued.Claims.ExpiresAt.Unix(),
	})
	if err != nil {
		return IssuedToken{}, err
	}
	return issued, nil
}

// ClientCredentials issues an access token to an authenticated client
// (RFC 6749 §4.4) for the requested scope (empty: all the client's). The
// token is handed out only after its token.issued event is acknowledged.
func (rl *Realm) ClientCredentials(ctx context.Context, client *domain.Client, scope string, meta eventstore.Meta) (TokenSet, error) {
	decision, oerr := domain.DecideClientCredentials(client, scope, rl.Nodes.Tree())
	if oerr != nil {
		return TokenSet{}, oerr
	}
	now, err := holdPastRevocation(ctx, client.TokensRevokedBefore, meta.Time)
	if err != nil {
		return TokenSet{}, err
	}
	meta.Time = now
	issued, err := rl.IssueAccessToken(ctx, domain.ClientRef(client.ID), domain.GrantClientCredentials, TokenRequest{
		ClientID: client.ID, Subject: decision.Subject, Scope: decision.Scope,
		Nodes: decision.Nodes, Preset: decision.Preset, Lifetime: decision.Lifetime,
	}, meta)
	if err != nil {
		return TokenSet{}, err
	}
	return TokenSet{Access: issued, Scope: decision.Scope, ExpiresIn: decision.Lifetime}, nil
}

// holdPastRevocation returns the time to issue a token at. A revoke-all
// covers tokens issued before the next whole second (iat has one-second
// precision); a token issued in that same second waits for the cut-off, so
// downstream services never see it as revoked.
func holdPastRevocation(ctx context.Context, cutoff int64, now time.Time) (time.Time, error) {
	at := time.Unix(cutoff, 0)
	if !now.Before(at) {
		return now, nil
	}
	t := time.NewTimer(at.Sub(now))
	defer t.Stop()
	select {
	case <-t.C:
		return at, nil
	case <-ctx.Done():
		return now, ctx.Err()
	}
}
