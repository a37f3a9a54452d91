package handlers

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
)

// CSRF on browser pages: the server makes every value (realms.CSRF). A
// browser's sign-in forms are bound to its browser id, which a signed
// cookie carries; a cookie the server did not make, or an expired one, is
// replaced, never adopted. Form posts must also come from the public URL's
// origin.

// browserID returns this browser's id for realm's pages, setting a new
// signed cookie when the browser has none the server made (or renewing one
// about to expire, same id).
func (a *api) browserID(c echo.Context, realm string) string {
	csrf := a.reg.CSRF()
	id, renewed, ok := csrf.BrowserID(cookieValue(c, csrfCookie), a.now())
	if !ok {
		id, renewed = csrf.NewBrowserID(a.now())
	}
	if renewed != "" {
		a.setCookie(c, realm, csrfCookie, renewed, 0)
	}
	return id
}

// sentBrowserID is the browser id a form post's cookie carries; "" when it
// carries none the server made.
func (a *api) sentBrowserID(c echo.Context) string {
	id, _, ok := a.reg.CSRF().BrowserID(cookieValue(c, csrfCookie), a.now())
	if !ok {
		return ""
	}
	return id
}

// fromOwnOrigin reports whether a browser request comes from a page of
// one of origins (the public URL's, and a realm's claimed hosts): its
// Origin header; Sec-Fetch-Site when the Origin is "null" (a page with
// Referrer-Policy: no-referrer, as ours are, posts its forms so) or
// absent. A client that sends neither is not a browser another site can
// drive; it still needs the form's token.
func fromOwnOrigin(c echo.Context, origins []string) bool {
	h := c.Request().Header
	if origin := h.Get("Origin"); origin != "" && origin != "null" {
		return slices.Contains(origins, origin)
	}
	switch h.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// csrfRefused is the answer to a form post that failed its CSRF check:
// nothing was done.
func csrfRefused(realm string) error {
	return errorPage(http.StatusForbidden, realm, "This form was not sent from this browser's own page (CSRF check failed); nothing was changed. Reload the page and try again.")
}
