package domain

import (
	"slices"
	"time"
)

// Grant types a client may be allowed.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	// GrantDeviceCode is the device authorization grant (RFC 8628): a
	// device without a browser of its own shows a code, the user approves
	// it elsewhere, and the device polls for its tokens.
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// Client status.
const (
	StatusEnabled  = "enabled"
	StatusDisabled = "disabled"
)

// Client is the state of one OAuth client, folded from its events.
type Client struct {
	ID string
	ClientSettings
	Status                string
	SecretHash            string
	PreviousSecretHash    string
	PreviousSecretExpires int64
	// TokensRevokedBefore: every token of the client issued (iat) before
	// this Unix second is revoked.
	TokensRevokedBefore int64
	// CutoffSeq is the stream sequence of the last revoke-all (revoke,
	// disable, delete): codes and grants written before it are dead.
	CutoffSeq uint64
	Deleted   bool
	// Source is how the client came to be: SourceAdmin, or met through its
	// metadata document, or registered by itself (RFC 7591).
	Source string
	// LogoURI and ClientURI are what the client says of itself (metadata
	// document, registration).
	LogoURI, ClientURI string
	// DocumentSHA256 is the hash of the metadata document last recorded.
	DocumentSHA256 string
	// RegistrationHash is the hash of the registration access token (RFC
	// 7592) of a client that registered itself.
	RegistrationHash string
	// InitialToken names the initial access token it registered with.
	InitialToken string
	// Version is the stream sequence of the client's last own event; an
	// update appends with it as the expected last subject sequence.
	Version uint64
}

// Where clients come from.
const (
	SourceAdmin            = ""
	SourceMetadataDocument = "metadata_document"
	SourceRegistration     = "registration"
)

// Allows reports whether the client may use a grant type.
func (c *Client) Allows(grant string) bool { return slices.Contains(c.GrantTypes, grant) }

// Enabled reports whether the client may get tokens.
func (c *Client) Enabled() bool { return c.Status == StatusEnabled && !c.Deleted }

// Apply folds one of the client's own events into its state.
func (c *Client) Apply(seq uint64, p Payload) {
	switch e := p.(type) {
	case ClientCreated:
		*c = Client{ID: e.ClientID, ClientSettings: e.ClientSettings, Status: StatusEnabled, SecretHash: e.SecretHash}
	case ClientDiscovered:
		if c.ID == "" {
			*c = Client{ID: e.ClientID, Status: StatusEnabled, Source: SourceMetadataDocument}
		}
		c.ClientSettings, c.LogoURI, c.ClientURI, c.DocumentSHA256 = e.ClientSettings, e.LogoURI, e.ClientURI, e.DocumentSHA256
	case ClientRegistered:
		*c = Client{ID: e.ClientID, ClientSettings: e.ClientSettings, Status: StatusEnabled, Source: SourceRegistration,
			SecretHash: e.SecretHash, RegistrationHash: e.RegistrationHash, LogoURI: e.LogoURI, ClientURI: e.ClientURI,
			InitialToken: e.InitialToken}
	case ClientUpdated:
		c.ClientSettings = e.After
		if e.After.TokenEndpointAuthMethod == AuthPrivateKeyJWT {
			// A client that signs assertions has no secret: the one it had
			// stops working when it switches.
			c.SecretHash, c.PreviousSecretHash, c.PreviousSecretExpires = "", "", 0
		}
	case ClientSecretRotated:
		c.PreviousSecretHash, c.PreviousSecretExpires = "", 0
		if e.PreviousExpiresAt > 0 {
			c.PreviousSecretHash, c.PreviousSecretExpires = c.SecretHash, e.PreviousExpiresAt
		}
		c.SecretHash = e.SecretHash
	case ClientSecretRehashed:
		if e.SecretHash != "" {
			c.SecretHash = e.SecretHash
		}
		if e.PreviousSecretHash != "" {
			c.PreviousSecretHash = e.PreviousSecretHash
		}
	case ClientDisabled:
		c.Status = StatusDisabled
		c.TokensRevokedBefore = max(c.TokensRevokedBefore, e.TokensRevokedBefore)
		c.CutoffSeq = seq
	case ClientEnabled:
		c.Status = StatusEnabled
	case ClientDeleted:
		c.Deleted = true
		c.TokensRevokedBefore = max(c.TokensRevokedBefore, e.TokensRevokedBefore)
		c.CutoffSeq = seq
	case ClientTokensRevoked:
		c.TokensRevokedBefore = max(c.TokensRevokedBefore, e.IssuedBefore)
		c.CutoffSeq = seq
	default:
		return
	}
	c.Version = seq
}

// TokenCutoff is implemented by events that revoke every token of a client
// issued before a time: the tokens read model folds them all alike.
type TokenCutoff interface {
	RevokesBefore() int64
	CutoffClient() string
}

func (e ClientTokensRevoked) RevokesBefore() int64 { return e.IssuedBefore }
func (e ClientDisabled) RevokesBefore() int64      { return e.TokensRevokedBefore }
func (e ClientDeleted) RevokesBefore() int64       { return e.TokensRevokedBefore }

// The client a cut-off names when its aggregate id is not its client id
// (a client known by URL, see ClientRef); "" otherwise.
func (e ClientTokensRevoked) CutoffClient() string { return e.URLClientID }
func (e ClientDisabled) CutoffClient() string      { return e.URLClientID }
func (e ClientDeleted) CutoffClient() string       { return e.URLClientID }

// urlClientID is what a cut-off event records of its client: its id when
// the aggregate's id cannot be (see ClientRef), else nothing.
func urlClientID(id string) string {
	if IsValidName(id) {
		return ""
	}
	return id
}

// revocationCutoff is the first whole second after now: a cut-off at it
// covers every token issued up to now (iat has one-second precision). The
// token endpoint holds a new token of the client until the cut-off passed.
func revocationCutoff(now time.Time) int64 { return now.Unix() + 1 }

// cutoffRule is the downstream rule for a client cut-off. It can be dropped
// once the longest access token issued before the cut-off has expired.
func cutoffRule(clientID string, cutoff int64) RevocationRule {
	return RevocationRule{ClientID: clientID, IssuedBefore: cutoff, ForgetAfter: cutoff + MaxAccessTokenLifetime}
}
