package domain

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"strings"
)

// Clients the realm meets without an administrator: through their client
// ID metadata document (draft-ietf-oauth-client-id-metadata-document,
// "CIMD": the client_id is the URL of a JSON document describing the
// client) or by registering themselves (RFC 7591, RFC 7592). Both describe
// a client in RFC 7591's metadata, which becomes ordinary ClientSettings:
// the same validation, redirect-URI rules and warnings as any client.

// Errors of client registration (RFC 7591 §3.2.2).
const (
	ErrInvalidClientMetadata = "invalid_client_metadata"
	ErrInvalidRedirectURI    = "invalid_redirect_uri"
)

// ClientMetadata is RFC 7591 §2 client metadata, as sent to the
// registration endpoint or published in a metadata document. Members this
// server does not use are ignored, as RFC 7591 asks.
type ClientMetadata struct {
	ClientID                string          `json:"client_id,omitempty"`
	RedirectURIs            []string        `json:"redirect_uris"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string        `json:"grant_types,omitempty"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	ClientName              string          `json:"client_name,omitempty"`
	ClientURI               string          `json:"client_uri,omitempty"`
	LogoURI                 string          `json:"logo_uri,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	PostLogoutRedirectURIs  []string        `json:"post_logout_redirect_uris,omitempty"`
	// DPoPBoundAccessTokens (RFC 9449 §5.2) and RequirePAR (RFC 9126 §6)
	// become the client settings of the same names.
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`
	RequirePAR            bool `json:"require_pushed_authorization_requests,omitempty"`
}

// MetadataPolicy is what a realm lets clients it did not create be.
type MetadataPolicy struct {
	// AuthMethods the client may choose.
	AuthMethods []string
	// Grants the client may ask for.
	Grants []string
	// Scopes the client may hold; DefaultScopes it gets when it names none.
	Scopes, DefaultScopes []string
	// Strict refuses a scope outside Scopes (registration); otherwise such
	// scopes are dropped (a metadata document is written for many servers).
	Strict bool
	// DefaultName names a client whose metadata gives none.
	DefaultName string
	// DefaultAuthMethod applies when the metadata names none.
	DefaultAuthMethod string
	// Catalog and Tree validate the settings, as for any client.
	Catalog Catalog
	Tree    Tree
}

// BuiltinScopeNames are the OpenID scopes every realm has.
func BuiltinScopeNames() []string { return sortedKeys(builtinScopes) }

func metadataError(desc string) *OAuthError {
	return &OAuthError{Code: ErrInvalidClientMetadata, Description: desc}
}

// Settings turns metadata into a client's settings under a policy, or an
// invalid_client_metadata / invalid_redirect_uri error.
func (m ClientMetadata) Settings(p MetadataPolicy) (ClientSettings, error) {
	method := m.TokenEndpointAuthMethod
	if method == "" {
		method = p.DefaultAuthMethod
	}
	if !slices.Contains(p.AuthMethods, method) {
		return ClientSettings{}, metadataError("token_endpoint_auth_method must be one of " + strings.Join(p.AuthMethods, ", "))
	}
	grants := m.GrantTypes
	if len(grants) == 0 {
		grants = []string{GrantAuthorizationCode} // RFC 7591 §2
	}
	for _, g := range grants {
		if !slices.Contains(p.Grants, g) {
			return ClientSettings{}, metadataError("grant_types may hold only " + strings.Join(p.Grants, ", "))
		}
	}
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			return ClientSettings{}, metadataError(`response_types may hold only "code"`)
		}
	}
	if slices.Contains(grants, GrantAuthorizationCode) && slices.Contains(grants, GrantClientCredentials) {
		return ClientSettings{}, metadataError("a client acts for users (authorization_code) or as itself (client_credentials), not both")
	}
	if invalid := InvalidRedirectURIs(m.RedirectURIs); len(invalid) > 0 {
		return ClientSettings{}, &OAuthError{Code: ErrInvalidRedirectURI, Description: "invalid redirect URIs: " + strings.Join(invalid, "; ")}
	}
	if slices.Contains(grants, GrantAuthorizationCode) && len(m.RedirectURIs) == 0 {
		return ClientSettings{}, &OAuthError{Code: ErrInvalidRedirectURI, Description: "authorization_code needs at least one redirect URI"}
	}
	for _, u := range []string{m.ClientURI, m.LogoURI} {
		if u != "" && FetchURLProblem(u) != "" {
			return ClientSettings{}, metadataError("client_uri and logo_uri must be https URLs")
		}
	}
	scopes, oerr := m.scopes(p)
	if oerr != nil {
		return ClientSettings{}, oerr
	}
	name := strings.TrimSpace(m.ClientName)
	if name == "" {
		name = p.DefaultName
	}
	if scripts := MixedScripts(name); scripts != nil {
		// An administrator may confirm such a name; a client met without
		// one cannot (see checkNameScripts).
		return ClientSettings{}, metadataError("client_name mixes " + strings.Join(scripts, " and ") +
			" letters, which can pass for another name on the consent page")
	}
	s := ClientSettings{
		Name: name, Type: ClientConfidential, GrantTypes: slices.Clone(grants), TokenEndpointAuthMethod: method,
		Scopes: scopes, RedirectURIs: slices.Clone(m.RedirectURIs), PostLogoutRedirectURIs: slices.Clone(m.PostLogoutRedirectURIs),
		JWKSURI: m.JWKSURI, DPoPBoundAccessTokens: m.DPoPBoundAccessTokens, RequirePAR: m.RequirePAR,
	}
	if len(m.JWKS) > 0 && string(m.JWKS) != "null" {
		s.JWKS = slices.Clone(m.JWKS)
	}
	if method == AuthNone {
		s.Type = ClientPublic
	}
	s.Normalize()
	if err := s.Validate(p.Catalog, p.Tree); err != nil {
		return ClientSettings{}, metadataError(err.Error())
	}
	return s, nil
}

// scopes reads the metadata's scope under the policy.
func (m ClientMetadata) scopes(p MetadataPolicy) ([]string, *OAuthError) {
	if strings.TrimSpace(m.Scope) == "" {
		return slices.Clone(p.DefaultScopes), nil
	}
	var out []string
	for s := range strings.FieldsSeq(m.Scope) {
		switch {
		case slices.Contains(p.Scopes, s):
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		case p.Strict:
			return nil, metadataError("scope " + s + " cannot be registered here")
		}
	}
	return out, nil
}

// parseMetadata reads a JSON object of client metadata; a member of the
// wrong type is invalid_client_metadata. Members are read by their exact
// (lower-case) names, once: "Scope" is not scope, and a member named twice
// has one value for every reader here.
func parseMetadata(raw []byte) (ClientMetadata, map[string]json.RawMessage, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return ClientMetadata{}, nil, metadataError("the metadata is not a JSON object")
	}
	exact := make(map[string]json.RawMessage, len(members))
	for k, v := range members {
		if k == strings.ToLower(k) {
			exact[k] = v
		}
	}
	clean, _ := json.Marshal(exact)
	var m ClientMetadata
	if err := json.Unmarshal(clean, &m); err != nil {
		return ClientMetadata{}, nil, metadataError("the metadata does not read as RFC 7591 client metadata: " + err.Error())
	}
	return m, members, nil
}

// ClientDiscovered records a client met through its metadata document:
// the document's URL (its client_id), the settings made of it, what it
// says of itself, and the document's hash. A changed document is a new
// event; the client's status (enabled, disabled) stays an administrator's.
type ClientDiscovered struct {
	ClientID string `json:"client_id"`
	ClientSettings
	LogoURI        string `json:"logo_uri,omitempty"`
	ClientURI      string `json:"client_uri,omitempty"`
	DocumentSHA256 string `json:"document_sha256"`
}

// ClientRegistered records a client that registered itself (RFC 7591). Its
// registration access token (RFC 7592) is known by its hash only;
// InitialToken names the initial access token it registered with, if any.
type ClientRegistered struct {
	ClientID string `json:"client_id"`
	ClientSettings
	SecretHash       string `json:"secret_hash,omitempty"`
	RegistrationHash string `json:"registration_hash"`
	LogoURI          string `json:"logo_uri,omitempty"`
	ClientURI        string `json:"client_uri,omitempty"`
	InitialToken     string `json:"initial_token,omitempty"`
}

const (
	TypeClientDiscovered = "client.discovered"
	TypeClientRegistered = "client.registered"
)

func (ClientDiscovered) EventType() string { return TypeClientDiscovered }
func (ClientRegistered) EventType() string { return TypeClientRegistered }

func init() {
	decoders[TypeClientDiscovered] = decodeAs[ClientDiscovered]
	decoders[TypeClientRegistered] = decodeAs[ClientRegistered]
}

// MaxMetadataDocument is the largest client metadata document read (5 KiB).
const MaxMetadataDocument = 5 << 10

// IsClientIDURL reports whether a client_id names a metadata document
// rather than a registered client: an https URL.
func IsClientIDURL(clientID string) bool { return strings.HasPrefix(clientID, "https://") }

// ClientIDURLProblem checks a client_id URL against the draft's rules (§3):
// https, a path, no fragment, no user info, no dot segments; "" when sound.
func ClientIDURLProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || len(raw) > 2000:
		return "the client_id is not an absolute URL"
	case u.Scheme != "https":
		return "a client_id URL uses https"
	case u.Path == "" || u.Path == "/":
		return "a client_id URL has a path"
	case strings.Contains(raw, "#"):
		return "a client_id URL has no fragment"
	case u.User != nil:
		return "a client_id URL has no user info"
	case portProblem(u) != "":
		return portProblem(u)
	}
	for seg := range strings.SplitSeq(u.EscapedPath(), "/") {
		if seg == "." || seg == ".." {
			return "a client_id URL has no . or .. segments"
		}
	}
	return ""
}

// DocumentSHA256 is the hex SHA-256 of a metadata document as fetched.
func DocumentSHA256(doc []byte) string {
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:])
}

// DecideDiscoverClient reads a client's metadata document (fetched from
// clientID, its URL) under the realm's policy. It returns the event that
// records the client, or nil when cur already records this document with
// the same settings. A document that breaks the draft's rules is
// invalid_client_metadata, naming the rule.
func DecideDiscoverClient(cur *Client, clientID string, doc []byte, p MetadataPolicy) (*ClientDiscovered, error) {
	if cur != nil && cur.Deleted {
		return nil, &OAuthError{Code: ErrInvalidClient, Description: "this client was deleted by an administrator"}
	}
	if len(doc) > MaxMetadataDocument {
		return nil, metadataError("the metadata document is larger than 5 KiB")
	}
	m, members, err := parseMetadata(bytes.TrimSpace(doc))
	if err != nil {
		return nil, err
	}
	if m.ClientID != clientID {
		return nil, metadataError("the document's client_id does not equal the URL it was fetched from")
	}
	for _, forbidden := range []string{"client_secret", "client_secret_expires_at"} {
		if _, ok := members[forbidden]; ok {
			return nil, metadataError("a metadata document must not hold " + forbidden)
		}
	}
	if p.DefaultName == "" {
		u, _ := url.Parse(clientID)
		p.DefaultName = u.Hostname()
	}
	s, err := m.Settings(p)
	if err != nil {
		return nil, err
	}
	ev := ClientDiscovered{ClientID: clientID, ClientSettings: s, LogoURI: m.LogoURI, ClientURI: m.ClientURI, DocumentSHA256: DocumentSHA256(doc)}
	if cur != nil && cur.ID != "" && cur.DocumentSHA256 == ev.DocumentSHA256 && reflect.DeepEqual(cur.ClientSettings, s) {
		return nil, nil
	}
	return &ev, nil
}

// DecideRegisterClient registers a client from its RFC 7591 request.
// secretHash is kept only for a client that has a secret.
func DecideRegisterClient(id string, raw []byte, secretHash, registrationHash, initialToken string, p MetadataPolicy) (ClientRegistered, error) {
	m, members, err := parseMetadata(raw)
	if err != nil {
		return ClientRegistered{}, err
	}
	if _, ok := members["client_id"]; ok {
		return ClientRegistered{}, metadataError("client_id is assigned by the server")
	}
	s, err := m.Settings(p)
	if err != nil {
		return ClientRegistered{}, err
	}
	if !s.HasSecret() {
		secretHash = ""
	}
	return ClientRegistered{ClientID: id, ClientSettings: s, SecretHash: secretHash, RegistrationHash: registrationHash,
		LogoURI: m.LogoURI, ClientURI: m.ClientURI, InitialToken: initialToken}, nil
}

// DecideReregisterClient replaces a self-registered client's metadata (RFC
// 7592 §2.2): the request carries its client_id, and its type cannot
// change. nil when nothing changes.
func DecideReregisterClient(c *Client, raw []byte, p MetadataPolicy) (*ClientUpdated, error) {
	if c == nil || c.Deleted || c.Source != SourceRegistration {
		return nil, ErrNotFound
	}
	m, members, err := parseMetadata(raw)
	if err != nil {
		return nil, err
	}
	if _, ok := members["client_id"]; ok && m.ClientID != c.ID {
		return nil, metadataError("client_id does not match the registration")
	}
	s, err := m.Settings(p)
	if err != nil {
		return nil, err
	}
	if s.Type != c.Type || s.HasSecret() != c.HasSecret() {
		return nil, metadataError("token_endpoint_auth_method cannot change between a secret, a key and none; register a new client")
	}
	if reflect.DeepEqual(s, c.ClientSettings) {
		return nil, nil
	}
	return &ClientUpdated{Before: c.ClientSettings, After: s}, nil
}

// Metadata is a client's settings as RFC 7591 metadata, as the
// registration endpoints answer with them.
func (c *Client) Metadata() ClientMetadata {
	return ClientMetadata{
		ClientID: c.ID, RedirectURIs: c.RedirectURIs, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		GrantTypes: c.GrantTypes, ResponseTypes: []string{"code"}, ClientName: c.Name, ClientURI: c.ClientURI,
		LogoURI: c.LogoURI, Scope: strings.Join(c.Scopes, " "), JWKSURI: c.JWKSURI, JWKS: c.JWKS,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, DPoPBoundAccessTokens: c.DPoPBoundAccessTokens, RequirePAR: c.RequirePAR,
	}
}
