package handlers

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// readClientAuth reads how a request authenticates its client: HTTP Basic
// (RFC 6749 §2.3.1: id and secret each form-urlencoded inside Basic),
// client_secret in the form (client_secret_post), a client assertion
// (private_key_jwt, RFC 7523), or a client_id alone (none, for public
// clients where publicAllowed). Using two methods together is refused, as
// is a Basic id that differs from a form client_id. The realm decides
// whether the credentials hold.
func readClientAuth(authorization string, f form, publicAllowed bool) (realms.ClientAuth, error) {
	if auth, ok, err := readAssertion(authorization, f, publicAllowed); ok || err != nil {
		return auth, err
	}
	scheme, payload, found := strings.Cut(authorization, " ")
	if found && strings.EqualFold(scheme, "Basic") {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
		if err != nil {
			return realms.ClientAuth{}, &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "malformed Basic credentials"}
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if !ok || err1 != nil || err2 != nil {
			return realms.ClientAuth{}, &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "malformed Basic credentials"}
		}
		if _, dup := f["client_secret"]; dup {
			return realms.ClientAuth{}, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "use one client authentication method, not Basic and client_secret together"}
		}
		if formID, ok := f["client_id"]; ok && formID != id {
			return realms.ClientAuth{}, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "client_id does not match the Basic credentials"}
		}
		return realms.ClientAuth{Method: domain.AuthSecretBasic, ClientID: id, Secret: secret, PublicAllowed: publicAllowed}, nil
	}
	if authorization != "" {
		return realms.ClientAuth{}, &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "unsupported Authorization scheme; use Basic"}
	}
	id := f["client_id"]
	method := domain.AuthNone
	secret, hasSecret := f["client_secret"]
	if hasSecret {
		method = domain.AuthSecretPost
	}
	if id == "" || !hasSecret && !publicAllowed {
		return realms.ClientAuth{}, &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "client authentication required"}
	}
	return realms.ClientAuth{Method: method, ClientID: id, Secret: secret, PublicAllowed: publicAllowed}, nil
}

// readAssertion reads a client assertion (client_assertion and
// client_assertion_type in the form); ok is false when there is none. A
// request that names no client_id is the client the assertion's iss
// claims to be, for counting its failures and naming it in the events;
// the realm checks the claim.
func readAssertion(authorization string, f form, publicAllowed bool) (realms.ClientAuth, bool, error) {
	assertion, hasAssertion := f["client_assertion"]
	assertionType, hasType := f["client_assertion_type"]
	if !hasAssertion && !hasType {
		return realms.ClientAuth{}, false, nil
	}
	if _, secret := f["client_secret"]; secret || authorization != "" {
		return realms.ClientAuth{}, true, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "use one client authentication method, not a client assertion with another"}
	}
	if assertion == "" || assertionType == "" {
		return realms.ClientAuth{}, true, &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "client_assertion and client_assertion_type go together"}
	}
	id := f["client_id"]
	if id == "" {
		id = realms.AssertionIssuer(assertion)
	}
	return realms.ClientAuth{Method: domain.AuthPrivateKeyJWT, ClientID: id, AssertionType: assertionType,
		Assertion: assertion, PublicAllowed: publicAllowed}, true, nil
}

// clientAuth reads how a form request authenticates its client
// (readClientAuth); an assertion is bound to the URL of the endpoint it
// was sent to, an audience it may name.
func clientAuth(c echo.Context, rl *realms.Realm, f form, publicAllowed bool) (realms.ClientAuth, error) {
	auth, err := readClientAuth(c.Request().Header.Get(echo.HeaderAuthorization), f, publicAllowed)
	if auth.Method == domain.AuthPrivateKeyJWT {
		auth.Endpoint = endpointURL(c, rl)
	}
	return auth, err
}

// authenticate authenticates the client of a form request: a secret (basic
// or post) or an assertion (private_key_jwt) for confidential clients;
// with publicAllowed, a public client by its client_id alone
// (token_endpoint_auth_method none). A client_id that is a URL names a
// metadata document, read (or re-read) first. A failure is counted per
// client id and address; past a limit it is 429 instead.
func (a *api) authenticate(c echo.Context, rl *realms.Realm, f form, publicAllowed bool) (*domain.Client, error) {
	auth, err := clientAuth(c, rl, f, publicAllowed)
	if err != nil {
		return nil, err
	}
	meta := realms.Meta{Actor: realms.ActorSystem, RequestID: requestID(c), IP: c.RealIP(), Via: via(c), Time: a.now()}
	clients := rl.Clients()
	auth, err = clients.Prepare(c.Request().Context(), auth, meta)
	if err != nil {
		return nil, a.authFailure(c, rl, auth, err)
	}
	client, err := clients.Authenticate(c.Request().Context(), auth, a.now())
	return client, a.authFailure(c, rl, auth, err)
}

// authFailure passes err on, first counting it against the client id and
// the address when it is a failed client authentication (invalid_client):
// past a limit the answer is 429 instead. Success is never counted.
func (a *api) authFailure(c echo.Context, rl *realms.Realm, auth realms.ClientAuth, err error) error {
	if err == nil {
		return nil
	}
	var oerr *domain.OAuthError
	if !errors.As(err, &oerr) || oerr.Code != domain.ErrInvalidClient {
		return err
	}
	if limited := rl.Clients().CountAuthFailure(c.Request().Context(), auth.ClientID, c.RealIP(), a.now()); limited != nil {
		return limited
	}
	return err
}
