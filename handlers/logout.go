package handlers

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
)

// logout is RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0),
// GET or POST /realms/{realm}/protocol/openid-connect/logout: it ends the
// browser session, then returns to post_logout_redirect_uri only if the
// client (client_id, or the audience of id_token_hint) registered it;
// otherwise it shows a signed-out page. Never an open redirect.
func (a *api) logout(c echo.Context) error {
	realmName := c.Param("realm")
	rl, err := a.reg.Get(c.Request().Context(), realmName)
	if err != nil {
		return errorPage(c, http.StatusNotFound, realmName, "This realm does not exist.")
	}
	params, err := c.FormParams()
	if err != nil {
		return errorPage(c, http.StatusBadRequest, rl.Name, "The request could not be read.")
	}
	p, repeated := singleValues(params)
	if repeated != "" {
		return errorPage(c, http.StatusBadRequest, rl.Name, "The request repeats "+repeated+".")
	}
	if s, user, ok := rl.LookupSession(cookieValue(c, sessionCookie), a.now().Unix()); ok {
		if err := rl.EndSession(c.Request().Context(), s.SessionID, "logout", a.browserMeta(c, user.ID)); err != nil {
			return domainError(c, a.log, err)
		}
	}
	a.setCookie(c, rl.Name, sessionCookie, "", -1)
	target := p["post_logout_redirect_uri"]
	clientID := p["client_id"]
	if clientID == "" {
		clientID = hintAudience(p["id_token_hint"])
	}
	if client, ok := rl.Clients.Get(clientID); ok && target != "" && slices.Contains(client.PostLogoutRedirectURIs, target) {
		return redirectTo(c, http.StatusSeeOther, target, url.Values{"state": {p["state"]}})
	}
	return render(c, http.StatusOK, "message.html", page{Title: "Signed out", Realm: rl.Name, Message: "You are signed out."})
}

// hintAudience reads the client an ID token was issued to. The hint only
// selects whose registered URIs to consult, so it need not be verified.
func hintAudience(hint string) string {
	if hint == "" {
		return ""
	}
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(hint, &claims); err != nil || len(claims.Audience) == 0 {
		return ""
	}
	if !domain.IsValidName(claims.Audience[0]) {
		return ""
	}
	return claims.Audience[0]
}
