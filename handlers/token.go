package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// tokenResponse is RFC 6749 §5.1 (and OpenID Connect's id_token).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// supportedGrants are the grant types of the token endpoint.
var supportedGrants = map[string]bool{
	domain.GrantClientCredentials: true, domain.GrantAuthorizationCode: true, domain.GrantRefreshToken: true,
	domain.GrantDeviceCode: true,
}

// token is POST /realms/{realm}/protocol/openid-connect/token: each grant
// is one call into the realm. resource (RFC 8707) names the one resource
// the access token is for; without it, the token is for the realm. A
// DPoP proof (RFC 9449) binds the tokens to its key: checked once, here,
// before the grant decides (its jti is spent on the shared store). A
// token leaves only after its token.issued event is acknowledged.
func (a *api) token(c echo.Context) error {
	rl, f, err := a.formRequest(c)
	if err != nil {
		return err
	}
	jkt, err := a.tokenProof(c, rl)
	if err != nil {
		return err
	}
	grant, ok := f["grant_type"]
	if !ok || grant == "" {
		return &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "grant_type is required"}
	}
	if !supportedGrants[grant] {
		return &domain.OAuthError{Code: domain.ErrUnsupportedGrantType, Description: "grant_type " + grant + " is not supported"}
	}
	// The grant authenticates the client itself, and again whenever it
	// decides again on fresh state (the client changed meanwhile).
	auth, err := clientAuth(c, rl, f, grant != domain.GrantClientCredentials)
	if err != nil {
		return err
	}
	meta := realms.Meta{
		Actor: realms.ClientActor(auth.ClientID), ClientID: auth.ClientID,
		RequestID: requestID(c), IP: c.RealIP(), Via: via(c), Time: a.now(),
	}
	ctx := c.Request().Context()
	var set realms.TokenSet
	kind := "user"
	switch grant {
	case domain.GrantClientCredentials:
		kind = domain.GrantClientCredentials
		set, err = rl.Tokens().ClientCredentials(ctx, auth, f["scope"], f["resource"], jkt, meta)
	case domain.GrantAuthorizationCode:
		set, err = rl.Grants().RedeemCode(ctx, auth, f["code"], f["redirect_uri"], f["code_verifier"], f["resource"], jkt, meta)
	case domain.GrantDeviceCode:
		set, err = rl.Devices().Token(ctx, auth, f["device_code"], jkt, meta)
	default:
		set, err = rl.Grants().Refresh(ctx, auth, f["refresh_token"], f["scope"], f["resource"], jkt, meta)
	}
	if err != nil {
		return a.authFailure(c, rl, auth, err)
	}
	a.metrics.tokens.WithLabelValues(rl.Name, kind).Inc()
	noStore(c)
	return c.JSON(http.StatusOK, tokenResponse{
		AccessToken: set.Access.Token, TokenType: set.Access.Type(), ExpiresIn: set.ExpiresIn, Scope: set.Scope,
		RefreshToken: set.Refresh, IDToken: set.IDToken,
	})
}

// formRequest reads a POSTed OAuth form for a realm.
func (a *api) formRequest(c echo.Context) (*realms.Realm, form, error) {
	rl, err := a.realmOf(c)
	if err != nil {
		return nil, nil, err
	}
	// Read strictly: url.Query drops a pair it cannot parse, and with it a
	// secret written "client_secret=...;" would pass unnoticed.
	query, qerr := url.ParseQuery(c.Request().URL.RawQuery)
	if qerr != nil {
		return nil, nil, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "the query string is malformed"}
	}
	if query.Has("client_secret") {
		return nil, nil, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "client_secret must not be sent in the query string"}
	}
	f, err := parseOAuthForm(c)
	if err != nil {
		return nil, nil, err
	}
	return rl, f, nil
}

// realmOf resolves the realm the path names; an unknown one, or another
// realm than the one claiming the request's host, is 404 "realm <name>
// does not exist".
func (a *api) realmOf(c echo.Context) (*realms.Realm, error) {
	if !servesRealm(c, c.Param("realm")) {
		return nil, domain.NotFound("realm " + c.Param("realm"))
	}
	rl, err := a.reg.Get(c.Request().Context(), c.Param("realm"))
	if errors.Is(err, domain.ErrNotFound) {
		return nil, domain.NotFound("realm " + c.Param("realm"))
	}
	return rl, err
}
