package handlers

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
)

// providerMetadata is OpenID Connect Discovery 1.0 / RFC 8414 metadata.
type providerMetadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	AuthorizationResponseIssParameter bool     `json:"authorization_response_iss_parameter_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	PromptValuesSupported             []string `json:"prompt_values_supported"`
	// Request objects are refused (request_not_supported); OIDC Discovery
	// takes an omitted request_uri_parameter_supported for true.
	RequestParameterSupported    bool `json:"request_parameter_supported"`
	RequestURIParameterSupported bool `json:"request_uri_parameter_supported"`
}

// discovery serves both /realms/{realm}/.well-known/openid-configuration
// and /.well-known/oauth-authorization-server/realms/{realm}.
func (a *api) discovery(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	issuer := rl.Issuer()
	oidc := issuer + "/protocol/openid-connect"
	return c.JSON(http.StatusOK, providerMetadata{
		Issuer:                            issuer,
		AuthorizationEndpoint:             oidc + "/auth",
		TokenEndpoint:                     oidc + "/token",
		JWKSURI:                           oidc + "/certs",
		GrantTypesSupported:               []string{domain.GrantAuthorizationCode, domain.GrantClientCredentials, domain.GrantRefreshToken},
		ResponseTypesSupported:            []string{"code"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{domain.AlgRS256, domain.AlgES256},
		TokenEndpointAuthMethodsSupported: []string{domain.AuthSecretBasic, domain.AuthSecretPost, domain.AuthNone},
		ScopesSupported:                   scopeNames(rl.Structure().Scopes()),
		UserinfoEndpoint:                  oidc + "/userinfo",
		EndSessionEndpoint:                oidc + "/logout",
		IntrospectionEndpoint:             oidc + "/token/introspect",
		RevocationEndpoint:                oidc + "/revoke",
		CodeChallengeMethodsSupported:     []string{"S256"},
		ResponseModesSupported:            []string{"query"},
		AuthorizationResponseIssParameter: true,
		ClaimsSupported:                   []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "azp", "email", "name", "preferred_username"},
		PromptValuesSupported:             []string{"none", "login", "consent"},
	})
}

func scopeNames(c domain.Catalog) []string {
	var out []string
	for _, e := range c.List() {
		out = append(out, e.Name)
	}
	return out
}

// certs is the realm's JWKS: public keys only, each with kid, alg and use.
func (a *api) certs(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=60")
	return c.JSON(http.StatusOK, struct {
		Keys []json.RawMessage `json:"keys"`
	}{rl.Keys().JWKS(a.now())})
}
