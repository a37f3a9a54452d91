package handlers

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// Signing in to the console: the console is an OAuth client of its home
// realm (authorization code with PKCE, its callback under the public URL),
// through the realm's own sign-in page; its sign-ins need no consent.
// The code is redeemed on the server, which keeps the tokens
// (realms.Console); the browser gets a session cookie only.

// messageData is the body of message.html.
type messageData struct {
	Message, Link, LinkText string
	// Refresh, when set, is where the page goes at once (a same-site
	// navigation, which carries the SameSite=Strict session cookie even
	// when the sign-in began on another site).
	Refresh string
}

// consoleSignIn is GET /console/{home}/signin?next=: the redirect to the
// realm's authorization endpoint, with the state and PKCE verifier sealed
// in a cookie for the callback.
func (a *api) consoleSignIn(c echo.Context) error {
	home, err := a.consoleHomeRealm(c)
	if err != nil {
		return err
	}
	login := realms.ConsoleLogin{State: randomToken(), Verifier: pkceVerifier(), Next: consoleNext(home.Name, c.QueryParam("next"))}
	sealed, err := home.Console().SealLogin(login, a.now())
	if err != nil {
		return err
	}
	a.setConsoleCookie(c, home.Name, consoleLoginCookie, sealed, 15*60, http.SameSiteLaxMode)
	scope := domain.ScopeOpenID
	if cl, err := home.Clients().Get(domain.ConsoleClientID); err == nil && domain.HasScope(strings.Join(cl.Scopes, " "), domain.ScopeManagement) {
		scope += " " + domain.ScopeManagement
	}
	sum := sha256.Sum256([]byte(login.Verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {domain.ConsoleClientID}, "redirect_uri": {home.Console().Callback()},
		"scope": {scope}, "state": {login.State},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	return seeOther(c, "/realms/"+home.Name+"/protocol/openid-connect/auth?"+q.Encode())
}

// consoleNext keeps a page to return to only when it is one of this
// console's own paths: never a way to send the browser elsewhere.
func consoleNext(home, next string) string {
	base := consoleBase(home) + "/"
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, base) ||
		strings.Contains(next, "\\") || strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/signout") {
		return base
	}
	return u.RequestURI()
}

// pkceVerifier is 256 random bits, base64url (RFC 7636 §4.1: 43 characters).
func pkceVerifier() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// setConsoleCookie sets a cookie of a home realm's console: HttpOnly,
// Secure under an https public URL.
func (a *api) setConsoleCookie(c echo.Context, home, name, value string, maxAge int, same http.SameSite) {
	c.SetCookie(&http.Cookie{
		Name: name, Value: value, Path: consoleBase(home) + "/", MaxAge: maxAge,
		HttpOnly: true, Secure: a.reg.SecureCookies(), SameSite: same,
	})
}

// consoleCallback is GET /console/{home}/callback: the realm's answer to
// the console's sign-in. The state must be the one sealed in this
// browser's cookie and the issuer the home realm's; the code is redeemed
// with the sealed verifier, and the session cookie set.
func (a *api) consoleCallback(c echo.Context) error {
	home, err := a.consoleHomeRealm(c)
	if err != nil {
		return err
	}
	again := func(msg string) error {
		return renderConsole(c, http.StatusBadRequest, "message.html", &consoleView{Title: "Sign-in not completed",
			Data: messageData{Message: msg, Link: consoleBase(home.Name) + "/signin", LinkText: "Sign in again"}})
	}
	q, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return again("The answer of the sign-in page could not be read.")
	}
	login, ok := home.Console().OpenLogin(cookieValue(c, consoleLoginCookie), a.now())
	a.setConsoleCookie(c, home.Name, consoleLoginCookie, "", -1, http.SameSiteLaxMode)
	switch {
	case !ok || len(q["state"]) != 1 || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(login.State)) != 1:
		return again("This sign-in was not started in this browser, or took too long.")
	case q.Has("iss") && q.Get("iss") != home.Issuer():
		return again("The answer came from another issuer than realm " + home.Name + ".")
	case q.Get("error") != "":
		return again("The sign-in ended without access: " + q.Get("error") + ".")
	case q.Get("code") == "":
		return again("The answer of the sign-in page carries no code.")
	}
	meta := a.browserMeta(c, "")
	meta.ClientID = domain.ConsoleClientID
	meta.Actor = realms.ClientActor(domain.ConsoleClientID)
	cookie, s, err := home.Console().SignIn(c.Request().Context(), q.Get("code"), login.Verifier, meta)
	var oerr *domain.OAuthError
	if errors.As(err, &oerr) || errors.Is(err, realms.ErrConsoleSignedOut) {
		return again("The sign-in could not be completed; start again.")
	}
	if err != nil {
		return err
	}
	a.setConsoleCookie(c, home.Name, consoleCookie, cookie, int(s.Expires-s.Created), http.SameSiteStrictMode)
	return renderConsole(c, http.StatusOK, "message.html", &consoleView{Title: "Signed in",
		Data: messageData{Message: "You are signed in to the console of realm " + home.Name + ".", Link: login.Next, LinkText: "Continue", Refresh: login.Next}})
}

// consoleSignOut is POST /console/{home}/signout: the console session ends
// with its refresh token and access tokens, and the browser session it
// signed in with.
func (a *api) consoleSignOut(c echo.Context) error {
	cc := consoleOf(c)
	if err := cc.home.Console().SignOut(c.Request().Context(), cc.session, cc.meta(c, a)); err != nil {
		return err
	}
	a.setConsoleCookie(c, cc.home.Name, consoleCookie, "", -1, http.SameSiteStrictMode)
	return renderConsole(c, http.StatusOK, "message.html", &consoleView{Title: "Signed out",
		Data: messageData{Message: "You are signed out of the console of realm " + cc.home.Name + ".", Link: consoleBase(cc.home.Name) + "/", LinkText: "Sign in again"}})
}
