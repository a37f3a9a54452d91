package handlers

import (
	"log/slog"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkeyhq/latchkey/realms"
)

// Config wires the HTTP surface to the rest of the service.
type Config struct {
	Registry *realms.Registry
	Log      *slog.Logger
	// Waiting says what start-up still waits for (provisioning, catching
	// up the read models); empty once ready. Nil: always ready.
	Waiting func() string
	// Now is the clock; tests may fix it.
	Now func() time.Time
	// Metrics registers the HTTP metrics; nil uses a private registry.
	Metrics *prometheus.Registry
	// DefaultRealm serves paths without a realm on the public URL's host.
	DefaultRealm string
}

// api holds what every handler needs.
type api struct {
	reg     *realms.Registry
	log     *slog.Logger
	now     func() time.Time
	waiting func() string
	metrics *metrics
	// defaultRealm serves paths without a realm on the public URL's host.
	defaultRealm string
}

// New builds the echo server with every route.
func New(cfg Config) *echo.Echo {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Waiting == nil {
		cfg.Waiting = func() string { return "" }
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	a := &api{reg: cfg.Registry, log: cfg.Log, now: cfg.Now, waiting: cfg.Waiting, metrics: newMetrics(cfg.Metrics), defaultRealm: cfg.DefaultRealm}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// The peer address is the client's IP; forwarded headers are not
	// trusted unless a proxy setup says so.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = httpErrorHandler(cfg.Log)
	e.Pre(a.routeByHost)
	e.Use(dropCallerRequestID, middleware.RequestID())
	e.Use(a.observe)
	e.Use(a.securityHeaders)
	e.Use(middleware.Recover())

	e.GET("/healthz", a.healthz)
	e.GET("/readyz", a.readyz)
	e.GET("/metrics", a.metrics.handler(cfg.Metrics))
	e.GET("/admin/openapi.json", openAPIDocument) // public: outside the admin group's authentication

	a.oauthRoutes(e)
	a.adminRoutes(e)
	a.compatRoutes(e)
	a.consoleRoutes(e)
	return e
}

func (a *api) oauthRoutes(e *echo.Echo) {
	r := e.Group("/realms/:realm")
	r.GET("/.well-known/openid-configuration", a.discovery)
	r.POST("/protocol/openid-connect/token", a.token)
	r.POST("/protocol/openid-connect/token/introspect", a.introspect)
	r.POST("/protocol/openid-connect/revoke", a.revoke)
	r.GET("/protocol/openid-connect/certs", a.certs)
	r.GET("/protocol/openid-connect/auth", a.authorize)
	r.POST("/protocol/openid-connect/auth", a.authorize)
	r.POST(devicePath, a.deviceAuthorization)
	r.GET(verificationPath, a.devicePage)
	r.POST(verificationPath, a.devicePage)
	r.POST(parPath, a.pushAuthorization)
	r.POST("/login-actions/authenticate", a.signIn)
	r.POST("/login-actions/consent", a.consent)
	r.GET("/protocol/openid-connect/userinfo", a.userinfo)
	r.POST("/protocol/openid-connect/userinfo", a.userinfo)
	r.GET("/protocol/openid-connect/logout", a.logout)
	r.POST("/protocol/openid-connect/logout", a.logout)
	r.POST(registrationPath, a.register)
	r.GET(registrationPath+"/:client_id", a.registered)
	r.PUT(registrationPath+"/:client_id", a.registered)
	r.DELETE(registrationPath+"/:client_id", a.registered)
	e.GET("/.well-known/oauth-authorization-server/realms/:realm", a.discovery)
}

func (a *api) adminRoutes(e *echo.Echo) {
	g := e.Group("/admin", a.requireManagement, strictQuery, unescapeParams, middleware.BodyLimit(maxJSONBody))
	g.POST("/realms", a.createRealm)
	g.GET("/realms", a.listRealms)
	g.GET("/realms/:realm", a.getRealm)
	g.POST("/realms/:realm/keys/rotate", a.rotateKeys)
	g.PUT("/realms/:realm/settings", a.updateSettings)
	g.PATCH("/realms/:realm/settings", a.updateSettings)
	g.POST("/realms/:realm/clients", a.createClient)
	g.GET("/realms/:realm/clients", a.listClients)
	g.POST("/realms/:realm/clients/bulk-delete", a.bulkDeleteClients)
	g.GET("/realms/:realm/clients/:id", a.getClient)
	g.PUT("/realms/:realm/clients/:id", a.updateClient)
	g.PATCH("/realms/:realm/clients/:id", a.updateClient)
	g.DELETE("/realms/:realm/clients/:id", a.deleteClient)
	g.POST("/realms/:realm/clients/:id/rotate-secret", a.rotateSecret)
	g.POST("/realms/:realm/clients/:id/disable", a.setEnabled(false))
	g.POST("/realms/:realm/clients/:id/enable", a.setEnabled(true))
	g.POST("/realms/:realm/nodes", a.createNode)
	g.GET("/realms/:realm/nodes", a.listNodes)
	g.GET("/realms/:realm/nodes/:slug", a.getNode)
	g.PATCH("/realms/:realm/nodes/:slug", a.renameNode)
	g.DELETE("/realms/:realm/nodes/:slug", a.deleteNode)
	g.POST("/realms/:realm/nodes/:slug/client-credentials", a.nodeCredentials)
	g.GET("/realms/:realm/scopes", a.listScopes)
	g.PUT("/realms/:realm/scopes/:name", a.defineScope)
	g.DELETE("/realms/:realm/scopes/:name", a.removeScope)
	g.GET("/realms/:realm/events", a.listEvents)
	g.GET("/realms/:realm/audit", a.listAudit)
	g.GET("/realms/:realm/audit/stream", a.streamAudit)
	g.GET("/realms/:realm/audit/verify", a.verifyHistory)
	g.GET("/realms/:realm/sessions", a.listSessions)
	g.DELETE("/realms/:realm/tokens/:jti", a.revokeTokenByAdmin)
	g.POST("/realms/:realm/clients/:id/revoke-tokens", a.revokeClientTokens)
	g.POST("/realms/:realm/users", a.createUser)
	g.GET("/realms/:realm/users", a.listUsers)
	g.GET("/realms/:realm/users/:id", a.getUser)
	g.PUT("/realms/:realm/users/:id", a.updateUser)
	g.DELETE("/realms/:realm/users/:id", a.deleteUser)
	g.PUT("/realms/:realm/users/:id/password", a.setUserPassword)
	g.PUT("/realms/:realm/users/:id/memberships", a.setUserMemberships)
	g.PUT("/realms/:realm/users/:id/realm-roles", a.setUserRealmRoles)
	g.POST("/realms/:realm/users/:id/disable", a.setUserEnabled(false))
	g.POST("/realms/:realm/users/:id/enable", a.setUserEnabled(true))
	g.POST("/realms/:realm/users/:id/unlock", a.unlockUser)
	g.GET("/realms/:realm/resources", a.listResources)
	g.POST("/realms/:realm/resources", a.createResource)
	g.GET("/realms/:realm/resources/:id", a.getResource)
	g.PUT("/realms/:realm/resources/:id", a.updateResource)
	g.DELETE("/realms/:realm/resources/:id", a.deleteResource)
	g.GET("/realms/:realm/client-registration", a.getClientRegistration)
	g.PUT("/realms/:realm/client-registration", a.setClientRegistration)
	g.GET("/realms/:realm/initial-access-tokens", a.listInitialTokens)
	g.POST("/realms/:realm/initial-access-tokens", a.createInitialToken)
	g.DELETE("/realms/:realm/initial-access-tokens/:id", a.revokeInitialToken)
	g.GET("/realms/:realm/ui-sessions", a.listUISessions)
	g.DELETE("/realms/:realm/ui-sessions", a.endUISessions)
	g.DELETE("/realms/:realm/ui-sessions/:id", a.endUISession)
}

// unescapeParams decodes percent-escapes in path parameters: a client
// known by URL is addressed as /clients/https%3A%2F%2F…; a parameter
// that does not decode is left as sent (and names nothing).
func unescapeParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		values := c.ParamValues()
		for i, v := range values {
			if u, err := url.PathUnescape(v); err == nil {
				values[i] = u
			}
		}
		c.SetParamValues(values...)
		return next(c)
	}
}

// dropCallerRequestID removes an X-Request-Id the caller sent, so that the
// id in logs, events and the audit log is always the server's own: a
// caller's could repeat another request's id, or be any length.
func dropCallerRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Request().Header.Del(echo.HeaderXRequestID)
		return next(c)
	}
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}
