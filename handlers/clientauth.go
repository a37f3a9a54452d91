package handlers

import (
	"encoding/base64"
	"net/url"
	"strings"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// clientCredentials are what a request presented to authenticate a client.
type clientCredentials struct {
	id, secret string
}

// readClientCredentials takes the client's id and secret from HTTP Basic
// (RFC 6749 §2.3.1: each form-urlencoded inside Basic) or from the form
// (client_secret_post). Using both is refused, as is a Basic id that
// differs from a form client_id.
func readClientCredentials(authorization string, f form) (clientCredentials, *domain.OAuthError) {
	scheme, payload, found := strings.Cut(authorization, " ")
	if found && strings.EqualFold(scheme, "Basic") {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
		if err != nil {
			return clientCredentials{}, &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "malformed Basic credentials"}
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if !ok || err1 != nil || err2 != nil {
			return clientCredentials{}, &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "malformed Basic credentials"}
		}
		if _, dup := f["client_secret"]; dup {
			return clientCredentials{}, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "use one client authentication method, not Basic and client_secret together"}
		}
		if formID, ok := f["client_id"]; ok && formID != id {
			return clientCredentials{}, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "client_id does not match the Basic credentials"}
		}
		return clientCredentials{id: id, secret: secret}, nil
	}
	if authorization != "" {
		return clientCredentials{}, &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "unsupported Authorization scheme; use Basic"}
	}
	secret, hasSecret := f["client_secret"]
	id := f["client_id"]
	if !hasSecret || id == "" {
		return clientCredentials{}, &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "client authentication required"}
	}
	return clientCredentials{id: id, secret: secret}, nil
}

// authenticateClient checks credentials against the realm's clients. An
// unknown client, a wrong secret and a disabled client take the same time
// and give the same answer.
func authenticateClient(rl *realms.Realm, cred clientCredentials, now int64) (*domain.Client, *domain.OAuthError) {
	c, _ := rl.Clients.Get(cred.id)
	if !domain.SecretMatches(c, cred.secret, now) || !c.Enabled() {
		return nil, &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "client authentication failed"}
	}
	return c, nil
}
