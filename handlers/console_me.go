package handlers

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
)

// "My access": every user's own connected apps and browser sessions, each
// revocable. The user acts on their own access only.

// accessPage is the body of me.html and sessions.html.
type accessPage struct {
	Apps     []appGroup
	Sessions []uiSessionRow
	// Next is the query of the next page of apps ("" on the last).
	Next string
	// Action is the path the page's forms post under.
	Action string
	// RealmView: a realm's sessions (every user's), with its filters.
	RealmView    bool
	User, Client string
}

const accessPageSize = 200

func (a *api) consoleMeRoutes(g *echo.Group) {
	g.GET("/me", a.consoleMe)
	g.POST("/me/tokens/:jti/revoke", a.consoleMeRevokeToken)
	g.POST("/me/apps/:client/revoke", a.consoleMeRevokeApp)
	g.POST("/me/sessions/:id/end", a.consoleMeEndSession)
	g.POST("/me/sessions/end-all", a.consoleMeEndSessions)
}

// consoleMe is GET /console/{home}/me.
func (a *api) consoleMe(c echo.Context) error {
	cc := consoleOf(c)
	after, ok := decodeCursor(c.QueryParam("cursor"))
	if !ok {
		return badRequest("malformed cursor")
	}
	now := a.now().Unix()
	tokens, next := cc.home.Access(cc.user.ID).Tokens(after, accessPageSize, now)
	page := accessPage{
		Apps:     groupTokens(cc.home, tokens),
		Sessions: sessionRows(cc.home, cc.home.Sessions().List(cc.user.ID, now), cc.session.BrowserSession),
		Action:   consoleBase(cc.home.Name) + "/me",
	}
	if next != nil {
		page.Next = "?cursor=" + encodeCursor(next)
	}
	v := a.view(c, "My access", "")
	v.Data = page
	return renderConsole(c, http.StatusOK, "me.html", v)
}

// consoleMeRevokeToken revokes one of the user's tokens, with the grant it
// came from: the app must send the user through sign-in again.
func (a *api) consoleMeRevokeToken(c echo.Context) error {
	cc := consoleOf(c)
	if err := cc.home.Access(cc.user.ID).RevokeToken(c.Request().Context(), c.Param("jti"), cc.meta(c, a)); err != nil {
		return err
	}
	return seeOther(c, consoleBase(cc.home.Name)+"/me?done=token-revoked")
}

// consoleMeRevokeApp revokes everything one app holds for the user.
func (a *api) consoleMeRevokeApp(c echo.Context) error {
	cc := consoleOf(c)
	if _, err := cc.home.Access(cc.user.ID).RevokeApp(c.Request().Context(), c.Param("client"), "revoked by the user", cc.meta(c, a)); err != nil {
		return err
	}
	return seeOther(c, consoleBase(cc.home.Name)+"/me?done=tokens-revoked")
}

// consoleMeEndSession ends one of the user's own browser sessions.
func (a *api) consoleMeEndSession(c echo.Context) error {
	cc := consoleOf(c)
	id := c.Param("id")
	own := slices.ContainsFunc(cc.home.Sessions().List(cc.user.ID, a.now().Unix()), func(s *domain.Session) bool { return s.SessionID == id })
	if !own {
		return domain.NotFound("browser session " + id)
	}
	if err := cc.home.Sessions().End(c.Request().Context(), id, "ended by the user", cc.meta(c, a)); err != nil {
		return err
	}
	return seeOther(c, consoleBase(cc.home.Name)+"/me?done=session-ended")
}

// consoleMeEndSessions ends every browser session of the user, this one
// too.
func (a *api) consoleMeEndSessions(c echo.Context) error {
	cc := consoleOf(c)
	n := cc.home.Sessions().EndAll(context.WithoutCancel(c.Request().Context()), cc.user.ID, "ended by the user", cc.meta(c, a))
	return seeOther(c, consoleBase(cc.home.Name)+"/me?done=sessions-ended&n="+strconv.Itoa(n))
}
