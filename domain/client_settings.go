package domain

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Client types, kinds, presets and team selection modes.
const (
	ClientConfidential = "confidential"
	ClientPublic       = "public"

	KindService = "service"
	KindUserApp = "user_app"

	PresetReadOnly = "read_only"
	PresetFull     = "full"

	TeamsSingle   = "single"
	TeamsMultiple = "multiple"

	AuthSecretBasic = "client_secret_basic"
	AuthSecretPost  = "client_secret_post"
	AuthNone        = "none"
	// AuthPrivateKeyJWT: the client signs an assertion with its own key
	// (RFC 7523 §2.2, OpenID Connect Core §9); it has no secret.
	AuthPrivateKeyJWT = "private_key_jwt"
)

// Roles, weakest first; a role on a node holds on everything below it.
var Roles = []string{"viewer", "editor", "admin"}

// Lifetimes in seconds: defaults are Keycloak's and Hydra's (1 h access,
// 7 days refresh).
const (
	DefaultAccessTokenLifetime  = 3600
	MinAccessTokenLifetime      = 60
	MaxAccessTokenLifetime      = 24 * 3600
	DefaultRefreshTokenLifetime = 7 * 24 * 3600
	MaxRefreshTokenLifetime     = 365 * 24 * 3600
	MaxRefreshReuseGrace        = 60
	// HighRiskAccessLifetime: full access beyond it needs confirmation.
	HighRiskAccessLifetime = 3600
)

var supportedGrants = []string{GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken, GrantDeviceCode}

// RoleAssignment gives a service client a role on a node, as a membership
// gives a user one.
type RoleAssignment = Membership

// ClientSettings are everything an administrator sets on a client. The
// JSON names are the admin API's.
type ClientSettings struct {
	Name                    string   `json:"name"`
	Description             string   `json:"description"`
	Type                    string   `json:"type"`
	Kind                    string   `json:"kind"`
	GrantTypes              []string `json:"grant_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Scopes                  []string `json:"scopes"`
	// OptionalScopes are granted only when a request names them; Scopes
	// are the default ones (Keycloak's default and optional client
	// scopes, see grantScopes).
	OptionalScopes       []string         `json:"optional_scopes"`
	AccessPreset         string           `json:"access_preset"`
	TeamSelection        string           `json:"team_selection"`
	TeamRestrictions     []string         `json:"team_restrictions"`
	OwnerNode            string           `json:"owner_node"`
	RedirectURIs         []string         `json:"redirect_uris"`
	AccessTokenLifetime  int64            `json:"access_token_lifetime"`
	IssueRefreshTokens   bool             `json:"issue_refresh_tokens"`
	RefreshTokenLifetime int64            `json:"refresh_token_lifetime"`
	RefreshReuseGrace    int64            `json:"refresh_reuse_grace"`
	Roles                []RoleAssignment `json:"roles"`
	// IDTokenAlg signs the client's ID tokens: RS256 (default) or ES256.
	IDTokenAlg string `json:"id_token_signed_response_alg"`
	// PostLogoutRedirectURIs are where RP-initiated logout may return to.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	// JWKS or JWKSURI (one of them) holds the public keys a
	// private_key_jwt client signs its assertions with.
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI string          `json:"jwks_uri,omitempty"`
	// DPoPBoundAccessTokens: the client always proves possession of a key
	// (DPoP, RFC 9449 §5.2); a token request without a proof is refused.
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens"`
	// RequirePAR: the client's authorization requests must be pushed
	// first (RFC 9126 §6); the realm's setting of the same name requires
	// it of every client.
	RequirePAR bool `json:"require_pushed_authorization_requests"`
}

// Nodes lists every node the settings refer to: team restrictions, the
// owner node and the nodes of roles.
func (s ClientSettings) Nodes() []string {
	out := slices.Clone(s.TeamRestrictions)
	if s.OwnerNode != "" {
		out = append(out, s.OwnerNode)
	}
	for _, r := range s.Roles {
		out = append(out, r.Node)
	}
	return out
}

// Normalize fills every unset setting with its default.
func (s *ClientSettings) Normalize() {
	s.Name = strings.TrimSpace(s.Name)
	if s.Type == "" {
		s.Type = ClientConfidential
	}
	if s.Kind == "" {
		s.Kind = inferKind(s)
	}
	if len(s.GrantTypes) == 0 {
		s.GrantTypes = []string{GrantClientCredentials}
		if s.Kind == KindUserApp {
			s.GrantTypes = []string{GrantAuthorizationCode}
		}
	}
	if slices.Contains(s.GrantTypes, GrantRefreshToken) {
		s.IssueRefreshTokens = true
	}
	if s.IssueRefreshTokens && !slices.Contains(s.GrantTypes, GrantRefreshToken) {
		s.GrantTypes = append(slices.Clone(s.GrantTypes), GrantRefreshToken)
	}
	if s.TokenEndpointAuthMethod == "" {
		s.TokenEndpointAuthMethod = AuthSecretBasic
		if s.Type == ClientPublic {
			s.TokenEndpointAuthMethod = AuthNone
		}
	}
	s.AccessPreset = orDefault(s.AccessPreset, PresetReadOnly)
	s.TeamSelection = orDefault(s.TeamSelection, TeamsSingle)
	if s.AccessTokenLifetime == 0 {
		s.AccessTokenLifetime = DefaultAccessTokenLifetime
	}
	if s.RefreshTokenLifetime == 0 {
		s.RefreshTokenLifetime = DefaultRefreshTokenLifetime
	}
	s.GrantTypes = dedupe(s.GrantTypes)
	s.Scopes = dedupe(nonNil(s.Scopes))
	s.OptionalScopes = dedupe(nonNil(s.OptionalScopes))
	s.TeamRestrictions = dedupe(nonNil(s.TeamRestrictions))
	s.RedirectURIs = dedupe(nonNil(s.RedirectURIs))
	if s.Roles == nil {
		s.Roles = []RoleAssignment{}
	}
	s.IDTokenAlg = orDefault(s.IDTokenAlg, AlgRS256)
	s.PostLogoutRedirectURIs = dedupe(nonNil(s.PostLogoutRedirectURIs))
}

// inferKind is the kind of a client registered without one: a user_app when
// it is public, has the code grant, or has redirect URIs and is not given
// client credentials alone (redirect URIs serve only the code flow); a
// service client otherwise. A combination that cannot work is left for
// Validate to refuse with its reason, never made to fit.
func inferKind(s *ClientSettings) string {
	codeFlow := slices.Contains(s.GrantTypes, GrantAuthorizationCode) || slices.Contains(s.GrantTypes, GrantDeviceCode)
	credentialsOnly := slices.Contains(s.GrantTypes, GrantClientCredentials) && !codeFlow
	if s.Type == ClientPublic || codeFlow || len(s.RedirectURIs) > 0 && !credentialsOnly {
		return KindUserApp
	}
	return KindService
}

// AllScopes are the scopes the client may be given: default and optional.
func (s *ClientSettings) AllScopes() []string {
	return append(slices.Clone(s.Scopes), s.OptionalScopes...)
}

// Validate checks settings against the realm's scope catalog and tree, in a
// realm that keeps client credentials and the code grant apart.
func (s *ClientSettings) Validate(catalog Catalog, tree Tree) error {
	return s.ValidateIn(ClientContext{Catalog: catalog, Tree: tree})
}

// ValidateIn checks settings against what a realm allows. All problems are
// reported together.
func (s *ClientSettings) ValidateIn(rc ClientContext) error {
	catalog, tree := rc.Catalog, rc.Tree
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if !IsDisplayText(s.Name, 200) {
		bad("name is required: at most 200 characters, one line, no control or format characters")
	}
	if s.Description != "" && !isDescriptionText(s.Description, 2000) {
		bad("description is at most 2000 characters, with no control or format characters but line breaks")
	}
	oneOf := func(field, v string, allowed ...string) {
		if !slices.Contains(allowed, v) {
			bad("%s must be one of %s, not %q", field, strings.Join(allowed, ", "), v)
		}
	}
	oneOf("type", s.Type, ClientConfidential, ClientPublic)
	oneOf("kind", s.Kind, KindService, KindUserApp)
	oneOf("access_preset", s.AccessPreset, PresetReadOnly, PresetFull)
	oneOf("team_selection", s.TeamSelection, TeamsSingle, TeamsMultiple)
	for _, g := range s.GrantTypes {
		oneOf("each of grant_types", g, supportedGrants...)
	}
	switch s.Type {
	case ClientPublic:
		oneOf("token_endpoint_auth_method of a public client", s.TokenEndpointAuthMethod, AuthNone)
		if slices.Contains(s.GrantTypes, GrantClientCredentials) {
			bad("a public client cannot use client_credentials: it has no secret")
		}
	case ClientConfidential:
		oneOf("token_endpoint_auth_method of a confidential client", s.TokenEndpointAuthMethod, AuthSecretBasic, AuthSecretPost, AuthPrivateKeyJWT)
	}
	problems = append(problems, s.keyProblems()...)
	problems = append(problems, s.grantProblems(rc.MixedGrants)...)
	for _, sc := range s.AllScopes() {
		if !catalog.Has(sc) {
			bad("scope %q is not in the realm's scope catalog", sc)
		}
	}
	for _, sc := range s.OptionalScopes {
		if slices.Contains(s.Scopes, sc) {
			bad("scope %q is both a default and an optional scope: name it in one list", sc)
		}
	}
	for _, slug := range s.TeamRestrictions {
		if n, ok := tree.Get(slug); !ok || (n.Kind != NodeOrganization && n.Kind != NodeTeam) {
			bad("team restriction %q is not an organization or team of this realm", slug)
		}
	}
	if s.OwnerNode != "" {
		if _, ok := tree.Get(s.OwnerNode); !ok {
			bad("owner_node %q is not a node of this realm", s.OwnerNode)
		}
	}
	for _, r := range s.Roles {
		oneOf("role", r.Role, Roles...)
		if _, ok := tree.Get(r.Node); !ok {
			bad("role node %q is not a node of this realm", r.Node)
		} else if s.OwnerNode != "" && !tree.Within(r.Node, s.OwnerNode) {
			bad("role node %q is outside the owner node %q", r.Node, s.OwnerNode)
		}
	}
	if slices.Contains(s.GrantTypes, GrantAuthorizationCode) && len(s.RedirectURIs) == 0 {
		bad("authorization_code needs at least one redirect URI")
	}
	if invalid := InvalidRedirectURIs(s.RedirectURIs); len(invalid) > 0 {
		bad("invalid redirect URIs: %s", strings.Join(invalid, "; "))
	}
	if invalid := InvalidRedirectURIs(s.PostLogoutRedirectURIs); len(invalid) > 0 {
		bad("invalid post-logout redirect URIs: %s", strings.Join(invalid, "; "))
	}
	oneOf("id_token_signed_response_alg", s.IDTokenAlg, AlgRS256, AlgES256)
	between := func(field string, v, lo, hi int64) {
		if v < lo || v > hi {
			bad("%s must be between %d and %d seconds", field, lo, hi)
		}
	}
	between("access_token_lifetime", s.AccessTokenLifetime, MinAccessTokenLifetime, MaxAccessTokenLifetime)
	between("refresh_token_lifetime", s.RefreshTokenLifetime, MinAccessTokenLifetime, MaxRefreshTokenLifetime)
	between("refresh_reuse_grace", s.RefreshReuseGrace, 0, MaxRefreshReuseGrace)
	if len(problems) > 0 {
		return &ValidationError{Field: "client", Message: strings.Join(problems, "; "), Details: problems}
	}
	return nil
}

// grantProblems lists what cannot work in a client's kind and grants. A
// realm whose profile allows mixed grants (seacat, keycloak) lets one
// client hold client credentials (as itself) and the code grant (for its
// users); its roles then serve its own tokens.
func (s *ClientSettings) grantProblems(mixed bool) []string {
	var problems []string
	credentials := slices.Contains(s.GrantTypes, GrantClientCredentials)
	code := slices.Contains(s.GrantTypes, GrantAuthorizationCode)
	device := slices.Contains(s.GrantTypes, GrantDeviceCode)
	const both = " (a realm with the seacat or keycloak profile lets one client hold both)"
	switch s.Kind {
	case KindService:
		if code && !mixed {
			problems = append(problems, "a service client acts as itself: use kind user_app for authorization_code"+both)
		}
		if device {
			problems = append(problems, "a service client acts as itself: use kind user_app for the device grant, through which users sign in")
		}
		if len(s.RedirectURIs) > 0 && !code {
			problems = append(problems, "a service client gets its tokens with client_credentials and is never redirected to: drop redirect_uris, or add the authorization_code grant that uses them (kind user_app)")
		}
	case KindUserApp:
		if credentials && !mixed {
			problems = append(problems, "a user_app acts for users: use kind service for client_credentials"+both)
		}
		if len(s.Roles) > 0 && !(mixed && credentials) {
			problems = append(problems, "roles are for service clients; a user_app gets the authorizing user's roles")
		}
	}
	return problems
}

// Warning is advice returned with a client's settings.
type Warning struct {
	Level   string `json:"level"` // info, warning, high
	Message string `json:"message"`
}

// Refresh-token lifetimes beyond these many days get a security warning,
// and a high-severity one.
const (
	RefreshWarningDays = 30
	RefreshHighDays    = 90
)

// Warnings grades a client's refresh-token lifetime: informational up to
// 30 days, a security warning up to 90 days, high severity beyond.
func (s *ClientSettings) Warnings() []Warning {
	if !s.IssueRefreshTokens {
		return []Warning{}
	}
	days := float64(s.RefreshTokenLifetime) / 86400
	switch {
	case days <= RefreshWarningDays:
		return []Warning{{Level: "info", Message: fmt.Sprintf("refresh tokens stay usable for %.3g days", days)}}
	case days <= RefreshHighDays:
		return []Warning{{Level: "warning", Message: fmt.Sprintf("refresh tokens stay usable for %.3g days: a leaked one gives long access; prefer 30 days or less", days)}}
	}
	return []Warning{{Level: "high", Message: fmt.Sprintf("refresh tokens stay usable for %.3g days: rotate credentials on a schedule or shorten the lifetime", days)}}
}

// HasSecret reports whether the client authenticates with a secret: a
// confidential client, unless it signs assertions with its own key.
func (s *ClientSettings) HasSecret() bool {
	return s.Type == ClientConfidential && s.TokenEndpointAuthMethod != AuthPrivateKeyJWT
}

// HighRisk reports a combination that needs explicit confirmation: full
// access with access tokens living longer than an hour.
func (s *ClientSettings) HighRisk() bool {
	return s.AccessPreset == PresetFull && s.AccessTokenLifetime > HighRiskAccessLifetime
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func dedupe(s []string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// keyProblems checks the public keys of a private_key_jwt client: exactly
// one of jwks and jwks_uri, and none for any other method.
func (s *ClientSettings) keyProblems() []string {
	hasJWKS := len(s.JWKS) > 0 && string(s.JWKS) != "null"
	if s.TokenEndpointAuthMethod != AuthPrivateKeyJWT {
		if hasJWKS || s.JWKSURI != "" {
			return []string{"jwks and jwks_uri are for clients with token_endpoint_auth_method private_key_jwt"}
		}
		return nil
	}
	switch {
	case hasJWKS && s.JWKSURI != "":
		return []string{"give jwks or jwks_uri, not both"}
	case hasJWKS:
		if problem := JWKSProblem(s.JWKS); problem != "" {
			return []string{"jwks: " + problem}
		}
	case s.JWKSURI != "":
		if problem := FetchURLProblem(s.JWKSURI); problem != "" {
			return []string{"jwks_uri: " + problem}
		}
	default:
		return []string{"private_key_jwt needs the client's public keys: jwks or jwks_uri"}
	}
	return nil
}

// MaxJWKSKeys bounds the keys a client registers.
const MaxJWKSKeys = 10

// jwkPrivateMembers are the members of a private or symmetric JWK (RFC
// 7518 §6): a key set registered for verifying must hold none.
var jwkPrivateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// JWKSProblem says what is wrong with a JWK Set of public signing keys
// (RFC 7517 §5), or "". Whether each key parses is checked where keys are
// read; this is its shape.
func JWKSProblem(raw json.RawMessage) string {
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if len(raw) > 16<<10 {
		return "a key set is at most 16 KiB"
	}
	if err := json.Unmarshal(raw, &set); err != nil || set.Keys == nil {
		return `not a JWK Set: {"keys": [...]}`
	}
	if len(set.Keys) == 0 || len(set.Keys) > MaxJWKSKeys {
		return fmt.Sprintf("a key set holds 1 to %d keys", MaxJWKSKeys)
	}
	for i, k := range set.Keys {
		var kty string
		if json.Unmarshal(k["kty"], &kty) != nil || (kty != "EC" && kty != "RSA" && kty != "OKP") {
			return fmt.Sprintf("key %d: kty must be EC, RSA or OKP", i)
		}
		for _, m := range jwkPrivateMembers {
			if _, ok := k[m]; ok {
				return fmt.Sprintf("key %d holds private key material (%q): register public keys only", i, m)
			}
		}
	}
	return ""
}

// FetchURLProblem says why a URL the server would fetch (a key set, a
// metadata document) is unacceptable, or "": an absolute https URL
// without user info or fragment.
func FetchURLProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || len(raw) > 2000:
		return "not an absolute URL"
	case u.Scheme != "https":
		return "the scheme must be https"
	case u.User != nil:
		return "user info is not allowed"
	case strings.Contains(raw, "#"):
		return "fragments are not allowed"
	}
	return portProblem(u)
}
