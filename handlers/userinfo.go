package handlers

import (
	"net/http"

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
// with the access token in the Authorization header only (RFC 6750 §2.1):
// as Bearer, or a DPoP-bound token as DPoP with a proof (RFC 9449 §7).
func (a *api) userinfo(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	p, ok := presentedToken(c)
	if !ok {
		return bearerChallenge(rl.Name, domain.ScopeOpenID, http.StatusUnauthorized, "", "an access token is required (Authorization: Bearer, or DPoP)")
	}
	now := a.now()
	tokens := rl.Tokens()
	info, found, err := tokens.Introspect(c.Request().Context(), p.token, now)
	if err != nil {
		return err
	}
	user, err := rl.Users().Get(info.Subject)
	if !found || info.Status != domain.StatusActive || info.Audience != "" || err != nil { // a resource's token is not the userinfo endpoint's
		return &bearerError{realm: rl.Name, scope: domain.ScopeOpenID, status: http.StatusUnauthorized, code: domain.ErrInvalidToken,
			desc: "the access token is invalid, expired or revoked", dpop: p.dpop}
	}
	if err := a.checkBinding(c, rl, info.JKT, p, endpointURL(c, rl), rl.Name, domain.ScopeOpenID); err != nil {
		return err
	}
	if !domain.HasScope(info.Scope, domain.ScopeOpenID) {
		return &bearerError{realm: rl.Name, scope: domain.ScopeOpenID, status: http.StatusForbidden, code: domain.ErrInsufficientScope,
			desc: "the token lacks scope openid", dpop: info.JKT != ""}
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
