package handlers

import (
	"crypto/subtle"

	"github.com/labstack/echo/v4"
)

// Form protection of the browser pages: one random value per browser, in
// a cookie another site cannot read or set, which every form carries back
// (inside its sealed request, or as a field of its own) and which must
// equal the cookie when the form is posted. These two functions are the
// whole of it for the pages that use them (authorization, the device
// flow's code form).

// browserCSRF is the browser's form-protection value, set in a cookie of
// the realm when the browser has none yet; kept across tabs and requests.
func (a *api) browserCSRF(c echo.Context, realm string) string {
	csrf := cookieValue(c, csrfCookie)
	if len(csrf) < 32 {
		csrf = randomToken()
		a.setCookie(c, realm, csrfCookie, csrf, 0)
	}
	return csrf
}

// csrfMatches reports whether a form sent the browser's value back.
func csrfMatches(c echo.Context, sent string) bool {
	cookie := cookieValue(c, csrfCookie)
	return cookie != "" && subtle.ConstantTimeCompare([]byte(cookie), []byte(sent)) == 1
}
