package handlers

import (
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// Compatibility profiles (domain.CompatProfiles) give a realm other
// products' paths, field names and answers for Latchkey's own endpoints.
// Each alias calls the same handler or the same command as the Latchkey
// endpoint it stands for, so it writes the same events; they carry the
// alias in "via". An alias exists only in a realm whose settings turn its
// profile on (compat): elsewhere it is 404, like any unknown path. The
// paths are under /realms/{realm}, and without it on a host the realm
// claims (or on the public URL's host for the default realm); they are
// documented in README.md ("Compatibility"), not in the admin API's
// OpenAPI document, which describes /admin.

// viaKey holds the alias a request came through.
const viaKey = "latchkey.via"

func (a *api) compatRoutes(e *echo.Echo) {
	const r = "/realms/:realm"
	admin := []echo.MiddlewareFunc{a.requireManagement, strictQuery, middleware.BodyLimit(maxJSONBody)}
	with := func(profile string, m ...echo.MiddlewareFunc) []echo.MiddlewareFunc {
		return slices.Concat(m, []echo.MiddlewareFunc{a.profile(profile)})
	}

	// Coralogix: <domain>/oauth2/{token,revoke,introspect,userinfo}.
	coralogix := with(domain.CompatCoralogix)
	e.POST(r+"/oauth2/token", a.token, coralogix...)
	e.POST(r+"/oauth2/revoke", a.revoke, coralogix...)
	e.POST(r+"/oauth2/introspect", a.introspect, coralogix...)
	e.GET(r+"/oauth2/userinfo", a.userinfo, coralogix...)
	e.POST(r+"/oauth2/userinfo", a.userinfo, coralogix...)

	// SeaCat Auth: its token endpoint and client API.
	e.POST(r+"/openidconnect/token", a.token, with(domain.CompatSeaCat)...)
	e.PUT(r+"/client/:client_id", a.seacatUpdateClient, with(domain.CompatSeaCat, admin...)...)
	e.POST(r+"/client/:client_id/reset_secret", a.seacatResetSecret, with(domain.CompatSeaCat, admin...)...)

	// Corral: client credentials of projects and apps.
	for _, kind := range []string{domain.NodeProject, domain.NodeApp} {
		base := r + "/api/" + kind + "s/:slug/client-credentials"
		e.POST(base, a.corralCreate(kind), with(domain.CompatCorral, admin...)...)
		e.POST(base+"/:client_id/regenerate-secret", a.corralRegenerate(kind), with(domain.CompatCorral, admin...)...)
	}
}

// profile admits a request only in a realm with the profile on, and marks
// it with the alias it came through.
func (a *api) profile(name string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			rl, err := a.realmOf(c)
			if err != nil {
				return err
			}
			if !rl.Settings().Has(name) {
				return echo.ErrNotFound
			}
			c.Set(viaKey, name+" "+c.Request().Method+" "+aliasPath(c.Path()))
			return next(c)
		}
	}
}

var routeParam = regexp.MustCompile(`:([a-z_]+)`)

// aliasPath is an alias's route as its product writes it: without the
// realm, parameters in braces ("/client/{client_id}"). It holds nothing
// from the request.
func aliasPath(route string) string {
	return routeParam.ReplaceAllString(strings.TrimPrefix(route, "/realms/:realm"), "{$1}")
}

// via is the alias the request came through; empty for Latchkey's own
// paths.
func via(c echo.Context) string {
	v, _ := c.Get(viaKey).(string)
	return v
}

// seacatUpdateClient is SeaCat Auth's PUT /client/{client_id}: only the
// attributes it names change (a merge, as Latchkey's PATCH), in SeaCat's
// names or Latchkey's; the answer is SeaCat's {"result": "OK"}.
func (a *api) seacatUpdateClient(c echo.Context) error {
	realm, id := c.Param("realm"), c.Param("client_id")
	c.SetParamNames("realm", "id") // the names changeClient reads
	c.SetParamValues(realm, id)
	if _, _, err := a.changeClient(c, true); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"result": "OK"})
}

// seacatResetSecret is SeaCat Auth's POST /client/{client_id}/reset_secret:
// Latchkey's rotate-secret with no overlap; the answer is SeaCat's
// {"client_secret": …}, shown this once.
func (a *api) seacatResetSecret(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	cl, err := rl.Clients().Get(c.Param("client_id"))
	if err != nil {
		return err
	}
	secret, err := rl.Clients().RotateSecret(c.Request().Context(), cl.ID, realms.Condition{}, 0, callerOf(c).meta(c, a))
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, map[string]string{"client_secret": secret})
}

// corralCredentials is Corral's answer: the client's id and, once, its
// secret.
type corralCredentials struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	Name         string `json:"name,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// corralScopes are Corral's spellings of the node-credential scopes.
var corralScopes = map[string]string{domain.ScopeManagement: "Management", "consumer": "Consumer"}

// corralNode is the project or app a Corral path names; a node of another
// kind is not found.
func corralNode(rl *realms.Realm, kind, slug string) (*domain.Node, error) {
	n, err := rl.Structure().Node(slug)
	if err != nil || n.Kind != kind {
		return nil, domain.NotFound(kind + " " + slug)
	}
	return n, nil
}

// corralCreate is Corral's POST /api/{projects|apps}/{slug}/client-credentials
// with an optional body {"name", "scope": "Management"|"Consumer"} (any
// case; Consumer when absent, the lesser of the two): Latchkey's node
// credentials of that project or app.
func (a *api) corralCreate(kind string) echo.HandlerFunc {
	return func(c echo.Context) error {
		rl, err := a.realmOf(c)
		if err != nil {
			return err
		}
		node, err := corralNode(rl, kind, c.Param("slug"))
		if err != nil {
			return err
		}
		var body struct {
			Name  string `json:"name"`
			Scope string `json:"scope"`
		}
		if c.Request().ContentLength != 0 {
			if err := bindJSON(c, &body); err != nil {
				return err
			}
		}
		scope := strings.ToLower(body.Scope)
		if scope == "" {
			scope = "consumer"
		}
		created, err := rl.Clients().NodeCredentials(c.Request().Context(), node.Slug, scope, body.Name, callerOf(c).meta(c, a))
		if err != nil {
			return err
		}
		noStore(c)
		return c.JSON(http.StatusCreated, corralCredentials{
			ClientID: created.Client.ID, ClientSecret: created.Secret, Name: created.Client.Name, Scope: corralScopes[scope],
		})
	}
}

// corralRegenerate is Corral's POST /api/{projects|apps}/{slug}/
// client-credentials/{clientId}/regenerate-secret: Latchkey's rotate-secret
// of a client the project or app owns, the old secret invalid at once.
func (a *api) corralRegenerate(kind string) echo.HandlerFunc {
	return func(c echo.Context) error {
		rl, err := a.realmOf(c)
		if err != nil {
			return err
		}
		node, err := corralNode(rl, kind, c.Param("slug"))
		if err != nil {
			return err
		}
		cl, err := rl.Clients().Get(c.Param("client_id"))
		if err != nil || cl.OwnerNode != node.Slug {
			return domain.NotFound("client credentials " + c.Param("client_id") + " of " + kind + " " + node.Slug)
		}
		secret, err := rl.Clients().RotateSecret(c.Request().Context(), cl.ID, realms.Condition{}, 0, callerOf(c).meta(c, a))
		if err != nil {
			return err
		}
		noStore(c)
		return c.JSON(http.StatusOK, corralCredentials{ClientID: cl.ID, ClientSecret: secret})
	}
}
