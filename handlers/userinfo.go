package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
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
	tokens := rl.Tokens()
	info, found, err := tokens.Introspect(c.Request().Context(), strings.TrimSpace(raw), now)
	if err != nil {
		return err
	}
	user, err := rl.Users().Get(info.Subject)
	if !found || info.Status != domain.StatusActive || err != nil {
		return bearerChallenge(rl.Name, domain.ScopeOpenID, http.StatusUnauthorized, domain.ErrInvalidToken, "the access token is invalid, expired or revoked")
	}
	if !domain.HasScope(info.Scope, domain.ScopeOpenID) {
		return bearerChallenge(rl.Name, domain.ScopeOpenID, http.StatusForbidden, domain.ErrInsufficientScope, "the token lacks scope openid")
	}
	tokens.Touch(info, now)
	access, _ := tokens.LiveAccess(info)
	out := userinfoResponse{
		Subject: user.ID, TeamsAuthorized: access, Teams: rl.Users().Teams(user),
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

// bearerChallenge refuses a protected-resource request per RFC 6750 §3:
// code is empty when the request carried no token at all.
func bearerChallenge(realm, scope string, status int, code, desc string) error {
	return &bearerError{realm: realm, scope: scope, status: status, code: code, desc: desc}
}
