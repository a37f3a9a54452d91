package handlers

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/realms"
)

// logout is RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0),
// GET or POST /realms/{realm}/protocol/openid-connect/logout. With a valid
// id_token_hint issued in this browser session it ends the session at
// once; otherwise the user is asked to confirm (a form post carrying the
// browser's CSRF value), so that another site cannot sign people out, not
// even with an ID token of its own. It then returns to
// post_logout_redirect_uri only if the client (client_id, which must agree
// with the hint's audience) registered it; otherwise it shows a page.
// Never an open redirect.
func (a *api) logout(c echo.Context) error {
	rl, err := a.pageRealm(c)
	if err != nil {
		return err
	}
	p, err := pageSingleParams(c, rl.Name)
	if err != nil {
		return err
	}
	clientID := p["client_id"]
	var hint realms.IDTokenHint
	hinted := false
	if raw := p["id_token_hint"]; raw != "" {
		var ok bool
		if hint, ok = rl.Keys().VerifyIDTokenHint(raw, a.now()); !ok || clientID != "" && clientID != hint.ClientID {
			return errorPage(http.StatusBadRequest, rl.Name, "The id_token_hint is not valid for this realm or client.")
		}
		clientID, hinted = hint.ClientID, true
	}
	session, user, signedIn := rl.Sessions().Lookup(cookieValue(c, sessionCookie), a.now().Unix())
	// A hint skips the question only for the session it was issued in:
	// another site may hold some other ID token of this realm.
	hintIsThisSession := hinted && (!signedIn || hint.Subject == user.ID && hint.SessionID == session.SessionID)
	sent := a.sentBrowserID(c)
	confirmed := c.Request().Method == http.MethodPost && p["confirm"] == "yes" && sent != "" &&
		a.reg.CSRF().Valid(p["csrf"], logoutBinding(rl.Name, sent), a.now()) && fromOwnOrigin(c, rl.PageOrigins())
	if !hintIsThisSession && !confirmed {
		csrf := a.reg.CSRF().Token(logoutBinding(rl.Name, a.browserID(c, rl.Name)), a.now().Add(realms.BrowserIDLifetime))
		var hidden []scopeLine
		for _, k := range []string{"client_id", "id_token_hint", "post_logout_redirect_uri", "state"} {
			if p[k] != "" {
				hidden = append(hidden, scopeLine{Name: k, Description: p[k]})
			}
		}
		return render(c, http.StatusOK, "logout.html", page{
			Title: "Sign out", Realm: rl.Name, Pending: csrf, Hidden: hidden,
			Action: "/realms/" + rl.Name + "/protocol/openid-connect/logout",
		})
	}
	if signedIn {
		if err := rl.Sessions().End(c.Request().Context(), session.SessionID, "logout", a.browserMeta(c, user.ID)); err != nil {
			return err
		}
	}
	a.setCookie(c, rl.Name, sessionCookie, "", -1)
	target := p["post_logout_redirect_uri"]
	if client, err := rl.Clients().Get(clientID); err == nil && target != "" && slices.Contains(client.PostLogoutRedirectURIs, target) {
		return redirectTo(c, http.StatusSeeOther, target, url.Values{"state": {p["state"]}})
	}
	return render(c, http.StatusOK, "message.html", page{Title: "Signed out", Realm: rl.Name, Message: "You are signed out."})
}

// logoutBinding binds a sign-out confirmation to the realm and browser.
func logoutBinding(realm, browserID string) string { return "logout:" + realm + ":" + browserID }
