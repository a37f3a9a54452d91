package domain

import (
	"fmt"
	"slices"
	"strings"
)

// Grant types a client may be allowed.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// Client types.
const (
	ClientConfidential = "confidential"
	ClientPublic       = "public"
)

// Access-token lifetime bounds and default, in seconds. An hour is what
// Keycloak and Hydra hand out by default.
const (
	DefaultAccessTokenLifetime = 3600
	MinAccessTokenLifetime     = 60
	MaxAccessTokenLifetime     = 24 * 3600
)

// ScopeOpenID is accepted from every client: OIDC clients send it by habit
// with client credentials, and Keycloak accepts it.
const ScopeOpenID = "openid"

var supportedGrants = []string{GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken}

// Client is the state of one OAuth client, folded from its events.
type Client struct {
	ID                  string
	Name                string
	Type                string
	GrantTypes          []string
	Scopes              []string
	AccessTokenLifetime int64
	SecretHash          string
	// TokensRevokedBefore: every token of the client issued (iat) before
	// this Unix second is revoked.
	TokensRevokedBefore int64
	// Version is the stream sequence of the client's last own event; an
	// update appends with it as the expected last subject sequence.
	Version uint64
}

// Allows reports whether the client may use a grant type.
func (c *Client) Allows(grant string) bool { return slices.Contains(c.GrantTypes, grant) }

// Apply folds one of the client's own events into its state.
func (c *Client) Apply(seq uint64, p Payload) {
	switch e := p.(type) {
	case ClientCreated:
		*c = Client{
			ID: e.ClientID, Name: e.Name, Type: e.Type,
			GrantTypes: e.GrantTypes, Scopes: e.Scopes,
			AccessTokenLifetime: e.AccessTokenLifetime, SecretHash: e.SecretHash,
		}
	case ClientTokensRevoked:
		c.TokensRevokedBefore = max(c.TokensRevokedBefore, e.IssuedBefore)
	default:
		return
	}
	c.Version = seq
}

// CreateClient is the command behind POST /admin/realms/{realm}/clients.
type CreateClient struct {
	ClientID            string   `json:"-"`
	Name                string   `json:"name"`
	GrantTypes          []string `json:"grant_types"`
	Scopes              []string `json:"scopes"`
	AccessTokenLifetime int64    `json:"access_token_lifetime"`
}

// DecideCreateClient validates a create command and returns its event. The
// secret hash is passed in: generating the secret is the caller's I/O.
func DecideCreateClient(cmd CreateClient, secretHash string) (ClientCreated, error) {
	if err := ValidateName("client id", cmd.ClientID); err != nil {
		return ClientCreated{}, err
	}
	name := strings.TrimSpace(cmd.Name)
	if name == "" || len(name) > 200 {
		return ClientCreated{}, &ValidationError{Field: "name", Message: "name is required and at most 200 characters"}
	}
	grants := cmd.GrantTypes
	if len(grants) == 0 {
		grants = []string{GrantClientCredentials}
	}
	for _, g := range grants {
		if !slices.Contains(supportedGrants, g) {
			return ClientCreated{}, &ValidationError{Field: "grant_types",
				Message: fmt.Sprintf("grant type %q is not supported; use one of %s", g, strings.Join(supportedGrants, ", "))}
		}
	}
	for _, s := range cmd.Scopes {
		if !IsScopeToken(s) {
			return ClientCreated{}, &ValidationError{Field: "scopes", Message: fmt.Sprintf("scope %q is not a valid scope token (RFC 6749 §3.3)", s)}
		}
	}
	lifetime := cmd.AccessTokenLifetime
	if lifetime == 0 {
		lifetime = DefaultAccessTokenLifetime
	}
	if lifetime < MinAccessTokenLifetime || lifetime > MaxAccessTokenLifetime {
		return ClientCreated{}, &ValidationError{Field: "access_token_lifetime",
			Message: fmt.Sprintf("access_token_lifetime must be between %d and %d seconds", MinAccessTokenLifetime, MaxAccessTokenLifetime)}
	}
	return ClientCreated{
		ClientID:            cmd.ClientID,
		Name:                name,
		Type:                ClientConfidential,
		GrantTypes:          dedupe(grants),
		Scopes:              dedupe(nonNil(cmd.Scopes)),
		AccessTokenLifetime: lifetime,
		SecretHash:          secretHash,
	}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func dedupe(s []string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
