package handlers

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
)

// Routing by host: a request whose Host a realm claims reaches that realm
// without /realms/<realm> in its path (its path is rewritten before
// routing, so every route and alias serves it unchanged), and that host
// serves no other realm. On the public URL's own host, the default realm
// (if the server names one) serves paths without a realm. Any other Host
// routes nothing by itself: paths without a realm are 404 there.

// hostRealmKey holds, on a request to a claimed host, the realm claiming it.
const hostRealmKey = "latchkey.host_realm"

// serverPaths belong to the server, whatever the host.
var serverPaths = []string{"/admin/", "/console/", "/healthz", "/readyz", "/metrics"}

func isServerPath(path string) bool {
	for _, p := range serverPaths {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return path == "/admin" || path == "/console"
}

// routeByHost is the pre-routing middleware of host routing.
func (a *api) routeByHost(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if a.reg == nil || isServerPath(req.URL.Path) {
			return next(c)
		}
		realm, claimed := "", false
		if host := domain.NormalizeHost(req.Host); host == a.reg.PrimaryHost() {
			realm = a.defaultRealm
		} else {
			realm, claimed = a.reg.RealmOfHost(req.Context(), host)
		}
		if realm == "" {
			return next(c)
		}
		if claimed {
			c.Set(hostRealmKey, realm)
		}
		switch path := req.URL.Path; {
		case path == wellKnownAS: // RFC 8414 §3.1, for an issuer without a path
			req.URL.Path, req.URL.RawPath = wellKnownAS+"/realms/"+realm, ""
		case strings.HasPrefix(path, "/realms/"), strings.HasPrefix(path, wellKnownAS+"/"):
			// names a realm: served when it is this one (servesRealm)
		default:
			req.URL.Path = "/realms/" + realm + path
			if req.URL.RawPath != "" {
				req.URL.RawPath = "/realms/" + realm + req.URL.RawPath
			}
		}
		return next(c)
	}
}

// wellKnownAS is RFC 8414's metadata path, before the issuer's path.
const wellKnownAS = "/.well-known/oauth-authorization-server"

// servesRealm reports whether the request may reach realm: on a claimed
// host, only the realm claiming it.
func servesRealm(c echo.Context, realm string) bool {
	claimant, ok := c.Get(hostRealmKey).(string)
	return !ok || claimant == realm
}

// hostRouted reports whether the request came to a host its realm claims.
func hostRouted(c echo.Context) bool {
	_, ok := c.Get(hostRealmKey).(string)
	return ok
}
