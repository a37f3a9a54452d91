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
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// page is what every template gets.
type page struct {
	Title, Realm, Error, Message string
	ClientName, Username         string
	Action, Pending              string
	Preset                       string
	Scopes                       []scopeLine
	Teams                        []string
	Multiple                     bool
	// Hidden are extra form fields (Name, Description as the value).
	Hidden []scopeLine
}

type scopeLine struct{ Name, Description string }

// render writes an HTML page that must never be cached or framed. The
// policy has no form-action: browsers apply it to the redirect that follows
// a form post, which goes to the client's redirect URI by design.
func render(c echo.Context, status int, name string, p page) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return pages.ExecuteTemplate(c.Response(), name, p)
}

// errorPage answers a request that must not be redirected anywhere.
func errorPage(c echo.Context, status int, realm, msg string) error {
	return render(c, status, "message.html", page{Title: "Cannot continue", Realm: realm, Message: msg, Error: msg})
}

// redirectTo adds parameters to a registered redirect URI.
func redirectTo(c echo.Context, status int, target string, params url.Values) error {
	u, err := url.Parse(target)
	if err != nil {
		return errorPage(c, http.StatusBadRequest, "", "invalid redirect URI")
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

// Browser cookies are scoped to the realm's path.
const (
	sessionCookie = "LATCHKEY_SESSION"
	csrfCookie    = "LATCHKEY_CSRF"
)

func (a *api) setCookie(c echo.Context, realm, name, value string, maxAge int) {
	c.SetCookie(&http.Cookie{
		Name: name, Value: value, Path: "/realms/" + realm + "/", MaxAge: maxAge,
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

// pageParams reads a browser page's parameters strictly: the query and,
// for a POST, the form body (application/x-www-form-urlencoded, at most
// 64 KiB, as for the OAuth endpoints). A problem comes back as the status
// and sentence of an error page; nothing has been done.
func pageParams(c echo.Context) (url.Values, int, string) {
	q, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return nil, http.StatusBadRequest, "The request could not be read."
	}
	if c.Request().Method != http.MethodPost {
		return q, 0, ""
	}
	body, oerr, err := readFormBody(c)
	switch {
	case errors.Is(err, errBodyTooLarge):
		return nil, http.StatusRequestEntityTooLarge, "The form is too large."
	case oerr != nil:
		return nil, http.StatusBadRequest, "The form could not be read: " + oerr.Description + "."
	case err != nil:
		return nil, http.StatusBadRequest, "The form could not be read."
	}
	for k, vs := range body {
		q[k] = append(q[k], vs...)
	}
	return q, 0, ""
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
