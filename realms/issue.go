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

// HoldPastRevocation returns the time to issue a token at. A revoke-all
// covers tokens issued before the next whole second (iat has one-second
// precision); a token issued in that same second waits for the cut-off, so
// downstream services never see it as revoked.
func HoldPastRevocation(ctx context.Context, cutoff int64, now time.Time) (time.Time, error) {
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
