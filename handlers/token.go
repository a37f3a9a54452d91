package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

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
	rl, f, done, err := a.formRequest(c)
	if done {
		return err
	}
	grant, ok := f["grant_type"]
	if !ok || grant == "" {
		return oauthError(c, rl, false, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "grant_type is required"})
	}
	if grant != domain.GrantClientCredentials {
		return oauthError(c, rl, false, &domain.OAuthError{Code: domain.ErrUnsupportedGrantType, Description: "grant_type " + grant + " is not supported"})
	}
	client, done, err := a.authenticate(c, rl, f)
	if done {
		return err
	}
	return a.clientCredentials(c, rl, client, f)
}

// formRequest reads a POSTed OAuth form for a realm. When done is true the
// request was refused and err is the response already written.
func (a *api) formRequest(c echo.Context) (rl *realms.Realm, f form, done bool, err error) {
	rl, err = a.reg.Get(c.Request().Context(), c.Param("realm"))
	if err != nil {
		return nil, nil, true, realmError(c, a, err)
	}
	if c.QueryParams().Has("client_secret") {
		return nil, nil, true, oauthError(c, rl, false, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "client_secret must not be sent in the query string"})
	}
	f, oerr, err := parseOAuthForm(c)
	if errors.Is(err, errBodyTooLarge) {
		return nil, nil, true, writeError(c, http.StatusRequestEntityTooLarge, errTooLarge, "request body exceeds 64 KiB")
	}
	if oerr != nil {
		return nil, nil, true, oauthError(c, rl, false, oerr)
	}
	return rl, f, false, nil
}

// authenticate authenticates the client of a form request (basic or post).
// When done is true the request was refused and err is the response.
func (a *api) authenticate(c echo.Context, rl *realms.Realm, f form) (*domain.Client, bool, error) {
	cred, oerr := readClientCredentials(c.Request().Header.Get(echo.HeaderAuthorization), f)
	if oerr == nil {
		var client *domain.Client
		if client, oerr = authenticateClient(rl, cred, a.now().Unix()); oerr == nil {
			return client, false, nil
		}
	}
	return nil, true, oauthError(c, rl, cred.basic, oerr)
}

// clientCredentials issues a token to an authenticated client (RFC 6749
// §4.4). The token leaves only after its token.issued event is acknowledged.
func (a *api) clientCredentials(c echo.Context, rl *realms.Realm, client *domain.Client, f form) error {
	decision, oerr := domain.DecideClientCredentials(client, f["scope"], rl.Nodes.Tree())
	if oerr != nil {
		return oauthError(c, rl, false, oerr)
	}
	ctx := c.Request().Context()
	now, err := holdPastRevocation(ctx, client, a.now())
	if err != nil {
		return domainError(c, a.log, err)
	}
	issued, err := rl.MintAccessToken(ctx, realms.TokenRequest{
		ClientID: client.ID, Subject: decision.Subject, Scope: decision.Scope,
		Nodes: decision.Nodes, Preset: decision.Preset, Lifetime: decision.Lifetime,
	}, now)
	if err != nil {
		return domainError(c, a.log, err)
	}
	meta := eventstore.Meta{
		Actor: eventstore.ClientActor(client.ID), ClientID: client.ID,
		RequestID: requestID(c), IP: c.RealIP(), Time: now,
	}
	seq, err := a.reg.Store().AppendToken(ctx, rl.Name, domain.ClientRef(client.ID), meta, domain.TokenIssued{
		JTI:       issued.Claims.ID,
		Hash:      domain.TokenHash(issued.Token),
		Subject:   decision.Subject,
		Scope:     decision.Scope,
		GrantType: domain.GrantClientCredentials,
		Kid:       issued.Kid,
		Nodes:     decision.Nodes,
		Preset:    decision.Preset,
		IssuedAt:  issued.Claims.IssuedAt.Unix(),
		ExpiresAt: issued.Claims.ExpiresAt.Unix(),
	})
	if err == nil {
		// Introspection here must know the token as soon as its client has it.
		err = rl.WaitFor(ctx, seq)
	}
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

// holdPastRevocation returns the time to issue a token at. A revoke-all
// covers tokens issued before the next whole second (iat has one-second
// precision); a token of that client issued in the same second waits for
// the cut-off, so downstream services do not see it as revoked.
func holdPastRevocation(ctx context.Context, client *domain.Client, now time.Time) (time.Time, error) {
	cutoff := time.Unix(client.TokensRevokedBefore, 0)
	if !now.Before(cutoff) {
		return now, nil
	}
	t := time.NewTimer(cutoff.Sub(now))
	defer t.Stop()
	select {
	case <-t.C:
		return cutoff, nil
	case <-ctx.Done():
		return now, ctx.Err()
	}
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
