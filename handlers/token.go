package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/realms"
)

// tokenResponse is RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

// token is POST /realms/{realm}/protocol/openid-connect/token.
func (a *api) token(c echo.Context) error {
	rl, err := a.reg.Get(c.Request().Context(), c.Param("realm"))
	if err != nil {
		return realmError(c, a, err)
	}
	if c.QueryParams().Has("client_secret") {
		return oauthError(c, rl, false, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "client_secret must not be sent in the query string"})
	}
	f, oerr, err := parseOAuthForm(c)
	if errors.Is(err, errBodyTooLarge) {
		return writeError(c, http.StatusRequestEntityTooLarge, errTooLarge, "request body exceeds 64 KiB")
	}
	if oerr != nil {
		return oauthError(c, rl, false, oerr)
	}
	grant, ok := f["grant_type"]
	if !ok || grant == "" {
		return oauthError(c, rl, false, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "grant_type is required"})
	}
	if grant != domain.GrantClientCredentials {
		return oauthError(c, rl, false, &domain.OAuthError{Code: domain.ErrUnsupportedGrantType, Description: "grant_type " + grant + " is not supported"})
	}
	cred, oerr := readClientCredentials(c.Request().Header.Get(echo.HeaderAuthorization), f)
	if oerr != nil {
		return oauthError(c, rl, cred.basic, oerr)
	}
	client, oerr := authenticateClient(rl, cred)
	if oerr != nil {
		return oauthError(c, rl, cred.basic, oerr)
	}
	return a.clientCredentials(c, rl, client, f)
}

// clientCredentials issues a token to an authenticated client (RFC 6749
// §4.4). The token leaves only after its token.issued event is acknowledged.
func (a *api) clientCredentials(c echo.Context, rl *realms.Realm, client *domain.Client, f form) error {
	decision, oerr := domain.DecideClientCredentials(client, f["scope"])
	if oerr != nil {
		return oauthError(c, rl, false, oerr)
	}
	ctx := c.Request().Context()
	now := a.now()
	issued, err := rl.MintAccessToken(ctx, client.ID, decision.Subject, decision.Scope, decision.Lifetime, now)
	if err != nil {
		return domainError(c, a.log, err)
	}
	meta := eventstore.Meta{
		Actor: eventstore.ClientActor(client.ID), ClientID: client.ID,
		RequestID: requestID(c), IP: c.RealIP(), Time: now,
	}
	_, err = a.reg.Store().AppendToken(ctx, rl.Name, domain.ClientRef(client.ID), meta, domain.TokenIssued{
		JTI:       issued.Claims.ID,
		Subject:   decision.Subject,
		Scope:     decision.Scope,
		GrantType: domain.GrantClientCredentials,
		Kid:       issued.Kid,
		IssuedAt:  issued.Claims.IssuedAt.Unix(),
		ExpiresAt: issued.Claims.ExpiresAt.Unix(),
	})
	if err != nil {
		return domainError(c, a.log, err)
	}
	a.metrics.tokens.WithLabelValues(rl.Name, domain.GrantClientCredentials).Inc()
	noStore(c)
	return c.JSON(http.StatusOK, tokenResponse{
		AccessToken: issued.Token,
		TokenType:   "Bearer",
		ExpiresIn:   decision.Lifetime,
		Scope:       decision.Scope,
	})
}

// oauthError answers a token-endpoint error per RFC 6749 §5.2:
// invalid_client is 401, with a Basic challenge when Basic was used.
func oauthError(c echo.Context, rl *realms.Realm, basic bool, e *domain.OAuthError) error {
	status := http.StatusBadRequest
	if e.Code == domain.ErrInvalidClient {
		status = http.StatusUnauthorized
		if basic {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="`+rl.Name+`"`)
		}
	}
	return writeError(c, status, e.Code, e.Description)
}

// realmError answers a request for a realm that cannot be served.
func realmError(c echo.Context, a *api, err error) error {
	if errors.Is(err, domain.ErrNotFound) {
		return writeError(c, http.StatusNotFound, errNotFound, "realm "+c.Param("realm")+" does not exist")
	}
	return domainError(c, a.log, err)
}
