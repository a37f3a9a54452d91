package realms

import (
	"context"
	"encoding/base64"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
)

// freshTokenWindow: a token unknown to this replica but issued this
// recently may have been issued by another replica whose event this one
// has not applied yet; such a lookup catches up with the stream once.
const freshTokenWindow = 10 * time.Second

// unverifiedClaims reads jti and iat from a JWT's payload without checking
// its signature; Introspect then requires the token's hash to match the one
// recorded at issuance. The payload is decoded with JSON v2 semantics:
// exact-case names and no duplicates, so a payload whose "jti" could be
// read two ways is not read at all.
func unverifiedClaims(token string) (jti string, iat int64, ok bool) {
	_, rest, found := strings.Cut(token, ".")
	payload, _, found2 := strings.Cut(rest, ".")
	if !found || !found2 || len(payload) > 8192 {
		return "", 0, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", 0, false
	}
	var c struct {
		JTI string `json:"jti"`
		IAT int64  `json:"iat"`
	}
	if json.Unmarshal(raw, &c) != nil || c.JTI == "" {
		return "", 0, false
	}
	return c.JTI, c.IAT, true
}

// Introspect finds a token of this realm by its exact bytes. It reports
// false for anything this realm did not issue.
func (rl *Realm) Introspect(ctx context.Context, token string, now time.Time) (projections.TokenInfo, bool) {
	jti, iat, ok := unverifiedClaims(token)
	if !ok {
		return projections.TokenInfo{}, false
	}
	hash := domain.TokenHash(token)
	info, found := rl.Tokens.Lookup(jti, hash, now.Unix())
	if found || now.Unix()-iat >= int64(freshTokenWindow/time.Second) || iat > now.Unix()+1 {
		return info, found
	}
	return rl.lookupFresh(ctx, func() (projections.TokenInfo, bool) { return rl.Tokens.Lookup(jti, hash, now.Unix()) })
}

// FindToken finds a token by id for an administrator, with the same
// read-your-writes fallback as Introspect.
func (rl *Realm) FindToken(ctx context.Context, jti string, now time.Time) (projections.TokenInfo, bool) {
	if info, found := rl.Tokens.ByJTI(jti, now.Unix()); found {
		return info, true
	}
	return rl.lookupFresh(ctx, func() (projections.TokenInfo, bool) { return rl.Tokens.ByJTI(jti, now.Unix()) })
}

// lookupFresh retries a token lookup that missed: a token issued here has
// its event acknowledged but maybe not yet applied, so wait for that
// locally; one issued by another replica needs a catch-up with the stream.
func (rl *Realm) lookupFresh(ctx context.Context, lookup func() (projections.TokenInfo, bool)) (projections.TokenInfo, bool) {
	if acked := rl.reg.store.TokensAcked(rl.Name); acked > rl.Applied() {
		waitCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := rl.WaitFor(waitCtx, acked)
		cancel()
		if err == nil {
			if info, found := lookup(); found {
				return info, true
			}
		}
	}
	if rl.catchUp(ctx) != nil {
		return projections.TokenInfo{}, false
	}
	return lookup()
}

// catchUp waits until the read models have applied everything the stream
// holds now.
func (rl *Realm) catchUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return rl.runner.CaughtUp(ctx, rl.reg.store)
}

// RevokeToken revokes one token. caller is the client asking (RFC 7009: only
// the token's own client may; another's is *domain.OAuthError
// unauthorized_client), or empty for an administrator. It returns once this
// replica's read models show the token revoked.
func (rl *Realm) RevokeToken(ctx context.Context, info projections.TokenInfo, caller, reason string, meta eventstore.Meta) error {
	ev, rule, oerr := domain.RevokeToken(info.ClientID, caller, info.JTI, info.Expires, reason)
	if oerr != nil {
		return oerr
	}
	if info.Status == domain.StatusRevoked {
		return nil // revoking twice changes nothing
	}
	return rl.execute(ctx, meta, command{decide: func() (plan, error) {
		p := write(domain.ClientRef(info.ClientID), eventstore.AnyVersion, ev)
		p.revoke(rule)
		return p, nil
	}})
}

// RevokeClientTokens revokes every token a client holds, with one event and
// one rule however many tokens that is.
func (rl *Realm) RevokeClientTokens(ctx context.Context, clientID, reason string, meta eventstore.Meta) error {
	return rl.execute(ctx, meta, command{decide: func() (plan, error) {
		c, err := rl.clientAt(clientID, Condition{})
		if err != nil {
			return plan{}, err
		}
		ev, rule := domain.RevokeClientTokens(c, meta.Time, reason)
		p := write(domain.ClientRef(clientID), eventstore.AnyVersion, ev)
		p.revoke(rule)
		return p, nil
	}})
}
