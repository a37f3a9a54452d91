package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
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
}

// token is POST /realms/{realm}/protocol/openid-connect/token.
func (a *api) token(c echo.Context) error {
	rl, f, done, err := a.formRequest(c)
	if done {
		return err
	}
	grant, ok := f["grant_type"]
	if !ok || grant == "" {
		return oauthError(c, rl, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "grant_type is required"})
	}
	if !supportedGrants[grant] {
		return oauthError(c, rl, &domain.OAuthError{Code: domain.ErrUnsupportedGrantType, Description: "grant_type " + grant + " is not supported"})
	}
	client, done, err := a.authenticate(c, rl, f, grant != domain.GrantClientCredentials)
	if done {
		return err
	}
	if !client.Allows(grant) {
		return oauthError(c, rl, &domain.OAuthError{Code: domain.ErrUnauthorizedClient, Description: "client is not allowed the " + grant + " grant"})
	}
	meta := eventstore.Meta{
		Actor: eventstore.ClientActor(client.ID), ClientID: client.ID,
		RequestID: requestID(c), IP: c.RealIP(), Time: a.now(),
	}
	switch grant {
	case domain.GrantClientCredentials:
		return a.clientCredentials(c, rl, client, f, meta)
	case domain.GrantAuthorizationCode:
		if f["code"] == "" {
			return oauthError(c, rl, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "code is required"})
		}
		set, err := rl.RedeemCode(c.Request().Context(), client, f["code"], f["redirect_uri"], f["code_verifier"], meta)
		return a.tokenSet(c, rl, set, err)
	default:
		if f["refresh_token"] == "" {
			return oauthError(c, rl, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "refresh_token is required"})
		}
		set, err := rl.Refresh(c.Request().Context(), client, f["refresh_token"], f["scope"], meta)
		return a.tokenSet(c, rl, set, err)
	}
}

// formRequest reads a POSTed OAuth form for a realm. When done is true the
// request was refused and err is the response already written.
func (a *api) formRequest(c echo.Context) (rl *realms.Realm, f form, done bool, err error) {
	rl, err = a.realmOf(c)
	if rl == nil {
		return nil, nil, true, err
	}
	// Read strictly: url.Query drops a pair it cannot parse, and with it a
	// secret written "client_secret=...;" would pass unnoticed.
	query, qerr := url.ParseQuery(c.Request().URL.RawQuery)
	if qerr != nil {
		return nil, nil, true, oauthError(c, rl, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "the query string is malformed"})
	}
	if query.Has("client_secret") {
		return nil, nil, true, oauthError(c, rl, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "client_secret must not be sent in the query string"})
	}
	f, oerr, err := parseOAuthForm(c)
	if errors.Is(err, errBodyTooLarge) {
		return nil, nil, true, writeError(c, http.StatusRequestEntityTooLarge, errTooLarge, "request body exceeds 64 KiB")
	}
	if oerr != nil {
		return nil, nil, true, oauthError(c, rl, oerr)
	}
	return rl, f, false, nil
}

// authenticate authenticates the client of a form request: basic or post
// for confidential clients; with allowPublic, a public client by its
// client_id alone (token_endpoint_auth_method none). When done is true the
// request was refused and err is the response.
func (a *api) authenticate(c echo.Context, rl *realms.Realm, f form, allowPublic bool) (*domain.Client, bool, error) {
	authz := c.Request().Header.Get(echo.HeaderAuthorization)
	if allowPublic && authz == "" {
		if _, hasSecret := f["client_secret"]; !hasSecret {
			if cl, ok := rl.Clients.Get(f["client_id"]); ok && cl.Type == domain.ClientPublic && cl.Enabled() {
				return cl, false, nil
			}
		}
	}
	cred, oerr := readClientCredentials(authz, f)
	if oerr == nil {
		var client *domain.Client
		if client, oerr = authenticateClient(rl, cred, a.now().Unix()); oerr == nil {
			return client, false, nil
		}
	}
	return nil, true, oauthError(c, rl, oerr)
}

// clientCredentials issues a token to an authenticated client (RFC 6749
// §4.4). The token leaves only after its token.issued event is acknowledged.
func (a *api) clientCredentials(c echo.Context, rl *realms.Realm, client *domain.Client, f form, meta eventstore.Meta) error {
	decision, oerr := domain.DecideClientCredentials(client, f["scope"], rl.Nodes.Tree())
	if oerr != nil {
		return oauthError(c, rl, oerr)
	}
	ctx := c.Request().Context()
	now, err := realms.HoldPastRevocation(ctx, client.TokensRevokedBefore, meta.Time)
	if err != nil {
		return domainError(c, a.log, err)
	}
	meta.Time = now
	issued, err := rl.IssueAccessToken(ctx, domain.ClientRef(client.ID), domain.GrantClientCredentials, realms.TokenRequest{
		ClientID: client.ID, Subject: decision.Subject, Scope: decision.Scope,
		Nodes: decision.Nodes, Preset: decision.Preset, Lifetime: decision.Lifetime,
	}, meta)
	if err != nil {
		return domainError(c, a.log, err)
	}
	a.metrics.tokens.WithLabelValues(rl.Name, domain.GrantClientCredentials).Inc()
	noStore(c)
	return c.JSON(http.StatusOK, tokenResponse{
		AccessToken: issued.Token, TokenType: "Bearer", ExpiresIn: decision.Lifetime, Scope: decision.Scope,
	})
}

// tokenSet answers a code or refresh exchange.
func (a *api) tokenSet(c echo.Context, rl *realms.Realm, set realms.TokenSet, err error) error {
	if err != nil {
		return a.oauthOrDomainError(c, rl, err)
	}
	a.metrics.tokens.WithLabelValues(rl.Name, "user").Inc()
	noStore(c)
	return c.JSON(http.StatusOK, tokenResponse{
		AccessToken: set.Access.Token, TokenType: "Bearer", ExpiresIn: set.ExpiresIn, Scope: set.Scope,
		RefreshToken: set.Refresh, IDToken: set.IDToken,
	})
}

// oauthOrDomainError answers an OAuth error per RFC 6749 §5.2, any other
// as domainError does.
func (a *api) oauthOrDomainError(c echo.Context, rl *realms.Realm, err error) error {
	var oerr *domain.OAuthError
	if errors.As(err, &oerr) {
		return oauthError(c, rl, oerr)
	}
	return domainError(c, a.log, err)
}

// oauthError answers a token-endpoint error per RFC 6749 §5.2:
// invalid_client is 401 with a Basic challenge.
func oauthError(c echo.Context, rl *realms.Realm, e *domain.OAuthError) error {
	status := http.StatusBadRequest
	if e.Code == domain.ErrInvalidClient {
		// Every 401 carries a challenge (RFC 9110 §11.6.1), whether or not
		// the client tried Basic (RFC 6749 §5.2 requires it only then).
		status = http.StatusUnauthorized
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="`+rl.Name+`"`)
	}
	return writeError(c, status, e.Code, errorText(e.Description))
}

// realmOf resolves the realm the path names. A nil realm means the request
// could not be served and err is the response already written.
func (a *api) realmOf(c echo.Context) (*realms.Realm, error) {
	rl, err := a.reg.Get(c.Request().Context(), c.Param("realm"))
	switch {
	case err == nil:
		return rl, nil
	case errors.Is(err, domain.ErrNotFound):
		return nil, writeError(c, http.StatusNotFound, errNotFound, "realm "+errorText(c.Param("realm"))+" does not exist")
	default:
		return nil, domainError(c, a.log, err)
	}
}
