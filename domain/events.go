package domain

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Payload is the typed body of one event. Its EventType is the envelope's
// "type" field, for example "client.created".
type Payload interface {
	EventType() string
}

// Event is what a decision returns: a payload for one aggregate.
type Event struct {
	Aggregate AggregateRef
	Payload   Payload
}

// Event types. The part before the dot names the aggregate type the event
// usually belongs to; token events belong to their client's aggregate but keep
// their own prefix so they sit on a deeper subject (see eventstore.Subject).
const (
	TypeRealmCreated         = "realm.created"
	TypeRealmKeyAdded        = "realm.key_added"
	TypeRealmKeyDeactivated  = "realm.key_deactivated"
	TypeRealmScopeDefined    = "realm.scope_defined"
	TypeRealmScopeRemoved    = "realm.scope_removed"
	TypeNodeCreated          = "node.created"
	TypeNodeRenamed          = "node.renamed"
	TypeNodeDeleted          = "node.deleted"
	TypeNodeReferenced       = "node.referenced"
	TypeScopeReferenced      = "scope.referenced"
	TypeScopeRetired         = "scope.retired"
	TypeClientCreated        = "client.created"
	TypeClientUpdated        = "client.updated"
	TypeClientSecretRotated  = "client.secret_rotated"
	TypeClientSecretRehashed = "client.secret_rehashed"
	TypeClientDisabled       = "client.disabled"
	TypeClientEnabled        = "client.enabled"
	TypeClientDeleted        = "client.deleted"
	TypeClientTokensRevoked  = "client.tokens_revoked"
	TypeTokenIssued          = "token.issued"
	TypeTokenRevoked         = "token.revoked"
	TypeTokenUsed            = "token.used"
)

// RealmCreated starts a realm's history. RequirePKCE is the setting a new
// realm starts with (NewRealmSettings); realms created before it existed
// have it off.
type RealmCreated struct {
	Name        string `json:"name"`
	RequirePKCE bool   `json:"require_pkce,omitempty"`
}

// KeyAdded publishes a signing key: only its id and public half. The private
// key lives in the encrypted key store, never in an event.
type KeyAdded struct {
	Kid       string          `json:"kid"`
	Alg       string          `json:"alg"`
	Use       string          `json:"use"`
	PublicJWK json.RawMessage `json:"public_jwk"`
}

// KeyDeactivated stops a key from signing; its public half stays published
// until VerifyUntil (Unix seconds), when every token it signed has expired.
type KeyDeactivated struct {
	Kid         string `json:"kid"`
	VerifyUntil int64  `json:"verify_until"`
}

// ScopeDefined adds an API scope to the realm's catalog, with the
// description shown at consent.
type ScopeDefined struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// ScopeRemoved takes a realm-defined scope out of the catalog.
type ScopeRemoved struct {
	Name string `json:"name"`
}

// NodeCreated adds a node to the realm's tree.
type NodeCreated struct {
	Slug   string `json:"slug"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Parent string `json:"parent,omitempty"`
}

// NodeRenamed changes a node's display name (its slug never changes).
type NodeRenamed struct {
	Name string `json:"name"`
}

// NodeDeleted removes a node nothing referred to.
type NodeDeleted struct{}

// NodeReferenced records that a write made something refer to the node
// (By: "client/<id>", "user/<id>", or "node/<slug>" for a child). It
// changes nothing but the node's version, in the same atomic write as the
// reference and at the version the writer read: a deletion decided before
// it fails at the stream and is decided again, and a reference decided
// before a deletion fails the same way. Replicas need no lock to keep a
// removed node from being referred to.
type NodeReferenced struct {
	By string `json:"by"`
}

// ScopeReferenced is NodeReferenced for a realm-defined scope (the
// aggregate scope/<ScopeID(name)>): a client given the scope.
type ScopeReferenced struct {
	Scope string `json:"scope"`
	By    string `json:"by"`
}

// ScopeRetired is written to a scope's aggregate with its removal from
// the catalog (ScopeRemoved, on the realm), at the version the removal
// read: a reference decided before the removal then fails, as a removal
// decided before a reference does.
type ScopeRetired struct {
	Scope string `json:"scope"`
}

// ClientCreated registers an OAuth client. SecretHash is the hex SHA-256 of
// a 256-bit random secret (empty for public clients): it cannot be
// reversed, and it is never shown by the API.
type ClientCreated struct {
	ClientID string `json:"client_id"`
	ClientSettings
	SecretHash string `json:"secret_hash,omitempty"`
}

// ClientUpdated changes a client's settings; it carries them before and
// after, so the history shows every privilege change in full.
type ClientUpdated struct {
	Before ClientSettings `json:"before"`
	After  ClientSettings `json:"after"`
}

// ClientSecretRotated replaces the secret. The previous one stays valid
// until PreviousExpiresAt (Unix seconds; 0 = invalid at once).
type ClientSecretRotated struct {
	SecretHash        string `json:"secret_hash"`
	PreviousExpiresAt int64  `json:"previous_expires_at"`
}

// ClientSecretRehashed replaces a stored secret hash of the old form
// (unsalted SHA-256) by the HMAC of the same secret (SecretHasher), after
// the secret was used successfully: SecretHash for the current secret,
// PreviousSecretHash for the previous one during a rotation overlap. The
// secret itself does not change.
type ClientSecretRehashed struct {
	SecretHash         string `json:"secret_hash,omitempty"`
	PreviousSecretHash string `json:"previous_secret_hash,omitempty"`
}

// ClientDisabled stops a client from getting tokens and revokes those it
// holds (issued before TokensRevokedBefore).
type ClientDisabled struct {
	TokensRevokedBefore int64  `json:"tokens_revoked_before"`
	Reason              string `json:"reason,omitempty"`
	// URLClientID names a client known by URL (see ClientRef).
	URLClientID string `json:"client_id,omitempty"`
}

// ClientEnabled lets a disabled client get tokens again; revoked tokens
// stay revoked.
type ClientEnabled struct{}

// ClientDeleted removes a client for good and revokes its tokens. Its id is
// never used again.
type ClientDeleted struct {
	TokensRevokedBefore int64  `json:"tokens_revoked_before"`
	URLClientID         string `json:"client_id,omitempty"`
}

// TokenIssued records an access token handed out. The token itself is not
// stored: its id (jti) and claims are enough to introspect and revoke it,
// and Hash (see TokenHash) proves that a presented token is the one issued
// without verifying its signature again.
type TokenIssued struct {
	JTI       string   `json:"jti"`
	Hash      string   `json:"hash"`
	Subject   string   `json:"sub"`
	Scope     string   `json:"scope"`
	GrantType string   `json:"grant_type"`
	Kid       string   `json:"kid"`
	Nodes     []string `json:"nodes,omitempty"`
	Preset    string   `json:"preset,omitempty"`
	IssuedAt  int64    `json:"iat"`
	ExpiresAt int64    `json:"exp"`
	// Audience is the resource the token was minted for (RFC 8707); empty:
	// the realm's issuer.
	Audience string `json:"aud,omitempty"`
	// JKT binds the token to a DPoP key (RFC 9449): the thumbprint of the
	// key whose proofs must come with it (cnf.jkt). Empty: a bearer token.
	JKT string `json:"jkt,omitempty"`
}

// TokenRevoked revokes one access token before it expires.
type TokenRevoked struct {
	JTI       string `json:"jti"`
	ExpiresAt int64  `json:"exp"`
	Reason    string `json:"reason"`
}

// ClientTokensRevoked revokes every token of a client issued before
// IssuedBefore (Unix seconds): one event however many tokens it covers.
type ClientTokensRevoked struct {
	IssuedBefore int64  `json:"issued_before"`
	ForgetAfter  int64  `json:"forget_after"`
	Reason       string `json:"reason"`
	URLClientID  string `json:"client_id,omitempty"`
}

// TokenUsed records that a token was seen in use (introspection), at most
// once per token per minute.
type TokenUsed struct {
	JTI string `json:"jti"`
	At  int64  `json:"at"`
}

func (ScopeDefined) EventType() string         { return TypeRealmScopeDefined }
func (ScopeRemoved) EventType() string         { return TypeRealmScopeRemoved }
func (NodeCreated) EventType() string          { return TypeNodeCreated }
func (NodeRenamed) EventType() string          { return TypeNodeRenamed }
func (NodeDeleted) EventType() string          { return TypeNodeDeleted }
func (NodeReferenced) EventType() string       { return TypeNodeReferenced }
func (ScopeReferenced) EventType() string      { return TypeScopeReferenced }
func (ScopeRetired) EventType() string         { return TypeScopeRetired }
func (ClientUpdated) EventType() string        { return TypeClientUpdated }
func (ClientSecretRotated) EventType() string  { return TypeClientSecretRotated }
func (ClientSecretRehashed) EventType() string { return TypeClientSecretRehashed }
func (ClientDisabled) EventType() string       { return TypeClientDisabled }
func (ClientEnabled) EventType() string        { return TypeClientEnabled }
func (ClientDeleted) EventType() string        { return TypeClientDeleted }
func (TokenRevoked) EventType() string         { return TypeTokenRevoked }
func (ClientTokensRevoked) EventType() string  { return TypeClientTokensRevoked }
func (TokenUsed) EventType() string            { return TypeTokenUsed }
func (RealmCreated) EventType() string         { return TypeRealmCreated }
func (KeyAdded) EventType() string             { return TypeRealmKeyAdded }
func (KeyDeactivated) EventType() string       { return TypeRealmKeyDeactivated }
func (ClientCreated) EventType() string        { return TypeClientCreated }
func (TokenIssued) EventType() string          { return TypeTokenIssued }

// decoders maps an event type to a function that decodes its payload.
var decoders = map[string]func([]byte) (Payload, error){
	TypeRealmCreated:         decodeAs[RealmCreated],
	TypeRealmKeyAdded:        decodeAs[KeyAdded],
	TypeRealmKeyDeactivated:  decodeAs[KeyDeactivated],
	TypeRealmScopeDefined:    decodeAs[ScopeDefined],
	TypeRealmScopeRemoved:    decodeAs[ScopeRemoved],
	TypeNodeCreated:          decodeAs[NodeCreated],
	TypeNodeRenamed:          decodeAs[NodeRenamed],
	TypeNodeDeleted:          decodeAs[NodeDeleted],
	TypeNodeReferenced:       decodeAs[NodeReferenced],
	TypeScopeReferenced:      decodeAs[ScopeReferenced],
	TypeScopeRetired:         decodeAs[ScopeRetired],
	TypeClientCreated:        decodeAs[ClientCreated],
	TypeClientUpdated:        decodeAs[ClientUpdated],
	TypeClientSecretRotated:  decodeAs[ClientSecretRotated],
	TypeClientSecretRehashed: decodeAs[ClientSecretRehashed],
	TypeClientDisabled:       decodeAs[ClientDisabled],
	TypeClientEnabled:        decodeAs[ClientEnabled],
	TypeClientDeleted:        decodeAs[ClientDeleted],
	TypeTokenIssued:          decodeAs[TokenIssued],
	TypeTokenRevoked:         decodeAs[TokenRevoked],
	TypeClientTokensRevoked:  decodeAs[ClientTokensRevoked],
	TypeTokenUsed:            decodeAs[TokenUsed],
}

func decodeAs[T Payload](data []byte) (Payload, error) {
	var p T
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, err
	}
	return p, nil
}

// EventTypes lists every event type the domain knows, sorted.
func EventTypes() []string {
	return slices.Sorted(maps.Keys(decoders))
}

// DecodePayload turns an envelope's data back into its typed payload.
func DecodePayload(eventType string, data []byte) (Payload, error) {
	dec, ok := decoders[eventType]
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", eventType)
	}
	p, err := dec(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	return p, nil
}
