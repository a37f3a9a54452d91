package realms

import (
	"context"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
)

// A user's own access ("My access" in the console): the apps holding
// tokens for them, which they may revoke. Revoking an app's access ends
// it: the refresh tokens too, so that the app must send the user through
// sign-in again.

// Access is what one user has granted.
type Access struct {
	rl     *Realm
	userID string
}

// Access is the access user has granted in this realm.
func (rl *Realm) Access(userID string) Access { return Access{rl: rl, userID: userID} }

// Tokens lists the user's tokens, grouped by client, at most limit after
// the cursor.
func (ac Access) Tokens(after *projections.Cursor, limit int, now int64) ([]projections.TokenInfo, *projections.Cursor) {
	return ac.rl.Tokens().List(projections.SessionFilter{Subject: ac.userID}, after, limit, now)
}

// RevokeToken revokes one of the user's tokens and the grant it was issued
// under, if any (its refresh token and every access token). A token that
// is not the user's is a not-found error.
func (ac Access) RevokeToken(ctx context.Context, jti string, meta eventstore.Meta) error {
	rl := ac.rl
	info, ok := rl.Tokens().find(ctx, jti, meta.Time)
	if !ok || info.Subject != ac.userID {
		return domain.NotFound("token " + jti)
	}
	if grant, ok := rl.models.Authz.TokenGrant(jti); ok {
		if err := rl.Grants().Revoke(ctx, grant, "revoked by the user", meta); err != nil {
			return err
		}
	}
	return rl.Tokens().revoke(ctx, info, "", "revoked by the user", meta)
}

// RevokeApp revokes everything a client holds for the user: every grant of
// theirs with it and every access token it still holds for them. It
// returns how many tokens and grants it revoked.
func (ac Access) RevokeApp(ctx context.Context, clientID, reason string, meta eventstore.Meta) (int, error) {
	rl := ac.rl
	n := 0
	for _, grant := range rl.models.Authz.UserGrants(ac.userID, clientID) {
		if err := rl.Grants().Revoke(ctx, grant, reason, meta); err != nil {
			return n, err
		}
		n++
	}
	var after *projections.Cursor
	for {
		page, next := rl.Tokens().List(projections.SessionFilter{ClientID: clientID, Subject: ac.userID, Status: domain.StatusActive}, after, 500, meta.Time.Unix())
		for _, info := range page {
			if err := rl.Tokens().revoke(ctx, info, "", reason, meta); err != nil {
				return n, err
			}
			n++
		}
		if next == nil {
			return n, nil
		}
		after = next
	}
}
