package handlers

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
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
// client_assertion_type in the form); ok is false when there is none.
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
	return realms.ClientAuth{Method: domain.AuthPrivateKeyJWT, ClientID: f["client_id"], AssertionType: assertionType,
		Assertion: assertion, PublicAllowed: publicAllowed}, true, nil
}

// authenticate authenticates the client of a form request: a secret (basic
// or post) or an assertion (private_key_jwt) for confidential clients;
// with publicAllowed, a public client by its client_id alone
// (token_endpoint_auth_method none). A client_id that is a URL names a
// metadata document, read (or re-read) first.
func (a *api) authenticate(c echo.Context, rl *realms.Realm, f form, publicAllowed bool) (*domain.Client, error) {
	auth, err := readClientAuth(c.Request().Header.Get(echo.HeaderAuthorization), f, publicAllowed)
	if err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	if auth.Method == domain.AuthPrivateKeyJWT {
		auth.Endpoint = rl.Issuer() + strings.TrimPrefix(c.Request().URL.Path, "/realms/"+rl.Name)
		return rl.Clients().AuthenticateAssertion(ctx, auth, a.now())
	}
	if domain.IsClientIDURL(auth.ClientID) {
		meta := eventstore.Meta{Actor: eventstore.ActorSystem, RequestID: requestID(c), IP: c.RealIP(), Time: a.now()}
		if _, err := rl.Clients().Resolve(ctx, auth.ClientID, meta); err != nil {
			return nil, asInvalidClient(err)
		}
	}
	return rl.Clients().Authenticate(auth, a.now())
}

// asInvalidClient answers a client that cannot be found as invalid_client
// (it is a credential, not a resource); other failures stay as they are.
func asInvalidClient(err error) error {
	if errors.Is(err, domain.ErrNotFound) {
		return &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "client authentication failed"}
	}
	return err
}
