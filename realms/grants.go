package realms

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
)

// Grants are a realm's authorization requests in flight (sealed in the
// browser, pending.go), the codes issued for them, and the refresh grants
// codes are exchanged for.
type Grants struct{ rl *Realm }

// ErrFlowCompleted: the authorization request already has its code (an
// answer to it sent twice, or sent again).
var ErrFlowCompleted = errors.New("the authorization request already has its code")

// FlowCompleted reports whether the authorization request flowID already
// has its code.
func (gs Grants) FlowCompleted(flowID string) bool { return gs.rl.models.Authz.FlowCompleted(flowID) }

// TokenSet is what a token request returns.
type TokenSet struct {
	Access    IssuedToken
	Refresh   string // empty when the client has refresh tokens off
	IDToken   string // when the grant has scope openid
	Scope     string
	ExpiresIn int64
}

func invalidGrant(desc string) *domain.OAuthError {
	return &domain.OAuthError{Code: domain.ErrInvalidGrant, Description: desc}
}

// splitCredential reads "<id>.<secret>" codes, cookies and refresh tokens.
func splitCredential(s string) (string, bool) {
	id, secret, ok := strings.Cut(s, ".")
	return id, ok && secret != "" && domain.IsValidName(id)
}

// newCredential makes "<uuid>.<256 random bits>".
func newCredential() (id, credential string, err error) {
	secret, err := NewSecret()
	if err != nil {
		return "", "", err
	}
	id = uuid.NewString()
	return id, id + "." + secret, nil
}

func hashesMatch(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// flowCodes names the code of an authorization request after its flow.
var flowCodes = uuid.MustParse("6f1c2f0e-5a8b-4d3e-9c47-2b1d8e0a7f13")

// IssueCode records an authorization code for a consented request and
// returns it. Only its hash enters the history. The code of a request
// (its FlowID) has an id derived from the flow, appended as a new
// aggregate: of simultaneous answers to one request, exactly one gets a
// code and the others ErrFlowCompleted.
func (gs Grants) IssueCode(ctx context.Context, c domain.CodeIssued, meta eventstore.Meta) (string, error) {
	rl := gs.rl
	id, code, err := newCredential()
	if err != nil {
		return "", err
	}
	if c.FlowID != "" {
		_, secret, _ := strings.Cut(code, ".")
		id = uuid.NewSHA1(flowCodes, []byte(rl.Name+"/"+c.FlowID)).String()
		code = id + "." + secret
	}
	c.CodeHash = domain.HashSecret(code)
	c.ExpiresAt = meta.Time.Unix() + domain.CodeLifetime
	err = rl.execute(ctx, meta, command{lostRace: ErrFlowCompleted, decide: func() (plan, error) {
		return write(domain.CodeRef(id), 0, c), nil
	}})
	if err != nil {
		return "", err
	}
	return code, nil
}

// findCode looks a code up, catching up once with the stream if this
// replica has not seen it yet (it may come from another replica).
func (gs Grants) findCode(ctx context.Context, id string) (*domain.Code, bool) {
	if c, ok := gs.rl.models.Authz.Code(id); ok {
		return c, true
	}
	if gs.rl.catchUp(ctx) != nil {
		return nil, false
	}
	return gs.rl.models.Authz.Code(id)
}

// RedeemCode exchanges an authorization code (RFC 6749 §4.1.3, RFC 7636).
// A code works once: a second redemption is invalid_grant and revokes
// every token issued from the code.
func (gs Grants) RedeemCode(ctx context.Context, client *domain.Client, code, redirectURI, verifier string, meta eventstore.Meta) (TokenSet, error) {
	rl := gs.rl
	now := meta.Time
	id, ok := splitCredential(code)
	if !ok {
		return TokenSet{}, invalidGrant("unknown authorization code")
	}
	c, found := gs.findCode(ctx, id)
	if !found || !hashesMatch(c.CodeHash, domain.HashSecret(code)) || now.Unix() >= c.ExpiresAt {
		return TokenSet{}, invalidGrant("unknown or expired authorization code")
	}
	if c.ClientID != client.ID {
		return TokenSet{}, invalidGrant("the code was issued to another client")
	}
	if c.Version < client.CutoffSeq {
		return TokenSet{}, invalidGrant("the client's tokens were revoked after this code was issued")
	}
	if c.Redeemed {
		gs.revokeAfterReuse(ctx, c.GrantID, "authorization code reused", meta)
		return TokenSet{}, invalidGrant("the authorization code was already used; its tokens are revoked")
	}
	switch {
	case c.RedirectURI != redirectURI:
		return TokenSet{}, invalidGrant("redirect_uri does not match the authorization request")
	case c.Challenge != "" && !domain.PKCEMatches(c.Challenge, verifier):
		return TokenSet{}, invalidGrant("code_verifier does not match the code_challenge")
	case c.Challenge == "" && verifier != "":
		return TokenSet{}, invalidGrant("code_verifier sent for a code issued without a challenge")
	}
	user, ok := rl.models.Users.Get(c.UserID)
	if !ok || !user.Active() || c.Version < user.CutoffSeq {
		return TokenSet{}, invalidGrant("the user is no longer active")
	}
	// A scope the client lost since the code was issued is not granted.
	scope := domain.KeepAllowed(c.Scope, client.AllScopes())
	grantID := uuid.NewString()
	grant := domain.GrantCreated{
		GrantID: grantID, CodeID: id, ClientID: client.ID, UserID: user.ID, Scope: scope,
		Teams: c.Teams, SessionID: c.SessionID, AuthTime: c.AuthTime,
	}
	var refresh string
	if client.IssueRefreshTokens {
		refresh = grantID + "." + mustSecret()
		grant.RefreshHash = domain.HashSecret(refresh)
		grant.RefreshExpires = now.Unix() + client.RefreshTokenLifetime
	}
	// Of simultaneous redemptions exactly one succeeds; the others lose
	// the race at the code's version and are refused. (A redemption of a
	// code already spent, above, revokes its tokens.)
	err := rl.execute(ctx, meta, command{lostRace: invalidGrant("the authorization code was already used"), decide: func() (plan, error) {
		p := write(domain.CodeRef(id), c.Version, domain.CodeRedeemed{GrantID: grantID})
		p.add(domain.GrantRef(grantID), 0, grant)
		return p, nil
	}})
	if err != nil {
		return TokenSet{}, err
	}
	set, err := gs.issue(ctx, client, user, grantID, scope, c.Teams, c.Nonce, c.SessionID, c.AuthTime, domain.GrantAuthorizationCode, meta)
	set.Refresh = refresh
	return set, err
}

// Refresh exchanges a refresh token (RFC 6749 §6), rotating it: the
// presented token is invalid from now on. Presenting a rotated-out token
// again revokes the whole family.
func (gs Grants) Refresh(ctx context.Context, client *domain.Client, token, scope string, meta eventstore.Meta) (TokenSet, error) {
	rl := gs.rl
	if !client.Allows(domain.GrantRefreshToken) {
		return TokenSet{}, &domain.OAuthError{Code: domain.ErrUnauthorizedClient, Description: "refresh tokens are off for this client"}
	}
	grantID, ok := splitCredential(token)
	if !ok {
		return TokenSet{}, invalidGrant("unknown refresh token")
	}
	g, _ := rl.models.Authz.Grant(grantID)
	if g == nil && rl.catchUp(ctx) == nil {
		g, _ = rl.models.Authz.Grant(grantID)
	}
	cutoffSeq := client.CutoffSeq
	if g != nil {
		if u, ok := rl.models.Users.Get(g.UserID); ok {
			cutoffSeq = max(cutoffSeq, u.CutoffSeq)
		}
	}
	switch domain.CheckRefresh(g, client.ID, domain.HashSecret(token), client.RefreshReuseGrace, cutoffSeq, meta.Time) {
	case domain.RefreshRejected:
		return TokenSet{}, invalidGrant("unknown, expired or revoked refresh token")
	case domain.RefreshReuse:
		gs.revokeAfterReuse(ctx, g.GrantID, "refresh token reused", meta)
		return TokenSet{}, invalidGrant("the refresh token was already used; the whole grant is revoked")
	case domain.RefreshRaced:
		return TokenSet{}, invalidGrant("the refresh token was used by a concurrent request")
	}
	// A narrower scope applies to this access token only: the grant, and
	// so the new refresh token, keep the scope the user granted (RFC 6749
	// §6), less any scope the client has lost since.
	newScope, oerr := domain.NarrowScope(domain.KeepAllowed(g.Scope, client.AllScopes()), scope)
	if oerr != nil {
		return TokenSet{}, oerr
	}
	user, ok := rl.models.Users.Get(g.UserID)
	if !ok || !user.Active() {
		return TokenSet{}, invalidGrant("the user is no longer active")
	}
	refresh := grantID + "." + mustSecret()
	// The rotation is stamped when it is written, by the realm's clock, not
	// when this request began: a concurrent request that began before it
	// is then told apart from a later reuse (domain.CheckRefresh).
	rotated := meta
	rotated.Time = rl.reg.now()
	err := rl.execute(ctx, rotated, command{lostRace: invalidGrant("the refresh token was used by a concurrent request"), decide: func() (plan, error) {
		return write(domain.GrantRef(grantID), g.Version, domain.GrantRefreshed{
			RefreshHash: domain.HashSecret(refresh), RefreshExpires: meta.Time.Unix() + client.RefreshTokenLifetime, Scope: g.Scope,
		}), nil
	}})
	if err != nil {
		return TokenSet{}, err
	}
	set, err := gs.issue(ctx, client, user, grantID, newScope, g.Teams, "", g.SessionID, g.AuthTime, domain.GrantRefreshToken, meta)
	set.Refresh = refresh
	return set, err
}

// issue issues the access token (and ID token for openid) of a grant;
// user-delegated tokens carry the user as subject.
func (gs Grants) issue(ctx context.Context, client *domain.Client, user *domain.User, grantID, scope string, teams []string,
	nonce, sid string, authTime int64, grantType string, meta eventstore.Meta) (TokenSet, error) {
	rl := gs.rl
	now, err := holdPastRevocation(ctx, max(client.TokensRevokedBefore, user.TokensRevokedBefore), meta.Time)
	if err != nil {
		return TokenSet{}, err
	}
	meta.Time = now
	meta.OnBehalfOf = user.ID
	// The teams chosen at consent, less those the user or the client can
	// no longer reach: a refresh after a membership change must not put a
	// lost team back into a token read without asking.
	live := domain.EffectiveAccess(user, client, teams, rl.models.Nodes.Tree())
	access, err := rl.Tokens().issue(ctx, domain.GrantRef(grantID), grantType, TokenRequest{
		ClientID: client.ID, Subject: user.ID, Scope: scope, Nodes: domain.AccessNodes(live),
		Preset: domain.DelegatedPreset(live), Lifetime: client.AccessTokenLifetime,
	}, meta)
	if err != nil {
		return TokenSet{}, err
	}
	if g, ok := rl.models.Authz.Grant(grantID); ok && g.Revoked {
		// The grant was revoked while this token was being issued (a reuse
		// detected by a concurrent request): the token must not escape the
		// revocation. The answer still goes out, as with any token revoked
		// right after it was issued.
		info := projections.TokenInfo{JTI: access.Claims.ID, ClientID: client.ID, Expires: access.Claims.ExpiresAt.Unix()}
		if err := rl.Tokens().revoke(ctx, info, "", "grant revoked", meta); err != nil {
			return TokenSet{}, err
		}
	}
	set := TokenSet{Access: access, Scope: scope, ExpiresIn: client.AccessTokenLifetime}
	if domain.HasScope(scope, domain.ScopeOpenID) {
		set.IDToken, err = rl.Tokens().mintID(ctx, client, user, IDTokenContext{
			Nonce: nonce, AuthTime: authTime, SessionID: sid, AccessToken: access.Token, Scope: scope,
		}, now)
	}
	return set, err
}

// RevokeGrant revokes a refresh family: its refresh token and every access
// token issued under it, with a rule per access token for downstream. The
// write expects the grant's version, so that of concurrent revocations
// (several reuses of one code at once) one writes and the others, seeing
// the grant revoked when they decide again, write nothing. A grant that
// keeps changing (refreshed meanwhile) is revoked at any version on the
// last attempt: a duplicate revocation is harmless, a missing one is not.
func (gs Grants) Revoke(ctx context.Context, grantID, reason string, meta eventstore.Meta) error {
	authz := gs.rl.models.Authz
	return gs.rl.execute(ctx, meta, command{unconditionalLast: true, decide: func() (plan, error) {
		g, ok := authz.Grant(grantID)
		if !ok || g.Revoked {
			return plan{}, nil
		}
		jtis := authz.GrantTokens(grantID, meta.Time.Unix())
		p := write(domain.GrantRef(grantID), g.Version, domain.GrantRevoked{Reason: reason, JTIs: jtis})
		for _, jti := range jtis {
			p.revoke(domain.RevocationRule{JTI: jti, ForgetAfter: meta.Time.Unix() + domain.MaxAccessTokenLifetime})
		}
		return p, nil
	}})
}

// revokeAfterReuse revokes the grant of a credential presented again. The
// request is refused whatever happens here; a revocation that could not be
// written is logged, with the request's id.
func (gs Grants) revokeAfterReuse(ctx context.Context, grantID, reason string, meta eventstore.Meta) {
	rl := gs.rl
	if err := gs.Revoke(ctx, grantID, reason, meta); err != nil {
		rl.reg.log.Error("revoking a grant after a reused credential failed", "realm", rl.Name, "grant", grantID,
			"request_id", meta.RequestID, "err", err)
	}
}

func mustSecret() string {
	s, err := NewSecret()
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return s
}

// byRefreshToken finds the grant a refresh token (current, or rotated out)
// belongs to: revoking a refresh token revokes its grant. The caller checks
// whose grant it is.
func (gs Grants) byRefreshToken(token string) (*domain.Grant, bool) {
	grantID, ok := splitCredential(token)
	if !ok {
		return nil, false
	}
	g, ok := gs.rl.models.Authz.Grant(grantID)
	if !ok {
		return nil, false
	}
	hash := domain.HashSecret(token)
	if hashesMatch(g.RefreshHash, hash) {
		return g, true
	}
	for _, r := range g.Rotated {
		if hashesMatch(r.Hash, hash) {
			return g, true
		}
	}
	return nil, false
}
