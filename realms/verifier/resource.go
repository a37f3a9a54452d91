package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// Resource protects an HTTP resource server (an API, an MCP server) with a
// Verifier, the way OAuth clients that discover their authorization server
// expect (RFC 9728, and MCP's authorization specification):
//
//   - it serves the protected-resource metadata, which names the resource,
//     the realm as its authorization server, its scopes and how to send a
//     token;
//
//   - a request without a valid token for this resource gets 401 with
//     WWW-Authenticate: Bearer resource_metadata="<metadata URL>", which
//     is how a client finds the realm; one lacking a scope gets 403
//     insufficient_scope naming the scopes it needs.
//
//     res := &verifier.Resource{Verifier: v, Identifier: "https://mcp.example.com/mcp", Scopes: []string{"mcp"}}
//     mux := http.NewServeMux()
//     res.Mount(mux)
//     mux.Handle("/mcp", res.Require("mcp")(mcpHandler))
type Resource struct {
	// Verifier checks tokens: a *Verifier, whose Audience is Identifier.
	Verifier TokenVerifier
	// AuthorizationServer is the realm's issuer (authorization_servers);
	// empty takes the Verifier's Issuer.
	AuthorizationServer string
	// Identifier is the resource's identifier as registered in the realm:
	// the resource clients ask tokens for, and the tokens' aud. It must be
	// the Verifier's Audience.
	Identifier string
	// Name is shown to people (resource_name); optional.
	Name string
	// Scopes are the scopes the resource accepts (scopes_supported).
	Scopes []string
}

// TokenVerifier verifies access tokens; *Verifier is one.
type TokenVerifier interface {
	Verify(token string) (*Claims, error)
}

// Issuer is the realm's issuer URL the verifier trusts.
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// authorizationServer is the issuer the metadata names.
func (r *Resource) authorizationServer() string {
	if r.AuthorizationServer != "" {
		return r.AuthorizationServer
	}
	if v, ok := r.Verifier.(*Verifier); ok {
		return v.Issuer()
	}
	return ""
}

// wellKnown is RFC 9728's well-known path.
const wellKnown = "/.well-known/oauth-protected-resource"

// MetadataPath is where the metadata is served: the well-known path, with
// the identifier's path after it (RFC 9728 §3.1).
func (r *Resource) MetadataPath() string {
	u, err := url.Parse(r.Identifier)
	if err != nil {
		return wellKnown
	}
	return wellKnown + strings.TrimSuffix(u.EscapedPath(), "/")
}

// MetadataURL is the metadata's absolute URL, named in every challenge.
func (r *Resource) MetadataURL() string {
	u, err := url.Parse(r.Identifier)
	if err != nil {
		return r.Identifier
	}
	return u.Scheme + "://" + u.Host + r.MetadataPath()
}

// metadata is RFC 9728 §2's document.
type metadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
}

// ServeMetadata answers with the protected-resource metadata.
func (r *Resource) ServeMetadata(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*") // public, and read by browser-based clients
	_ = json.NewEncoder(w).Encode(metadata{
		Resource: r.Identifier, AuthorizationServers: []string{r.authorizationServer()},
		ScopesSupported: r.Scopes, BearerMethodsSupported: []string{"header"}, ResourceName: r.Name,
	})
}

// Mount serves the metadata on mux at MetadataPath and, for clients that
// look at the host's root, at the bare well-known path too.
func (r *Resource) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET "+r.MetadataPath(), r.ServeMetadata)
	if r.MetadataPath() != wellKnown {
		mux.HandleFunc("GET "+wellKnown, r.ServeMetadata)
	}
}

type claimsKey struct{}

// ClaimsFrom returns the verified claims Require put in a request's
// context.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// Require admits requests bearing a valid token for this resource with
// every one of scopes; the claims are in the request's context
// (ClaimsFrom). Otherwise: 401 (no token, or an invalid, expired, revoked
// or other resource's token), 403 insufficient_scope, or 503 while the
// revocation feed is stale.
func (r *Resource) Require(scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			token, ok := bearerToken(req)
			if !ok {
				r.challenge(w, http.StatusUnauthorized, "", "", scopes)
				return
			}
			claims, err := r.Verifier.Verify(token)
			switch {
			case errors.Is(err, ErrStale):
				// The token may be fine; whether it was revoked cannot be
				// known now. Not a 401: the client should retry, not sign in.
				w.Header().Set("Retry-After", "5")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": "temporarily_unavailable", "error_description": "tokens cannot be checked right now"})
				return
			case errors.Is(err, ErrRevoked):
				r.challenge(w, http.StatusUnauthorized, "invalid_token", "the access token has been revoked", scopes)
				return
			case err != nil:
				r.challenge(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired, revoked or for another resource", scopes)
				return
			}
			held := strings.Fields(claims.Scope)
			for _, s := range scopes {
				if !contains(held, s) {
					r.challenge(w, http.StatusForbidden, "insufficient_scope", "the access token lacks scope "+s, scopes)
					return
				}
			}
			next.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), claimsKey{}, claims)))
		})
	}
}

// challenge answers with RFC 6750's WWW-Authenticate, naming the metadata.
func (r *Resource) challenge(w http.ResponseWriter, status int, code, desc string, scopes []string) {
	params := []string{`resource_metadata="` + r.MetadataURL() + `"`}
	if code != "" {
		params = append(params, `error="`+code+`"`, `error_description="`+desc+`"`)
	}
	if len(scopes) > 0 {
		params = append(params, `scope="`+strings.Join(scopes, " ")+`"`)
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if code == "" {
		code, desc = "invalid_token", "a bearer access token is required"
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// bearerToken reads "Authorization: Bearer <token>".
func bearerToken(req *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
