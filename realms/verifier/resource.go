package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkeyhq/latchkey/domain"
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
//     insufficient_scope naming the scopes it needs;
//
//   - a DPoP-bound token (RFC 9449) is accepted only as
//     "Authorization: DPoP <token>" with a proof of its key for this
//     request; its refusals are DPoP challenges (invalid_token, or
//     invalid_dpop_proof for a bad proof) naming the algorithms proofs may
//     use.
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
	// PublicURL is the URL clients reach this server's root at, as they
	// name it in DPoP proofs (htu is PublicURL followed by the request's
	// path); empty: the Identifier's scheme and host. Set it when a proxy
	// in front of the server adds a path prefix or another host.
	PublicURL string
	// RequireDPoP refuses tokens not bound to a DPoP key; the metadata
	// says so (dpop_bound_access_tokens_required).
	RequireDPoP bool
}

// TokenVerifier verifies access tokens: Verify those presented as Bearer,
// VerifyDPoP those presented as DPoP with a proof; *Verifier is one.
type TokenVerifier interface {
	Verify(token string) (*Claims, error)
	VerifyDPoP(DPoPRequest) (*Claims, error)
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

// requestURL is the URL a request was sent to as clients name it: what a
// DPoP proof's htu must name.
func (r *Resource) requestURL(req *http.Request) string {
	base := strings.TrimRight(r.PublicURL, "/")
	if base == "" {
		if u, err := url.Parse(r.Identifier); err == nil {
			base = u.Scheme + "://" + u.Host
		}
	}
	return base + req.URL.EscapedPath()
}

// metadata is RFC 9728 §2's document.
type metadata struct {
	Resource                      string   `json:"resource"`
	AuthorizationServers          []string `json:"authorization_servers"`
	ScopesSupported               []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported        []string `json:"bearer_methods_supported"`
	ResourceName                  string   `json:"resource_name,omitempty"`
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
	DPoPBoundAccessTokensRequired bool     `json:"dpop_bound_access_tokens_required,omitempty"`
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
		DPoPSigningAlgValuesSupported: domain.DPoPAlgs, DPoPBoundAccessTokensRequired: r.RequireDPoP,
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
// or other resource's token, or a DPoP-bound one without a valid proof of
// its key), 403 insufficient_scope, or 503 while the revocation feed is
// stale.
func (r *Resource) Require(scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			scheme, token := presentedToken(req)
			// The challenge speaks the scheme the client used, or must use.
			ch := challenge{scopes: scopes, dpop: scheme == schemeDPoP || r.RequireDPoP}
			var claims *Claims
			var err error
			switch {
			case scheme == "":
				r.refuse(w, http.StatusUnauthorized, ch)
				return
			case scheme == schemeBearer && r.RequireDPoP:
				ch.code, ch.desc = "invalid_token", "this resource accepts only DPoP-bound access tokens"
				r.refuse(w, http.StatusUnauthorized, ch)
				return
			case scheme == schemeBearer:
				claims, err = r.Verifier.Verify(token)
			default:
				claims, err = r.Verifier.VerifyDPoP(DPoPRequest{Token: token, Proofs: req.Header.Values("DPoP"), Method: req.Method, URL: r.requestURL(req)})
			}
			var refusal *dpopError
			switch {
			case errors.Is(err, ErrStale):
				// The token may be fine; whether it was revoked cannot be
				// known now. Not a 401: the client should retry, not sign in.
				w.Header().Set("Retry-After", "5")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": "temporarily_unavailable", "error_description": "tokens cannot be checked right now"})
				return
			case errors.As(err, &refusal):
				// A bound token sent as Bearer is answered in the scheme
				// it needs.
				ch.dpop, ch.code, ch.desc = true, "invalid_token", refusal.desc
				if errors.Is(err, ErrDPoPProof) {
					ch.code = "invalid_dpop_proof"
				}
				r.refuse(w, http.StatusUnauthorized, ch)
				return
			case errors.Is(err, ErrRevoked):
				ch.code, ch.desc = "invalid_token", "the access token has been revoked"
				r.refuse(w, http.StatusUnauthorized, ch)
				return
			case err != nil:
				ch.code, ch.desc = "invalid_token", "the access token is invalid, expired, revoked or for another resource"
				r.refuse(w, http.StatusUnauthorized, ch)
				return
			}
			held := strings.Fields(claims.Scope)
			for _, s := range scopes {
				if !contains(held, s) {
					ch.code, ch.desc = "insufficient_scope", "the access token lacks scope "+s
					r.refuse(w, http.StatusForbidden, ch)
					return
				}
			}
			next.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), claimsKey{}, claims)))
		})
	}
}

// challenge is what a refusal's WWW-Authenticate says: its scheme (DPoP
// or Bearer), the error and why, and the scopes the request needed.
type challenge struct {
	dpop       bool
	code, desc string
	scopes     []string
}

// refuse answers with a challenge naming the metadata: RFC 6750's Bearer,
// or RFC 9449 §7.1's DPoP with the algorithms proofs may use.
func (r *Resource) refuse(w http.ResponseWriter, status int, ch challenge) {
	params := []string{`resource_metadata="` + r.MetadataURL() + `"`}
	if ch.code != "" {
		params = append(params, `error="`+ch.code+`"`, `error_description="`+quotable(ch.desc)+`"`)
	}
	if len(ch.scopes) > 0 {
		params = append(params, `scope="`+strings.Join(ch.scopes, " ")+`"`)
	}
	scheme := schemeBearer
	if ch.dpop {
		scheme = schemeDPoP
		params = append(params, `algs="`+strings.Join(domain.DPoPAlgs, " ")+`"`)
	}
	w.Header().Set("WWW-Authenticate", scheme+" "+strings.Join(params, ", "))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	code, desc := ch.code, ch.desc
	if code == "" {
		code, desc = "invalid_token", "an access token is required"
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// quotable keeps a description inside its quoted-string: the reasons
// realms/dpop and the domain give may name a URL, never a quote, but a
// header must not be broken whatever they say.
func quotable(s string) string {
	return strings.NewReplacer(`"`, "'", `\`, "/", "\r", " ", "\n", " ").Replace(s)
}

// The schemes a token is presented under (RFC 6750 §2.1, RFC 9449 §7.1).
const (
	schemeBearer = "Bearer"
	schemeDPoP   = "DPoP"
)

// presentedToken reads "Authorization: Bearer <token>" or "DPoP <token>":
// the scheme as spelled here, or "" for none or another.
func presentedToken(req *http.Request) (scheme, token string) {
	s, token, _ := strings.Cut(req.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	switch {
	case token == "":
		return "", ""
	case strings.EqualFold(s, schemeBearer):
		return schemeBearer, token
	case strings.EqualFold(s, schemeDPoP):
		return schemeDPoP, token
	}
	return "", ""
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
