package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/projections"
	"github.com/latchkeyhq/latchkey/realms"
)

// userinfoResponse is OpenID Connect's userinfo, plus the teams the user
// authorized for this client (still valid now) and every team they belong to.
type userinfoResponse struct {
	Subject           string              `json:"sub"`
	Email             string              `json:"email,omitempty"`
	Name              string              `json:"name,omitempty"`
	PreferredUsername string              `json:"preferred_username,omitempty"`
	TeamsAuthorized   []domain.NodeAccess `json:"teams_authorized"`
	Teams             []string            `json:"teams"`
}

// userinfo is GET and POST /realms/{realm}/protocol/openid-connect/userinfo,
// with the access token as a bearer token only (RFC 6750 §2.1).
func (a *api) userinfo(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	scheme, raw, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return bearerChallenge(rl.Name, domain.ScopeOpenID, http.StatusUnauthorized, "", "a bearer access token is required")
	}
	now := a.now()
	info, found := rl.Introspect(c.Request().Context(), strings.TrimSpace(raw), now)
	user, isUser := rl.Users.Get(info.Subject)
	if !found || info.Status != domain.StatusActive || !isUser {
		return bearerChallenge(rl.Name, domain.ScopeOpenID, http.StatusUnauthorized, domain.ErrInvalidToken, "the access token is invalid, expired or revoked")
	}
	if !domain.HasScope(info.Scope, domain.ScopeOpenID) {
		return bearerChallenge(rl.Name, domain.ScopeOpenID, http.StatusForbidden, domain.ErrInsufficientScope, "the token lacks scope openid")
	}
	rl.Touch(info.JTI, info.ClientID, info.LastUsed, now)
	out := userinfoResponse{
		Subject: user.ID, TeamsAuthorized: liveAccess(rl, info), Teams: user.Teams(rl.Nodes.Tree()),
	}
	if domain.HasScope(info.Scope, domain.ScopeEmail) {
		out.Email = user.Email
	}
	if domain.HasScope(info.Scope, domain.ScopeProfile) {
		out.Name, out.PreferredUsername = user.DisplayName, user.Username
	}
	if out.Teams == nil {
		out.Teams = []string{}
	}
	noStore(c)
	return c.JSON(http.StatusOK, out)
}

// liveAccess evaluates a user-delegated token's permissions now: scopes ∩
// client preset ∩ client team restrictions ∩ the user's current roles on
// the teams chosen at consent.
func liveAccess(rl *realms.Realm, info projections.TokenInfo) []domain.NodeAccess {
	user, _ := rl.Users.Get(info.Subject)
	client, _ := rl.Clients.Get(info.ClientID)
	return domain.EffectiveAccess(user, client, info.Nodes, rl.Nodes.Tree())
}

// bearerChallenge refuses a protected-resource request per RFC 6750 §3:
// code is empty when the request carried no token at all.
func bearerChallenge(realm, scope string, status int, code, desc string) error {
	return &bearerError{realm: realm, scope: scope, status: status, code: code, desc: desc}
}
