package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// introspection is an active token's RFC 7662 response.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope"`
	ClientID  string   `json:"client_id"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	Issuer    string   `json:"iss"`
	JTI       string   `json:"jti"`
	TokenType string   `json:"token_type"`
	IssuedAt  int64    `json:"iat"`
	ExpiresAt int64    `json:"exp"`
	Nodes     []string `json:"nodes,omitempty"`
	Preset    string   `json:"preset,omitempty"`
	// Access is, for a user-delegated token, what it may do on each team
	// now: evaluated live against the user's current roles.
	Access []domain.NodeAccess `json:"access,omitempty"`
	// Confirmation is a DPoP-bound token's key (RFC 9449 §6.2): a resource
	// server checks the proof that comes with the token against it.
	Confirmation *realms.Confirmation `json:"cnf,omitempty"`
}

// inactive is the whole answer for any token that is not active (RFC 7662
// §2.2): unknown, expired, revoked, malformed, or another realm's.
var inactive = map[string]bool{"active": false}

// introspect is POST /realms/{realm}/protocol/openid-connect/token/introspect.
// The caller authenticates as a client of the realm before any lookup.
func (a *api) introspect(c echo.Context) error {
	rl, f, err := a.formRequest(c)
	if err != nil {
		return err
	}
	if _, err := a.authenticate(c, rl, f, false); err != nil {
		return err
	}
	token, ok := f["token"]
	if !ok || token == "" {
		return &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "token is required"}
	}
	noStore(c)
	now := a.now()
	info, found, err := rl.Tokens().Introspect(c.Request().Context(), token, now)
	if err != nil {
		return err
	}
	if !found || info.Status != domain.StatusActive {
		return c.JSON(http.StatusOK, inactive)
	}
	tokens := rl.Tokens()
	tokens.Touch(info, now)
	out := introspection{
		Active: true, Scope: info.Scope, ClientID: info.ClientID, Subject: info.Subject,
		Audience: tokens.Audience(info), Issuer: rl.Issuer(), JTI: info.JTI, TokenType: tokenType(info.JKT),
		IssuedAt: info.IssuedAt, ExpiresAt: info.Expires, Nodes: info.Nodes, Preset: info.Preset,
	}
	if info.JKT != "" {
		out.Confirmation = &realms.Confirmation{JKT: info.JKT}
	}
	if access, delegated := tokens.LiveAccess(info); delegated {
		// Evaluated now, as the nodes are: a demoted user's token must
		// not go on stating full access.
		out.Access = access
		out.Nodes = domain.AccessNodes(out.Access)
		out.Preset = domain.DelegatedPreset(out.Access)
	}
	return c.JSON(http.StatusOK, out)
}

// revoke is POST /realms/{realm}/protocol/openid-connect/revoke (RFC 7009).
// token_type_hint is accepted and ignored: the token is looked up as any
// type. An unknown or already revoked token is 200; another client's token
// is refused and stays valid.
func (a *api) revoke(c echo.Context) error {
	rl, f, err := a.formRequest(c)
	if err != nil {
		return err
	}
	client, err := a.authenticate(c, rl, f, true)
	if err != nil {
		return err
	}
	token, ok := f["token"]
	if !ok || token == "" {
		return &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "token is required"}
	}
	noStore(c)
	meta := realms.Meta{
		Actor: realms.ClientActor(client.ID), ClientID: client.ID,
		RequestID: requestID(c), IP: c.RealIP(), Via: via(c), Time: a.now(),
	}
	if err := rl.Tokens().Revoke(c.Request().Context(), client, token, meta); err != nil {
		return err
	}
	return c.NoContent(http.StatusOK)
}
