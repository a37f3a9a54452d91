package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// parPath is the pushed authorization request endpoint (Keycloak's path).
const parPath = "/protocol/openid-connect/ext/par/request"

// pushedResponse is RFC 9126 §2.2's answer (a realms.PushedRequest).
type pushedResponse struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int64  `json:"expires_in"`
}

// clientAuthParams authenticate a client; they are not part of the
// authorization request it pushes.
var clientAuthParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// pushAuthorization is POST /realms/{realm}/protocol/openid-connect/ext/par/request
// (RFC 9126): the client authenticates as at the token endpoint (a public
// client by its client_id), its request is checked as the authorization
// endpoint checks one, answered with JSON errors, and recorded; the answer
// is a request_uri that works once, for 60 seconds. A DPoP proof sent
// with it (RFC 9449 §10.1) binds the code to come to the proof's key, as
// dpop_jkt does.
func (a *api) pushAuthorization(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	if query, err := url.ParseQuery(c.Request().URL.RawQuery); err != nil || len(query) > 0 {
		return badRequest("a pushed authorization request is sent in the form body, not the query string")
	}
	values, err := readFormBody(c)
	if errors.Is(err, errBodyTooLarge) {
		return &statusError{status: http.StatusRequestEntityTooLarge, code: errTooLarge, desc: "request body exceeds 64 KiB"}
	}
	if err != nil {
		return err
	}
	resources := values["resource"]
	delete(values, "resource")
	f, repeated := singleValues(values)
	if repeated != "" {
		return &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "parameter " + repeated + " is repeated"}
	}
	jkt, err := a.tokenProof(c, rl)
	if err != nil {
		return err
	}
	client, err := a.authenticate(c, rl, form(f), true)
	if err != nil {
		return err
	}
	if id, ok := f["client_id"]; ok && id != client.ID {
		return &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "client_id does not name the authenticated client"}
	}
	if jkt != "" && f["dpop_jkt"] != "" && f["dpop_jkt"] != jkt {
		return &domain.OAuthError{Code: domain.ErrInvalidDPoPProof, Description: "dpop_jkt does not name the DPoP proof's key"}
	}
	if problem := domain.CheckAuthTarget(client, f["redirect_uri"]); problem != "" {
		return &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: problem}
	}
	if problem := domain.CheckResponseMode(f["response_mode"]); problem != "" {
		return &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: problem}
	}
	f["client_id"] = client.ID
	if _, _, oerr := authRequestOf(rl, client, f, resources); oerr != nil {
		return oerr
	}
	pushed := url.Values{}
	for k, v := range f {
		pushed.Set(k, v)
	}
	for _, k := range clientAuthParams {
		pushed.Del(k)
	}
	pushed.Del("dpop_jkt") // kept as the binding
	if jkt == "" {
		jkt = f["dpop_jkt"]
	}
	if len(resources) > 0 {
		pushed["resource"] = resources
	}
	meta := realms.Meta{Actor: realms.ClientActor(client.ID), ClientID: client.ID, RequestID: requestID(c), IP: c.RealIP(), Via: via(c), Time: a.now()}
	out, err := rl.Grants().Push(c.Request().Context(), client.ID, pushed, jkt, meta)
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusCreated, pushedResponse(out))
}
