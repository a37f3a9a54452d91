package handlers

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// A realm's active sessions, for its administrators: every connected app
// and browser session, filtered by user and client, each revocable.

func (a *api) consoleSessionRoutes(g *echo.Group) {
	r := g.Group("/realms/:realm/sessions", a.consoleArea(domain.AreaSessions))
	r.GET("", a.consoleSessions)
	r.POST("/tokens/:jti/revoke", a.consoleRevokeToken)
	r.POST("/apps/:client/revoke", a.consoleRevokeApp)
	r.POST("/sessions/:id/end", a.consoleEndSession)
	r.POST("/sessions/end-all", a.consoleEndSessions)
}

// sessionUser reads ?user= (a username): "" for every user, else the
// user's id; an unknown username is a not-found error.
func sessionUser(c echo.Context, cc *consoleCtx) (string, error) {
	name := c.QueryParam("user")
	if name == "" {
		return "", nil
	}
	u, err := cc.realm.Users().ByUsername(name)
	if err != nil {
		return "", err
	}
	return u.ID, nil
}

// consoleSessions is GET .../sessions?user=&client=&cursor=.
func (a *api) consoleSessions(c echo.Context) error {
	cc := consoleOf(c)
	rl := cc.realm
	userID, err := sessionUser(c, cc)
	if err != nil {
		return err
	}
	after, ok := decodeCursor(c.QueryParam("cursor"))
	if !ok {
		return badRequest("malformed cursor")
	}
	now := a.now().Unix()
	clientID := c.QueryParam("client")
	tokens, next := rl.Tokens().List(realms.SessionFilter{ClientID: clientID, Subject: userID}, after, accessPageSize, now)
	page := accessPage{
		Apps: groupTokens(rl, tokens), Action: cc.realmPath("/sessions"), RealmView: true, User: c.QueryParam("user"), Client: clientID,
	}
	if clientID == "" {
		page.Sessions = sessionRows(rl, rl.Sessions().List(userID, now), "")
	}
	if next != nil {
		q := c.QueryParams()
		q.Set("cursor", encodeCursor(next))
		page.Next = "?" + q.Encode()
	}
	v := a.view(c, "Active sessions", "sessions")
	v.Data = page
	return renderConsole(c, http.StatusOK, "sessions.html", v)
}

// backToSessions returns to the sessions page with its user filter.
func backToSessions(c echo.Context, cc *consoleCtx, done string) error {
	q := "?done=" + done
	if u := c.QueryParam("user"); u != "" {
		q += "&user=" + u
	}
	return seeOther(c, cc.realmPath("/sessions"+q))
}

// consoleRevokeToken revokes one token, as DELETE .../tokens/{jti} does.
func (a *api) consoleRevokeToken(c echo.Context) error {
	cc := consoleOf(c)
	if err := cc.realm.Tokens().RevokeByID(c.Request().Context(), c.Param("jti"), cc.meta(c, a)); err != nil {
		return err
	}
	return backToSessions(c, cc, "token-revoked")
}

// consoleRevokeApp is the group header's "Revoke all": every token of the
// client, or with a user filter, everything the client holds for that
// user.
func (a *api) consoleRevokeApp(c echo.Context) error {
	cc := consoleOf(c)
	userID, err := sessionUser(c, cc)
	if err != nil {
		return err
	}
	clientID := c.Param("client")
	if userID != "" {
		_, err = cc.realm.Access(userID).RevokeApp(c.Request().Context(), clientID, "revoked by an administrator", cc.meta(c, a))
	} else {
		var cl *domain.Client
		if cl, err = cc.realm.Clients().Get(clientID); err == nil {
			if err = cc.p.checkClientScopes(cc.realm.Name, cl.AllScopes()); err == nil {
				err = cc.realm.Clients().RevokeTokens(c.Request().Context(), clientID, "revoked by an administrator", cc.meta(c, a))
			}
		}
	}
	if err != nil {
		return err
	}
	return backToSessions(c, cc, "tokens-revoked")
}

// consoleEndSession ends one browser session of the realm.
func (a *api) consoleEndSession(c echo.Context) error {
	cc := consoleOf(c)
	if err := cc.realm.Sessions().End(c.Request().Context(), c.Param("id"), "ended by an administrator", cc.meta(c, a)); err != nil {
		return err
	}
	return backToSessions(c, cc, "session-ended")
}

// consoleEndSessions ends every browser session of the user filtered on,
// or of the realm.
func (a *api) consoleEndSessions(c echo.Context) error {
	cc := consoleOf(c)
	userID, err := sessionUser(c, cc)
	if err != nil {
		return err
	}
	n := cc.realm.Sessions().EndAll(context.WithoutCancel(c.Request().Context()), userID, "ended by an administrator", cc.meta(c, a))
	return backToSessions(c, cc, "sessions-ended&n="+strconv.Itoa(n))
}
