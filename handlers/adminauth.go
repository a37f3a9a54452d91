package handlers

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// principal is who administers: a client of some realm holding a
// management token, or a user of some realm with realm roles, through a
// management token of theirs (the console's, or any app's they consented
// to). The admin API and the console decide alike, with can.
type principal struct {
	Realm    string
	ClientID string
	Subject  string
	// realmWide: a service client acting as itself and bound to no node
	// (no owner node, roles or team restrictions): it administers its
	// realm entirely. A node-bound client's tokens must never reach
	// outside its nodes.
	realmWide bool
	// user: a user-delegated token; Subject is the user, and roles are
	// their realm roles in Realm, read when the request came in.
	user  bool
	roles []string
	// jkt is the DPoP key the token is bound to, if any.
	jkt string
}

const principalKey = "latchkey.principal"

// reaches reports whether the caller's realm covers realm: master covers
// every realm, any other realm only itself.
func (p principal) reaches(realm string) bool {
	return p.Realm == domain.MasterRealm || p.Realm == realm
}

// may reports whether the caller administers anything of realm.
func (p principal) may(realm string) bool {
	return p.reaches(realm) && (p.realmWide || len(p.roles) > 0)
}

// can reports whether the caller administers area of realm.
func (p principal) can(realm string, area domain.AdminArea) bool {
	return p.reaches(realm) && (p.realmWide || domain.RolesGrant(p.roles, area))
}

// mayHoldScopes reports whether the caller may create, change or use a
// client holding scopes: a client with the management scope administers
// the realm, so only whoever administers the realm itself may touch one (a
// client manager cannot make themselves an administrator that way).
func (p principal) mayHoldScopes(realm string, scopes ...[]string) bool {
	for _, s := range scopes {
		if slices.Contains(s, domain.ScopeManagement) && !p.can(realm, domain.AreaRealm) {
			return false
		}
	}
	return true
}

// meta builds an event's metadata for an admin action: the user (also as
// the one on whose behalf the token acted), or the client, as actor; the
// client the token was issued to as client_id.
func (p principal) meta(c echo.Context, a *api) realms.Meta {
	m := realms.Meta{
		Actor: realms.ClientActor(p.ClientID), ClientID: p.ClientID,
		RequestID: requestID(c), IP: c.RealIP(), Via: via(c), Time: a.now(),
	}
	if p.user {
		m.Actor, m.OnBehalfOf = realms.UserActor(p.Subject), p.Subject
	}
	return m
}

// adminRealm is the protection realm the admin API names in its
// challenges: one API serves every tenant realm.
const adminRealm = "latchkey"

func callerOf(c echo.Context) principal { return c.Get(principalKey).(principal) }

// forbidden is the refusal of an admin action the caller may not take.
func forbidden(desc string) error {
	return bearerChallenge(adminRealm, domain.ScopeManagement, http.StatusForbidden, domain.ErrInsufficientScope, desc)
}

// adminAreas are the parts of the admin API other than the realm itself,
// by the route's path under /admin/realms/:realm. A route not listed here
// is the realm's own administration (AreaRealm): a route added later is
// for realm administrators until it is listed.
var adminAreas = map[string]domain.AdminArea{
	"clients":     domain.AreaClients,
	"users":       domain.AreaUsers,
	"nodes":       domain.AreaStructure,
	"scopes":      domain.AreaStructure,
	"sessions":    domain.AreaSessions,
	"tokens":      domain.AreaSessions,
	"ui-sessions": domain.AreaSessions,
	"events":      domain.AreaAudit,
	"audit":       domain.AreaAudit,
}

// areaOf is the area a route pattern (echo's c.Path()) belongs to; ""
// for reading the realm itself, which any administrator of it may.
func areaOf(method, route string) domain.AdminArea {
	rest, ok := strings.CutPrefix(route, "/admin/realms/:realm")
	if !ok {
		return domain.AreaRealm
	}
	if rest == "" && method == http.MethodGet {
		return ""
	}
	part, _, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	if area, ok := adminAreas[part]; ok {
		return area
	}
	return domain.AreaRealm
}

// requireManagement admits a valid access token of any realm carrying the
// management scope (RFC 6750; a DPoP-bound one under the DPoP scheme with
// a proof, RFC 9449), of a realm-wide service client or of a user with
// realm roles. A path naming a realm, or a part of one, the caller does
// not administer is 403.
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
			return forbidden("the token lacks scope management")
		}
		if !p.realmWide && !p.user {
			return forbidden("the admin API takes tokens of realm-wide service clients or of users with realm roles, not of node-owned clients")
		}
		if realm := c.Param("realm"); realm != "" {
			if err := p.check(realm, areaOf(c.Request().Method, c.Path())); err != nil {
				return err
			}
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// check refuses an action on area of realm the caller may not take ("" is
// reading the realm itself).
func (p principal) check(realm string, area domain.AdminArea) error {
	switch {
	case !p.reaches(realm):
		return forbidden("this token cannot administer realm " + realm)
	case area == "" && !p.may(realm):
		return forbidden("the user holds no realm role in realm " + realm)
	case area != "" && !p.can(realm, area):
		return forbidden("the caller's realm roles do not cover the " + string(area) + " of realm " + realm)
	}
	return nil
}

// verifyAdminToken looks the token up in the read models of the realm that
// issued it: only an exact token recorded at issuance, still active (not
// expired, not revoked), whose client still exists (and, for a user's
// token, whose user is still active) is accepted. It returns the caller
// and the token's scope, less what the client no longer holds.
func (a *api) verifyAdminToken(c echo.Context, raw string) (principal, string, bool) {
	p, scope, ok, _ := a.tokenPrincipal(c, raw)
	return p, scope, ok
}

// tokenPrincipal is verifyAdminToken that also tells a token refused from
// one this replica cannot judge now (its read models are behind): err.
func (a *api) tokenPrincipal(c echo.Context, raw string) (principal, string, bool, error) {
	realmName, ok := a.reg.IssuerRealm(raw)
	if !ok {
		return principal{}, "", false, nil
	}
	rl, err := a.reg.Get(c.Request().Context(), realmName)
	if err != nil {
		return principal{}, "", false, nil
	}
	info, found, err := rl.Tokens().Introspect(c.Request().Context(), raw, a.now())
	if err != nil {
		return principal{}, "", false, err
	}
	if !found || info.Status != domain.StatusActive || info.Audience != "" {
		// A token minted for a resource (RFC 8707) is that resource's,
		// not the admin API's.
		return principal{}, "", false, nil
	}
	cl, err := rl.Clients().Get(info.ClientID)
	if err != nil {
		return principal{}, "", false, nil
	}
	p := principal{Realm: realmName, ClientID: info.ClientID, Subject: info.Subject, jkt: info.JKT}
	switch {
	case info.Subject == cl.ID:
		p.realmWide = cl.Kind == domain.KindService && !cl.NodeBound()
	case cl.Kind == domain.KindUserApp:
		user, err := rl.Users().Get(info.Subject)
		if err != nil || !user.Active() {
			return principal{}, "", false, nil
		}
		p.user, p.roles = true, user.RealmRoles
	}
	// A scope the client has lost since (management taken away) no longer
	// counts, whatever the token says.
	scope := domain.KeepAllowed(info.Scope, cl.AllScopes())
	return p, scope, true, nil
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
