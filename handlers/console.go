package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// The admin console: server-rendered pages under /console/, on the read
// models, for a realm's administrators and every user's own access. A
// console is signed in to one realm, its home (/console/{home}/), through
// that realm's own sign-in as the client latchkey-console; a realm
// administrator of master manages every realm from master's console
// (/console/master/realms/{realm}/...). Every action calls the same
// realms commands as the admin API, under the same principal rules, with
// the user as actor and latchkey-console as client_id.
//
// Files: console.go (this: routes, the signed-in request, CSRF, headers),
// console_render.go (templates and errors), console_signin.go, and one
// file per page.

// Console cookies, scoped to /console/{home}/: the session (SameSite
// Strict) and a sign-in in flight (Lax: it must come back with the
// redirect from the sign-in page).
const (
	consoleCookie      = "LATCHKEY_CONSOLE"
	consoleLoginCookie = "LATCHKEY_CONSOLE_LOGIN"
)

// consoleCtxKey holds the signed-in request's consoleCtx.
const consoleCtxKey = "latchkey.console"

// consoleCtx is a request of a signed-in console user.
type consoleCtx struct {
	home    *realms.Realm
	session *realms.ConsoleSession
	user    *domain.User
	p       principal
	csrf    string
	// form is a POST's form, read once and CSRF-checked.
	form url.Values
	// realm is the realm a page manages (consoleArea).
	realm *realms.Realm
}

func consoleOf(c echo.Context) *consoleCtx { return c.Get(consoleCtxKey).(*consoleCtx) }

// meta is an action's metadata: the user as actor, the console as client.
func (cc *consoleCtx) meta(c echo.Context, a *api) realms.Meta { return cc.p.meta(c, a) }

// isConsole reports whether a request is for a console page: its errors
// are pages too.
func isConsole(c echo.Context) bool {
	p := c.Request().URL.Path
	return p == "/console" || strings.HasPrefix(p, "/console/")
}

// consoleBase is the path of a home realm's console.
func consoleBase(home string) string { return "/console/" + home }

func (a *api) consoleRoutes(e *echo.Echo) {
	g := e.Group("/console", consoleHeaders)
	g.GET("", a.consoleLanding)
	g.GET("/", a.consoleLanding)
	g.GET("/-/:file", consoleAsset) // "-" is no realm name
	h := g.Group("/:home")
	h.GET("/signin", a.consoleSignIn)
	h.GET("/callback", a.consoleCallback)
	s := h.Group("", a.consoleAuth)
	s.GET("", a.consoleHome)
	s.GET("/", a.consoleHome)
	s.POST("/signout", a.consoleSignOut)
	a.consoleMeRoutes(s)
	a.consoleRealmRoutes(s)
	a.consoleClientRoutes(s)
	a.consoleSessionRoutes(s)
	a.consoleUserRoutes(s)
	a.consoleStructureRoutes(s)
	a.consoleAuditRoutes(s)
}

// consoleHeaders sets what every console answer needs: a strict content
// policy (our own script and stylesheet only, no inline code, no framing),
// no sniffing, no referrer. Pages that show data are never stored
// (renderConsole); the assets may be cached.
func consoleHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		return next(c)
	}
}

// consoleLanding is /console/: pick the realm to sign in to.
func (a *api) consoleLanding(c echo.Context) error {
	if realm := c.QueryParam("realm"); realm != "" {
		if !domain.IsValidName(realm) {
			return renderConsole(c, http.StatusBadRequest, "landing.html", &consoleView{Title: "Console", Error: "That is not a realm name."})
		}
		return c.Redirect(http.StatusSeeOther, consoleBase(realm)+"/")
	}
	return renderConsole(c, http.StatusOK, "landing.html", &consoleView{Title: "Console"})
}

// consoleHome is /console/{home}/: the realms for an administrator, one's
// own access for everybody else.
func (a *api) consoleHome(c echo.Context) error {
	cc := consoleOf(c)
	for _, rl := range a.reg.List() {
		if cc.p.may(rl.Name) {
			return c.Redirect(http.StatusSeeOther, consoleBase(cc.home.Name)+"/realms")
		}
	}
	return c.Redirect(http.StatusSeeOther, consoleBase(cc.home.Name)+"/me")
}

// consoleHomeRealm resolves the home realm a console path names.
func (a *api) consoleHomeRealm(c echo.Context) (*realms.Realm, error) {
	home, err := a.reg.Get(c.Request().Context(), c.Param("home"))
	if err != nil {
		return nil, domain.NotFound("realm " + c.Param("home"))
	}
	if !home.Console().Available() {
		return nil, &statusError{status: http.StatusNotFound, code: errNotFound, desc: "realm " + home.Name + " has no console: its console client is disabled, or the public URL cannot be its redirect URI"}
	}
	return home, nil
}

// consoleAuth admits a request with a live console session of the home
// realm: its user, their principal (from the session's access token, as
// the admin API reads a token) and, for a POST, its form, which must come
// from the console's own page (Origin) with the session's CSRF token.
// Without a session, a page asks to sign in and comes back.
func (a *api) consoleAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		home, err := a.consoleHomeRealm(c)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		meta := a.browserMeta(c, "")
		s, err := home.Console().Session(ctx, cookieValue(c, consoleCookie), meta)
		if errors.Is(err, realms.ErrConsoleSignedOut) {
			return a.askSignIn(c, home.Name)
		}
		if err != nil {
			return err
		}
		p, scope, ok, err := a.tokenPrincipal(c, s.Access)
		if err != nil {
			return err // not known to be revoked: the session stays
		}
		user, uerr := home.Users().Get(s.UserID)
		if !ok || p.Realm != home.Name || p.Subject != s.UserID || uerr != nil {
			// Its tokens were revoked (by the user, an administrator, a
			// disable): the session is over.
			_ = home.Console().SignOut(context.WithoutCancel(ctx), s, a.browserMeta(c, s.UserID))
			return a.askSignIn(c, home.Name)
		}
		if !domain.HasScope(scope, domain.ScopeManagement) {
			p.roles = nil // without the scope, the user administers nothing here
		}
		cc := &consoleCtx{home: home, session: s, user: user, p: p,
			csrf: a.reg.CSRF().Token(consoleBinding(s), time.Unix(s.Expires, 0))}
		if c.Request().Method == http.MethodPost {
			if cc.form, err = a.consoleForm(c, cc); err != nil {
				return err
			}
		}
		c.Set(consoleCtxKey, cc)
		return next(c)
	}
}

// consoleBinding binds a console form token to its session.
func consoleBinding(s *realms.ConsoleSession) string { return "console:" + s.Realm + ":" + s.ID }

// consoleForm reads a console POST's form: from the console's origin, with
// the session's CSRF token; anything else changes nothing (403).
func (a *api) consoleForm(c echo.Context, cc *consoleCtx) (url.Values, error) {
	form, err := readFormBody(c)
	var oerr *domain.OAuthError
	switch {
	case errors.Is(err, errBodyTooLarge):
		return nil, &statusError{status: http.StatusRequestEntityTooLarge, code: errTooLarge, desc: "the form is too large"}
	case errors.As(err, &oerr):
		return nil, badRequest("the form could not be read: " + oerr.Description)
	case err != nil:
		return nil, badRequest("the form could not be read")
	}
	if !fromOwnOrigin(c, []string{a.reg.PublicOrigin()}) || !a.reg.CSRF().Valid(form.Get("csrf"), consoleBinding(cc.session), a.now()) {
		return nil, &statusError{status: http.StatusForbidden, code: "csrf_failed",
			desc: "this form was not sent from this console's own page (CSRF check failed); nothing was changed — reload the page and try again"}
	}
	return form, nil
}

// askSignIn sends a browser without a console session to sign in, and back
// to the page it asked for (a GET) or to the console's start (a POST,
// whose form is not replayed).
func (a *api) askSignIn(c echo.Context, home string) error {
	next := consoleBase(home) + "/"
	if c.Request().Method == http.MethodGet {
		next = c.Request().URL.RequestURI()
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, consoleBase(home)+"/signin?next="+url.QueryEscape(next))
}

// consoleArea restricts a route to callers who administer area of the
// realm the path names, and resolves that realm.
func (a *api) consoleArea(area domain.AdminArea) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			cc := consoleOf(c)
			if err := cc.p.check(c.Param("realm"), area); err != nil {
				return err
			}
			rl, err := a.realmOf(c)
			if err != nil {
				return err
			}
			cc.realm = rl
			return next(c)
		}
	}
}

// realmPath is a page of the managed realm.
func (cc *consoleCtx) realmPath(page string) string {
	return consoleBase(cc.home.Name) + "/realms/" + cc.realm.Name + page
}

// seeOther answers a form post with a redirect to a page (Post/Redirect/Get).
func seeOther(c echo.Context, path string) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, path)
}
