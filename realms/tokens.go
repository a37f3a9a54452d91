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

// Tokens are a realm's access tokens: issued to clients (client
// credentials; the code and refresh grants are in grants.go), looked up by
// their exact bytes, listed, revoked (revocation.go), their use recorded
// (usage.go). Issuance is a command whose decision requires the client at
// the version it authenticated: a client changed on another replica
// meanwhile (disabled, rotated, restricted) fails the write at the stream,
// and the request is decided again on fresh state. Each token.issued event
// is acknowledged before the token leaves; nothing waits for the read
// models.
type Tokens struct{ rl *Realm }

// Audience of an access token: the resource it was minted for (RFC 8707),
// or else the realm's issuer, so that a resource server of one realm never
// accepts another realm's token.
func (ts Tokens) Audience(info projections.TokenInfo) string {
	if info.Audience != "" {
		return info.Audience
	}
	return ts.rl.Issuer()
}

// ClientCredentials issues an access token to the client auth
// authenticates (RFC 6749 §4.4) for the requested scope (empty: all the
// client's default scopes; names without case where the realm's profile
// says so) and resource (RFC 8707; empty: the realm's own audience). For
// a resource, the scopes are those it accepts and the lifetime at most its
// cap, decided with the rest whenever the command decides. The token is
// handed out only after its token.issued event is acknowledged. meta
// names the client of auth as actor. jkt, when set, binds the token to the
// DPoP key the request proved (CheckProof); a client that says
// dpop_bound_access_tokens needs one.
func (ts Tokens) ClientCredentials(ctx context.Context, auth ClientAuth, scope, resource, jkt string, meta eventstore.Meta) (TokenSet, error) {
	rl := ts.rl
	auth, err := rl.Clients().Prepare(ctx, auth, meta)
	if err != nil {
		return TokenSet{}, err
	}
	scope = rl.state().Settings.ScopeParam(scope)
	var set TokenSet
	err = rl.execute(ctx, meta, command{issuance: true, decide: func() (plan, error) {
		client, err := rl.Clients().Authenticate(ctx, auth, meta.Time)
		if err != nil {
			return plan{}, err
		}
		if err := allows(client, domain.GrantClientCredentials); err != nil {
			return plan{}, err
		}
		if oerr := domain.DPoPRequired(client, jkt); oerr != nil {
			return plan{}, oerr
		}
		decision, oerr := domain.DecideClientCredentials(client, scope, rl.models.Nodes.Tree())
		if oerr != nil {
			return plan{}, oerr
		}
		req := TokenRequest{
			ClientID: client.ID, Subject: decision.Subject, Scope: decision.Scope,
			Nodes: decision.Nodes, Preset: decision.Preset, Lifetime: decision.Lifetime, JKT: jkt,
		}
		if err := rl.Resources().fit(ctx, &req, resource, strings.TrimSpace(scope) != ""); err != nil {
			return plan{}, err
		}
		now, err := holdPastRevocation(ctx, client.TokensRevokedBefore, meta.Time)
		if err != nil {
			return plan{}, err
		}
		issued, ev, err := ts.token(ctx, domain.GrantClientCredentials, req, now)
		if err != nil {
			return plan{}, err
		}
		set = TokenSet{Access: issued, Scope: req.Scope, ExpiresIn: req.Lifetime}
		p := write(domain.ClientRef(client.ID), eventstore.AnyVersion, ev)
		p.require(domain.ClientRef(client.ID), client.Version)
		p.at = now
		return p, nil
	}})
	if err != nil {
		return TokenSet{}, err
	}
	return set, nil
}

// allows refuses a grant type the client may not use.
func allows(client *domain.Client, grant string) error {
	if !client.Allows(grant) {
		return &domain.OAuthError{Code: domain.ErrUnauthorizedClient, Description: "client is not allowed the " + grant + " grant"}
	}
	return nil
}

// token signs an access token at now and returns the token.issued event
// that records it; the caller appends the event, and hands the token out
// only once the event is acknowledged.
func (ts Tokens) token(ctx context.Context, grantType string, req TokenRequest, now time.Time) (IssuedToken, domain.TokenIssued, error) {
	issued, err := ts.mint(ctx, req, now)
	if err != nil {
		return IssuedToken{}, domain.TokenIssued{}, err
	}
	return issued, domain.TokenIssued{
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
		Audience:  req.Audience,
		JKT:       req.JKT,
	}, nil
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

// Introspect finds a token of this realm by its exact bytes, in a model at
// most StaleBound behind the stream: a revocation or disable acknowledged
// on another replica longer ago than that shows. It reports false for
// anything this realm did not issue; an error (ErrUnavailable) when the
// model cannot be brought that close.
func (ts Tokens) Introspect(ctx context.Context, token string, now time.Time) (projections.TokenInfo, bool, error) {
	jti, iat, ok := unverifiedClaims(token)
	if !ok {
		return projections.TokenInfo{}, false, nil
	}
	if err := ts.rl.fresh.within(ctx, StaleBound); err != nil {
		return projections.TokenInfo{}, false, staleModels(err)
	}
	tokens := ts.rl.models.Tokens
	hash := domain.TokenHash(token)
	info, found := tokens.Lookup(jti, hash, now.Unix())
	if found || now.Unix()-iat >= int64(freshTokenWindow/time.Second) || iat > now.Unix()+1 {
		return info, found, nil
	}
	info, found = ts.lookupFresh(ctx, func() (projections.TokenInfo, bool) { return tokens.Lookup(jti, hash, now.Unix()) })
	return info, found, nil
}

// find finds a token by id, with the same read-your-writes fallback as
// Introspect.
func (ts Tokens) find(ctx context.Context, jti string, now time.Time) (projections.TokenInfo, bool) {
	tokens := ts.rl.models.Tokens
	if info, found := tokens.ByJTI(jti, now.Unix()); found {
		return info, true
	}
	return ts.lookupFresh(ctx, func() (projections.TokenInfo, bool) { return tokens.ByJTI(jti, now.Unix()) })
}

// lookupFresh retries a token lookup that missed: a token issued here has
// its event acknowledged but maybe not yet applied, so wait for that
// locally; one issued by another replica needs a catch-up with the stream.
func (ts Tokens) lookupFresh(ctx context.Context, lookup func() (projections.TokenInfo, bool)) (projections.TokenInfo, bool) {
	rl := ts.rl
	if acked := rl.reg.store.TokensAcked(rl.Name); acked > rl.runner.Applied() {
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

// List is the admin's view of the realm's tokens: grouped by client,
// filtered, a page of at most limit after the cursor, and the cursor of the
// next page (nil on the last).
func (ts Tokens) List(f projections.SessionFilter, after *projections.Cursor, limit int, now int64) ([]projections.TokenInfo, *projections.Cursor) {
	return ts.rl.models.Tokens.Sessions(f, after, limit, now)
}

// LiveAccess evaluates a user-delegated token's permissions now: scopes ∩
// client preset ∩ client team restrictions ∩ the user's current roles on
// the teams chosen at consent. false: the token is not a user's (a
// client's own, or its user is gone).
func (ts Tokens) LiveAccess(info projections.TokenInfo) ([]domain.NodeAccess, bool) {
	m := ts.rl.models
	user, ok := m.Users.Get(info.Subject)
	if !ok {
		return nil, false
	}
	client, _ := m.Clients.Get(info.ClientID)
	return domain.EffectiveAccess(user, client, info.Nodes, m.Nodes.Tree()), true
}
