package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// principal is who called the admin API: a client of some realm holding a
// management token.
type principal struct {
	Realm    string
	ClientID string
	Subject  string
	// realmWide: a service client acting as itself and bound to no node
	// (no owner node, roles or team restrictions). Only such clients
	// administer a realm; a node-bound client's tokens must never reach
	// outside its nodes, and a user-delegated token is not an
	// administrator's.
	realmWide bool
	// jkt is the DPoP key the token is bound to, if any.
	jkt string
}

const principalKey = "latchkey.principal"

// may reports whether the caller may administer realm: master reaches every
// realm, any other realm's management client only its own.
func (p principal) may(realm string) bool {
	return p.Realm == domain.MasterRealm || p.Realm == realm
}

// meta builds an event's metadata for an admin action.
func (p principal) meta(c echo.Context, a *api) eventstore.Meta {
	return eventstore.Meta{
		Actor: eventstore.ClientActor(p.ClientID), ClientID: p.ClientID,
		RequestID: requestID(c), IP: c.RealIP(), Via: via(c), Time: a.now(),
	}
}

// adminRealm is the protection realm the admin API names in its
// challenges: one API serves every tenant realm.
const adminRealm = "latchkey"

func callerOf(c echo.Context) principal { return c.Get(principalKey).(principal) }

// requireManagement admits a valid access token of any realm carrying the
// management scope (RFC 6750; a DPoP-bound one under the DPoP scheme with
// a proof, RFC 9449). A path naming a realm the token does not cover is
// 403.
func (a *api) requireManagement(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok, ok := presentedToken(c)
		if !ok {
			return bearerChallenge(adminRealm, domain.ScopeManagement, http.StatusUnauthorized, "", "a bearer token with scope management is required")
		}
		p, scope, ok := a.verifyAdminToken(c, tok.token)
		if !ok {
			return &bearerError{realm: adminRealm, scope: domain.ScopeManagement, status: http.StatusUnauthorized, code: domain.ErrInvalidToken,
				desc: "the access token is invalid or expired", dpop: tok.dpop}
		}
		if err := a.adminBinding(c, p, tok); err != nil {
			return err
		}
		if !domain.HasScope(scope, domain.ScopeManagement) {
			return bearerChallenge(adminRealm, domain.ScopeManagement, http.StatusForbidden, domain.ErrInsufficientScope, "the token lacks scope management")
		}
		if !p.realmWide {
			return bearerChallenge(adminRealm, domain.ScopeManagement, http.StatusForbidden, domain.ErrInsufficientScope,
				"the admin API takes tokens of realm-wide service clients, not of node-owned or user-delegated ones")
		}
		if realm := c.Param("realm"); realm != "" && !p.may(realm) {
			return bearerChallenge(adminRealm, domain.ScopeManagement, http.StatusForbidden, domain.ErrInsufficientScope, "this token cannot administer realm "+realm)
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// verifyAdminToken looks the token up in the read models of the realm that
// issued it: only an exact token recorded at issuance, still active (not
// expired, not revoked) and whose client still exists is accepted. It
// returns the caller and the token's scope, less what the client no longer
// holds.
func (a *api) verifyAdminToken(c echo.Context, raw string) (principal, string, bool) {
	realmName, ok := a.reg.IssuerRealm(raw)
	if !ok {
		return principal{}, "", false
	}
	rl, err := a.reg.Get(c.Request().Context(), realmName)
	if err != nil {
		return principal{}, "", false
	}
	info, found, err := rl.Tokens().Introspect(c.Request().Context(), raw, a.now())
	if err != nil || !found || info.Status != domain.StatusActive || info.Audience != "" {
		// A token minted for a resource (RFC 8707) is that resource's,
		// not the admin API's.
		return principal{}, "", false
	}
	cl, err := rl.Clients().Get(info.ClientID)
	if err != nil {
		return principal{}, "", false
	}
	realmWide := cl.Kind == domain.KindService && !cl.NodeBound() && info.Subject == cl.ID
	// A scope the client has lost since (management taken away) no longer
	// counts, whatever the token says.
	scope := domain.KeepAllowed(info.Scope, cl.AllScopes())
	return principal{Realm: realmName, ClientID: info.ClientID, Subject: info.Subject, realmWide: realmWide, jkt: info.JKT}, scope, true
}

// adminBinding checks how the caller's token was presented: a DPoP-bound
// one only under the DPoP scheme, with a proof for this request at the
// server's public URL.
func (a *api) adminBinding(c echo.Context, p principal, tok presented) error {
	rl, err := a.reg.Get(c.Request().Context(), p.Realm)
	if err != nil {
		return err
	}
	return a.checkBinding(c, rl, p.jkt, tok, a.reg.PublicURL()+c.Request().URL.EscapedPath(), adminRealm, domain.ScopeManagement)
}
