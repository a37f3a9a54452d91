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
	// Client authentication with assertions (private_key_jwt) at every
	// endpoint that authenticates clients.
	TokenEndpointAuthSigningAlgs         []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethods     []string `json:"introspection_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthSigningAlgs []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthMethods        []string `json:"revocation_endpoint_auth_methods_supported"`
	RevocationEndpointAuthSigningAlgs    []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	// RegistrationEndpoint is set while dynamic registration is on (RFC
	// 7591); ClientIDMetadataDocumentSupported while client ID metadata
	// documents are.
	RegistrationEndpoint              string `json:"registration_endpoint,omitempty"`
	ClientIDMetadataDocumentSupported bool   `json:"client_id_metadata_document_supported"`
	// ResourceIndicatorsSupported: the resource parameter (RFC 8707).
	ResourceIndicatorsSupported bool `json:"resource_indicators_supported"`
	// The device authorization grant (RFC 8628 §4), pushed authorization
	// requests (RFC 9126 §5; required of every client when the realm says
	// so) and DPoP (RFC 9449 §5.1).
	DeviceAuthorizationEndpoint        string   `json:"device_authorization_endpoint"`
	PushedAuthorizationRequestEndpoint string   `json:"pushed_authorization_request_endpoint"`
	RequirePushedAuthorizationRequests bool     `json:"require_pushed_authorization_requests"`
	DPoPSigningAlgValuesSupported      []string `json:"dpop_signing_alg_values_supported"`
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
	policy := rl.Registration().Policy()
	registration := ""
	if policy.Dynamic.Enabled {
		registration = issuer + registrationPath
	}
	return c.JSON(http.StatusOK, providerMetadata{
		Issuer:                               issuer,
		AuthorizationEndpoint:                oidc + "/auth",
		TokenEndpoint:                        oidc + "/token",
		JWKSURI:                              oidc + "/certs",
		GrantTypesSupported:                  []string{domain.GrantAuthorizationCode, domain.GrantClientCredentials, domain.GrantRefreshToken, domain.GrantDeviceCode},
		ResponseTypesSupported:               []string{"code"},
		SubjectTypesSupported:                []string{"public"},
		IDTokenSigningAlgValuesSupported:     []string{domain.AlgRS256, domain.AlgES256},
		TokenEndpointAuthMethodsSupported:    []string{domain.AuthSecretBasic, domain.AuthSecretPost, domain.AuthPrivateKeyJWT, domain.AuthNone},
		ScopesSupported:                      scopeNames(rl.Structure().Scopes()),
		UserinfoEndpoint:                     oidc + "/userinfo",
		EndSessionEndpoint:                   oidc + "/logout",
		IntrospectionEndpoint:                oidc + "/token/introspect",
		RevocationEndpoint:                   oidc + "/revoke",
		CodeChallengeMethodsSupported:        []string{"S256"},
		ResponseModesSupported:               []string{"query"},
		AuthorizationResponseIssParameter:    true,
		ClaimsSupported:                      []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "azp", "email", "name", "preferred_username"},
		PromptValuesSupported:                []string{"none", "login", "consent"},
		TokenEndpointAuthSigningAlgs:         domain.AssertionAlgs,
		IntrospectionEndpointAuthMethods:     []string{domain.AuthSecretBasic, domain.AuthSecretPost, domain.AuthPrivateKeyJWT},
		IntrospectionEndpointAuthSigningAlgs: domain.AssertionAlgs,
		RevocationEndpointAuthMethods:        []string{domain.AuthSecretBasic, domain.AuthSecretPost, domain.AuthPrivateKeyJWT, domain.AuthNone},
		RevocationEndpointAuthSigningAlgs:    domain.AssertionAlgs,
		RegistrationEndpoint:                 registration,
		ClientIDMetadataDocumentSupported:    policy.CIMD.Enabled,
		ResourceIndicatorsSupported:          true,
		DeviceAuthorizationEndpoint:          issuer + devicePath,
		PushedAuthorizationRequestEndpoint:   issuer + parPath,
		RequirePushedAuthorizationRequests:   rl.Settings().RequirePAR,
		DPoPSigningAlgValuesSupported:        domain.DPoPAlgs,
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
