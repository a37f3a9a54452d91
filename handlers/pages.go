package handlers

import (
	"embed"
	"errors"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// page is what every template gets.
type page struct {
	Title, Realm, Error, Message string
	ClientName, Username         string
	// ClientHost is the host of a client known by its metadata document.
	ClientHost string
	// Resources are the APIs access is asked for (Name, and the identifier
	// as Description).
	Resources       []scopeLine
	Action, Pending string
	Preset          string
	Scopes          []scopeLine
	Teams           []string
	Multiple        bool
	// Hidden are extra form fields (Name, Description as the value).
	Hidden []scopeLine
	// UserCode is the device flow's user code, as typed or shown.
	UserCode string
}

type scopeLine struct{ Name, Description string }

// render writes an HTML page that must never be cached or framed (the
// headers every answer gets are securityHeaders'). The policy has no
// form-action: browsers apply it to the redirect that follows a form post,
// which goes to the client's redirect URI by design. base-uri 'none' keeps
// an injected <base> from sending the form elsewhere.
func render(c echo.Context, status int, name string, p page) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return pages.ExecuteTemplate(c.Response(), name, p)
}

// securityHeaders go on every answer: no MIME sniffing; no Referer from
// our pages, whose URLs carry authorization requests, to wherever they
// lead; and, when the service is published over https, HSTS (a year), so
// that a browser never sends a session cookie or a password over http.
func (a *api) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	hsts := a.reg != nil && a.reg.SecureCookies() // no registry: the error table's tests
	return func(c echo.Context) error {
		// Assigned, not Set: the canonical keys with shared values cost
		// no allocation on every response (a later Set or Add replaces
		// or copies the value, never writes into it).
		h := c.Response().Header()
		h["X-Content-Type-Options"] = headerNosniff
		h["Referrer-Policy"] = headerNoReferrer
		if hsts {
			h["Strict-Transport-Security"] = headerHSTS
		}
		return next(c)
	}
}

var (
	headerNosniff    = []string{"nosniff"}
	headerNoReferrer = []string{"no-referrer"}
	headerHSTS       = []string{"max-age=31536000"}
)

// errorPage is the error of a browser request that must not be redirected
// anywhere: answered with the HTML error page (see answerError).
func errorPage(status int, realm, msg string) error {
	return &pageError{status: status, realm: realm, message: msg}
}

// pageRealm resolves the realm a browser page names; any failure is the
// error page saying it does not exist.
func (a *api) pageRealm(c echo.Context) (*realms.Realm, error) {
	rl, err := a.reg.Get(c.Request().Context(), c.Param("realm"))
	if err != nil || !servesRealm(c, c.Param("realm")) {
		return nil, errorPage(http.StatusNotFound, c.Param("realm"), "This realm does not exist.")
	}
	return rl, nil
}

// redirectTo adds parameters to a registered redirect URI.
func redirectTo(c echo.Context, status int, target string, params url.Values) error {
	u, err := url.Parse(target)
	if err != nil {
		return errorPage(http.StatusBadRequest, "", "invalid redirect URI")
	}
	q := u.Query()
	for k, vs := range params {
		for _, v := range vs {
			if v != "" {
				q.Set(k, v)
			}
		}
	}
	u.RawQuery = q.Encode()
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(status, u.String())
}

// Browser cookies are scoped to the realm's path, or on a host the realm
// claims, to the whole host (its paths need no realm there).
const (
	sessionCookie = "LATCHKEY_SESSION"
	csrfCookie    = "LATCHKEY_CSRF"
	// deviceCookie marks the browser a user last signed in with: their
	// username's lock does not apply there (realms.SignIn).
	deviceCookie = "LATCHKEY_DEVICE"
)

func (a *api) setCookie(c echo.Context, realm, name, value string, maxAge int) {
	path := "/realms/" + realm + "/"
	if hostRouted(c) {
		path = "/"
	}
	c.SetCookie(&http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: a.reg.SecureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

func cookieValue(c echo.Context, name string) string {
	ck, err := c.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}

// pageParams reads the parameters of a browser page of realm strictly: the
// query and, for a POST, the form body (application/x-www-form-urlencoded,
// at most 64 KiB, as for the OAuth endpoints). A problem is the error
// page; nothing has been done.
func pageParams(c echo.Context, realm string) (url.Values, error) {
	q, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return nil, errorPage(http.StatusBadRequest, realm, "The request could not be read.")
	}
	if c.Request().Method != http.MethodPost {
		return q, nil
	}
	body, err := readFormBody(c)
	var oerr *domain.OAuthError
	switch {
	case errors.Is(err, errBodyTooLarge):
		return nil, errorPage(http.StatusRequestEntityTooLarge, realm, "The form is too large.")
	case errors.As(err, &oerr):
		return nil, errorPage(http.StatusBadRequest, realm, "The form could not be read: "+oerr.Description+".")
	case err != nil:
		return nil, errorPage(http.StatusBadRequest, realm, "The form could not be read.")
	}
	for k, vs := range body {
		q[k] = append(q[k], vs...)
	}
	return q, nil
}

// pageSingleParams is pageParams for a page whose parameters each come
// once: a repeated one is the error page naming it.
func pageSingleParams(c echo.Context, realm string) (map[string]string, error) {
	params, err := pageParams(c, realm)
	if err != nil {
		return nil, err
	}
	p, repeated := singleValues(params)
	if repeated != "" {
		return nil, errorPage(http.StatusBadRequest, realm, "The request repeats "+repeated+".")
	}
	return p, nil
}

// singleValues reads a query or form strictly: a repeated parameter is
// reported by name, the first in name order, so the answer does not depend
// on map order. Values are kept as sent (a password may have spaces).
func singleValues(v url.Values) (map[string]string, string) {
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if len(v[k]) > 1 {
			return nil, k
		}
	}
	out := make(map[string]string, len(v))
	for k, vs := range v {
		out[k] = vs[0]
	}
	return out, ""
}
