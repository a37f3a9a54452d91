package realms

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
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

// RedeemCode exchanges an authorization code (RFC 6749 §4.1.3, RFC 7636)
// for the client auth authenticates. A code works once: a second
// redemption is invalid_grant and revokes every token issued from the
// code. The write requires the client and the user at the versions the
// decision read, so a client or user disabled on another replica meanwhile
// is never given a grant; meta names the client of auth as actor.
//
// A code authorized for resources (RFC 8707) mints a token for one of
// them: the one the request names, or the only one. jkt is the DPoP key
// the request proved (CheckProof), or "": the tokens are bound to it, and
// a code bound at authorization (dpop_jkt) needs it.
func (gs Grants) RedeemCode(ctx context.Context, auth ClientAuth, code, redirectURI, verifier, resource, jkt string, meta eventstore.Meta) (TokenSet, error) {
	rl := gs.rl
	now := meta.Time
	auth, err := rl.Clients().Prepare(ctx, auth, meta)
	if err != nil {
		return TokenSet{}, err
	}
	var set TokenSet
	var redeemed struct {
		client *domain.Client
		user   *domain.User
		c      *domain.Code
	}
	first := true
	err = rl.execute(ctx, meta, command{decide: func() (plan, error) {
		set = TokenSet{}
		client, err := rl.Clients().Authenticate(ctx, auth, now)
		if err != nil {
			return plan{}, err
		}
		if err := allows(client, domain.GrantAuthorizationCode); err != nil {
			return plan{}, err
		}
		if oerr := domain.DPoPRequired(client, jkt); oerr != nil {
			return plan{}, oerr
		}
		if code == "" {
			return plan{}, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "code is required"}
		}
		id, ok := splitCredential(code)
		if !ok {
			return plan{}, invalidGrant("unknown authorization code")
		}
		c, found := gs.findCode(ctx, id)
		if !found || !hashesMatch(c.CodeHash, domain.HashSecret(code)) || now.Unix() >= c.ExpiresAt {
			return plan{}, invalidGrant("unknown or expired authorization code")
		}
		if c.ClientID != client.ID {
			return plan{}, invalidGrant("the code was issued to another client")
		}
		if c.Version < client.CutoffSeq {
			return plan{}, invalidGrant("the client's tokens were revoked after this code was issued")
		}
		if c.Redeemed {
			if !first {
				// Redeemed by a concurrent request while this one decided.
				return plan{}, invalidGrant("the authorization code was already used")
			}
			gs.revokeAfterReuse(ctx, c.GrantID, "authorization code reused", meta)
			return plan{}, invalidGrant("the authorization code was already used; its tokens are revoked")
		}
		if c.Invalidated {
			return plan{}, invalidGrant("the authorization code was spent by a failed redemption")
		}
		if problem := codeBindingProblem(c, redirectURI, verifier, jkt); problem != "" {
			if first {
				gs.invalidateCode(ctx, c, problem, meta)
			}
			return plan{}, invalidGrant(problem)
		}
		first = false
		user, ok := rl.models.Users.Get(c.UserID)
		if !ok || !user.Active() || c.Version < user.CutoffSeq {
			return plan{}, invalidGrant("the user is no longer active")
		}
		// A scope the client lost since the code was issued is not granted,
		// nor a team whose slug names another node since.
		scope := domain.KeepAllowed(c.Scope, client.AllScopes())
		teams := rl.models.Nodes.Tree().Reaches(c.Teams, c.Version)
		grantID := uuid.NewString()
		aud, oerr := domain.PickAudience(c.Resources, resource)
		if oerr != nil {
			return plan{}, oerr
		}
		grant := domain.GrantCreated{
			GrantID: grantID, CodeID: id, ClientID: client.ID, UserID: user.ID, Scope: scope,
			Teams: teams, SessionID: c.SessionID, AuthTime: c.AuthTime, Resources: c.Resources,
		}
		set.Refresh = gs.refreshOf(&grant, client, jkt, now)
		at, access, err := gs.access(ctx, client, user, grantID, scope, teams, aud, false, domain.GrantAuthorizationCode, jkt, now)
		if err != nil {
			return plan{}, err
		}
		set.Access, set.Scope, set.ExpiresIn = access.token, access.request.Scope, access.request.Lifetime
		redeemed.client, redeemed.user, redeemed.c = client, user, c
		// Of simultaneous redemptions exactly one succeeds; the others fail
		// at the code's version and, deciding again, find it redeemed.
		p := write(domain.CodeRef(id), c.Version, domain.CodeRedeemed{GrantID: grantID})
		p.add(domain.GrantRef(grantID), eventstore.AnyVersion, grant) // a new id: nothing to check
		p.add(domain.GrantRef(grantID), eventstore.AnyVersion, access.event)
		p.require(domain.ClientRef(client.ID), client.Version)
		p.require(domain.UserRef(user.ID), user.Version)
		p.at, p.onBehalfOf = at, user.ID
		return p, nil
	}})
	if err != nil {
		return TokenSet{}, err
	}
	c := redeemed.c
	return gs.withIDToken(ctx, set, redeemed.client, redeemed.user, c.Nonce, c.SessionID, c.AuthTime)
}

// refreshOf gives a new grant its refresh token when the client has them
// on: only its hash is recorded, and a public client's is bound to the
// DPoP key it was issued with (RFC 9449 §5). It returns the token, or "".
func (gs Grants) refreshOf(g *domain.GrantCreated, client *domain.Client, jkt string, now time.Time) string {
	if !client.IssueRefreshTokens {
		return ""
	}
	token := g.GrantID + "." + mustSecret()
	g.RefreshHash = domain.HashSecret(token)
	g.RefreshExpires = now.Unix() + client.RefreshTokenLifetime
	if client.Type == domain.ClientPublic {
		g.JKT = jkt
	}
	return token
}

// codeBindingProblem checks what binds a code to its authorization
// request: the redirect URI, the PKCE verifier and the DPoP key named at
// authorization (dpop_jkt).
func codeBindingProblem(c *domain.Code, redirectURI, verifier, jkt string) string {
	if problem := domain.DPoPBindingProblem(c.DPoPJKT, jkt); problem != "" {
		return problem
	}
	switch {
	case c.RedirectURI != redirectURI:
		return "redirect_uri does not match the authorization request"
	case c.Challenge != "" && !domain.PKCEMatches(c.Challenge, verifier):
		return "code_verifier does not match the code_challenge"
	case c.Challenge == "" && verifier != "":
		return "code_verifier sent for a code issued without a challenge"
	}
	return ""
}

// invalidateCode spends a code whose redemption failed on its binding: who
// presented it without the right verifier or redirect URI may have stolen
// it, so the code must not work for anyone after. Written at the code's
// version; a code redeemed or invalidated meanwhile needs nothing more. The
// request is refused whatever happens here; a failure is logged.
func (gs Grants) invalidateCode(ctx context.Context, c *domain.Code, reason string, meta eventstore.Meta) {
	rl := gs.rl
	err := rl.execute(ctx, meta, command{lostRace: errCodeMoved, decide: func() (plan, error) {
		return write(domain.CodeRef(c.ID), c.Version, domain.CodeInvalidated{Reason: reason}), nil
	}})
	if err != nil && !errors.Is(err, errCodeMoved) {
		rl.reg.log.Error("invalidating a code after a failed redemption failed", "realm", rl.Name, "code", c.ID,
			"request_id", meta.RequestID, "err", err)
	}
}

// errCodeMoved: the code changed while it was being invalidated (redeemed
// or invalidated by another request).
var errCodeMoved = errors.New("the code changed meanwhile")

// Refresh exchanges a refresh token (RFC 6749 §6) for the client auth
// authenticates, rotating it: the presented token is invalid from now on.
// Presenting a rotated-out token again revokes the whole family. The write
// is at the grant's version and requires the client and the user at the
// versions the decision read: a grant revoked, or a client or user
// disabled, on another replica meanwhile is never refreshed.
//
// A grant authorized for resources mints each token for one of them
// (resource narrows to one; it never widens to another). jkt is the DPoP
// key the request proved, or "": the new access token is bound to it, and
// a public client's grant bound to a key needs that key.
func (gs Grants) Refresh(ctx context.Context, auth ClientAuth, token, scope, resource, jkt string, meta eventstore.Meta) (TokenSet, error) {
	rl := gs.rl
	auth, err := rl.Clients().Prepare(ctx, auth, meta)
	if err != nil {
		return TokenSet{}, err
	}
	var set TokenSet
	var refreshed struct {
		client *domain.Client
		user   *domain.User
		g      *domain.Grant
	}
	first := true
	err = rl.execute(ctx, meta, command{decide: func() (plan, error) {
		set = TokenSet{}
		client, err := rl.Clients().Authenticate(ctx, auth, meta.Time)
		if err != nil {
			return plan{}, err
		}
		if !client.Allows(domain.GrantRefreshToken) {
			return plan{}, &domain.OAuthError{Code: domain.ErrUnauthorizedClient, Description: "refresh tokens are off for this client"}
		}
		if oerr := domain.DPoPRequired(client, jkt); oerr != nil {
			return plan{}, oerr
		}
		if token == "" {
			return plan{}, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "refresh_token is required"}
		}
		grantID, ok := splitCredential(token)
		if !ok {
			return plan{}, invalidGrant("unknown refresh token")
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
			return plan{}, invalidGrant("unknown, expired or revoked refresh token")
		case domain.RefreshReuse:
			if !first {
				return plan{}, invalidGrant("the refresh token was used by a concurrent request")
			}
			gs.revokeAfterReuse(ctx, g.GrantID, "refresh token reused", meta)
			return plan{}, invalidGrant("the refresh token was already used; the whole grant is revoked")
		case domain.RefreshRaced:
			return plan{}, invalidGrant("the refresh token was used by a concurrent request")
		}
		if problem := domain.DPoPBindingProblem(g.JKT, jkt); problem != "" {
			return plan{}, invalidGrant(problem)
		}
		first = false
		// A narrower scope applies to this access token only: the grant, and
		// so the new refresh token, keep the scope the user granted (RFC 6749
		// §6), less any scope the client has lost since.
		newScope, oerr := domain.NarrowScope(domain.KeepAllowed(g.Scope, client.AllScopes()), scope)
		if oerr != nil {
			return plan{}, oerr
		}
		user, ok := rl.models.Users.Get(g.UserID)
		if !ok || !user.Active() {
			return plan{}, invalidGrant("the user is no longer active")
		}
		aud, oerr := domain.PickAudience(g.Resources, resource)
		if oerr != nil {
			return plan{}, oerr
		}
		// The rotation is stamped when it is written, by the realm's clock,
		// not when this request began: a concurrent request that began
		// before it is then told apart from a later reuse
		// (domain.CheckRefresh).
		teams := rl.models.Nodes.Tree().Reaches(g.Teams, g.Created)
		explicit := strings.TrimSpace(scope) != ""
		at, access, err := gs.access(ctx, client, user, grantID, newScope, teams, aud, explicit, domain.GrantRefreshToken, jkt, rl.reg.now())
		if err != nil {
			return plan{}, err
		}
		set.Refresh = grantID + "." + mustSecret()
		set.Access, set.Scope, set.ExpiresIn = access.token, access.request.Scope, access.request.Lifetime
		refreshed.client, refreshed.user, refreshed.g = client, user, g
		p := write(domain.GrantRef(grantID), g.Version, domain.GrantRefreshed{
			RefreshHash: domain.HashSecret(set.Refresh), RefreshExpires: meta.Time.Unix() + client.RefreshTokenLifetime, Scope: g.Scope,
		})
		p.add(domain.GrantRef(grantID), eventstore.AnyVersion, access.event)
		p.require(domain.ClientRef(client.ID), client.Version)
		p.require(domain.UserRef(user.ID), user.Version)
		p.at, p.onBehalfOf = at, user.ID
		return p, nil
	}})
	if err != nil {
		return TokenSet{}, err
	}
	return gs.withIDToken(ctx, set, refreshed.client, refreshed.user, "", refreshed.g.SessionID, refreshed.g.AuthTime)
}

// grantAccess is a user-delegated access token, what it was minted from,
// and its event.
type grantAccess struct {
	token   IssuedToken
	request TokenRequest
	event   domain.TokenIssued
}

// access signs the access token of a grant, as of now or, when a
// revocation of the client's or user's tokens covers now, of its cut-off;
// it returns that time. User-delegated tokens carry the user as subject
// and the teams chosen at consent that the user and the client can still
// reach: a refresh after a membership change must not put a lost team back
// into a token read without asking. For a resource (RFC 8707; "" for the
// realm), the token is its: the scopes it accepts (explicit: a scope the
// request named that it does not accept is invalid_scope) and a lifetime
// at most its cap (Resources.fit).
func (gs Grants) access(ctx context.Context, client *domain.Client, user *domain.User, grantID, scope string, teams []string,
	resource string, explicit bool, grantType, jkt string, now time.Time) (time.Time, grantAccess, error) {
	rl := gs.rl
	live := domain.EffectiveAccess(user, client, teams, rl.models.Nodes.Tree())
	req := TokenRequest{
		ClientID: client.ID, Subject: user.ID, Scope: scope, Nodes: domain.AccessNodes(live),
		Preset: domain.DelegatedPreset(live), Lifetime: client.AccessTokenLifetime, JKT: jkt,
	}
	if err := rl.Resources().fit(ctx, &req, resource, explicit); err != nil {
		return now, grantAccess{}, err
	}
	at, err := holdPastRevocation(ctx, max(client.TokensRevokedBefore, user.TokensRevokedBefore), now)
	if err != nil {
		return now, grantAccess{}, err
	}
	token, ev, err := rl.Tokens().token(ctx, grantType, req, at)
	return at, grantAccess{token: token, request: req, event: ev}, err
}

// withIDToken adds the ID token to a grant's token set when its scope has
// openid.
func (gs Grants) withIDToken(ctx context.Context, set TokenSet, client *domain.Client, user *domain.User, nonce, sid string, authTime int64) (TokenSet, error) {
	if !domain.HasScope(set.Scope, domain.ScopeOpenID) {
		return set, nil
	}
	var err error
	set.IDToken, err = gs.rl.Tokens().mintID(ctx, client, user, IDTokenContext{
		Nonce: nonce, AuthTime: authTime, SessionID: sid, AccessToken: set.Access.Token, Scope: set.Scope,
	}, set.Access.Claims.IssuedAt.Time)
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
