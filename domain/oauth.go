package domain

// OAuth 2.0 error codes (RFC 6749 §5.2, RFC 6750 §3.1).
const (
	ErrInvalidRequest       = "invalid_request"
	ErrInvalidClient        = "invalid_client"
	ErrInvalidGrant         = "invalid_grant"
	ErrUnauthorizedClient   = "unauthorized_client"
	ErrUnsupportedGrantType = "unsupported_grant_type"
	ErrInvalidScope         = "invalid_scope"
	ErrInvalidToken         = "invalid_token"
	ErrInsufficientScope    = "insufficient_scope"
)

// OAuthError is a protocol error with its RFC code and a readable reason.
type OAuthError struct {
	Code        string
	Description string
}

func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }

// ClientCredentialsGrant is the decision to issue a client-credentials token.
type ClientCredentialsGrant struct {
	Subject  string
	Scope    string
	Lifetime int64
}

// DecideClientCredentials checks that an authenticated client may use the
// client-credentials grant with the requested scope.
func DecideClientCredentials(c *Client, requestedScope string) (ClientCredentialsGrant, *OAuthError) {
	if !c.Allows(GrantClientCredentials) {
		return ClientCredentialsGrant{}, &OAuthError{Code: ErrUnauthorizedClient, Description: "client is not allowed the client_credentials grant"}
	}
	scope, err := GrantScope(requestedScope, c.Scopes)
	if err != nil {
		return ClientCredentialsGrant{}, err
	}
	return ClientCredentialsGrant{Subject: c.ID, Scope: scope, Lifetime: c.AccessTokenLifetime}, nil
}
