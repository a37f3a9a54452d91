package domain

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
)

// Lifetimes of the authorization-code flow.
const (
	CodeLifetime      = 600       // seconds: authorization codes, single use
	UISessionLifetime = 12 * 3600 // seconds: browser sessions
)

// Aggregate types of the authorization-code flow.
const (
	AggregateCode    = "code"
	AggregateGrant   = "grant"
	AggregateSession = "session"
)

// CodeRef, GrantRef and SessionRef name their aggregates.
func CodeRef(id string) AggregateRef    { return AggregateRef{Type: AggregateCode, ID: id} }
func GrantRef(id string) AggregateRef   { return AggregateRef{Type: AggregateGrant, ID: id} }
func SessionRef(id string) AggregateRef { return AggregateRef{Type: AggregateSession, ID: id} }

// AuthRequest is an authorization request (RFC 6749 §4.1.1, RFC 7636,
// OpenID Connect Core §3.1.2.1).
type AuthRequest struct {
	ClientID            string `json:"client_id"`
	RedirectURI         string `json:"redirect_uri"`
	ResponseType        string `json:"response_type"`
	Scope               string `json:"scope"`
	State               string `json:"state"`
	Nonce               string `json:"nonce"`
	Prompt              string `json:"prompt"`
	MaxAge              int64  `json:"max_age"` // -1: not given
	LoginHint           string `json:"login_hint"`
	CodeChallenge       string `json:"code_challenge"`
	CodeChallengeMethod string `json:"code_challenge_method"`
	// Resources are the RFC 8707 resource indicators asked for.
	Resources []string `json:"resources,omitempty"`
	// DPoPJKT is dpop_jkt (RFC 9449 §10): the DPoP key the code will be
	// redeemed with.
	DPoPJKT string `json:"dpop_jkt,omitempty"`
}

// pkceChallenge is a base64url SHA-256: 43 characters (RFC 7636 §4.2),
// the last of which carries 4 bits of the hash and 2 zero bits, so only 16
// characters can end it; another ending decodes to no SHA-256 value and
// could never be matched by a verifier.
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$`)

// pkceVerifier is RFC 7636 §4.1: 43 to 128 unreserved characters.
var pkceVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// CheckAuthTarget decides whether errors about a request may be sent back
// to its redirect URI: only for an enabled user_app client allowed the code
// flow, with a redirect URI it registered. Otherwise the answer is an error
// page, never a redirect (no open redirector).
func CheckAuthTarget(c *Client, redirectURI string) string {
	switch {
	case c == nil || !c.Enabled():
		return "unknown or disabled client"
	case redirectURI == "":
		return "redirect_uri is required"
	case !RedirectURIMatches(c.RedirectURIs, redirectURI):
		return "redirect_uri is not registered for this client"
	}
	return ""
}

// CheckResponseMode says what is wrong with a response_mode: only query
// (the default of response_type=code) is supported. A request asking for
// another mode gets the error page, not a redirect: the client expects its
// answer, errors included, in a form this server does not send (OAuth 2.0
// Multiple Response Type Encoding Practices §2.1).
func CheckResponseMode(mode string) string {
	if mode == "" || mode == "query" {
		return ""
	}
	return "response_mode " + mode + " is not supported; only query is"
}

// CheckAuthRequest validates the rest of a request whose target is sound;
// its errors go back to the redirect URI. It returns the scopes asked for.
// With requirePKCE (the realm's setting), confidential clients must use
// PKCE too; public clients always must.
func CheckAuthRequest(c *Client, r AuthRequest, requirePKCE bool) ([]string, *OAuthError) {
	invalid := func(d string) *OAuthError { return &OAuthError{Code: ErrInvalidRequest, Description: d} }
	switch {
	case r.ResponseType == "":
		return nil, invalid("response_type is required")
	case r.ResponseType != "code":
		return nil, &OAuthError{Code: "unsupported_response_type", Description: "only response_type=code is supported"}
	case !c.Allows(GrantAuthorizationCode):
		return nil, &OAuthError{Code: ErrUnauthorizedClient, Description: "client is not allowed the authorization_code grant"}
	}
	if r.CodeChallenge != "" || r.CodeChallengeMethod != "" {
		if r.CodeChallengeMethod != "S256" {
			return nil, invalid("code_challenge_method must be S256")
		}
		if !pkceChallenge.MatchString(r.CodeChallenge) {
			return nil, invalid("code_challenge must be a base64url SHA-256 (43 characters)")
		}
	} else if c.Type == ClientPublic {
		return nil, invalid("a public client must use PKCE (code_challenge with S256)")
	} else if requirePKCE {
		return nil, invalid("this realm requires PKCE of every client (code_challenge with S256)")
	}
	if r.DPoPJKT != "" && !pkceChallenge.MatchString(r.DPoPJKT) {
		// A JWK thumbprint is a base64url SHA-256, as a challenge is.
		return nil, invalid("dpop_jkt must be a base64url SHA-256 JWK thumbprint (43 characters)")
	}
	for _, p := range strings.Fields(r.Prompt) {
		if !slices.Contains([]string{"none", "login", "consent"}, p) {
			return nil, invalid("prompt must be none, login or consent")
		}
	}
	req, oerr := parseScope(r.Scope)
	if oerr != nil {
		return nil, oerr
	}
	if req.node != "" {
		return nil, &OAuthError{Code: ErrInvalidScope, Description: "teams are chosen at consent, not with tenant:/team: scopes"}
	}
	scopes, oerr := grantScopes(req.scopes, c.Scopes, c.OptionalScopes)
	if oerr != nil {
		return nil, oerr
	}
	return scopes, nil
}

// PKCEMatches checks a code_verifier against an S256 challenge.
func PKCEMatches(challenge, verifier string) bool {
	if !pkceVerifier.MatchString(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// SelectableTeams are the teams a user may pick at consent for a client:
// teams they belong to that the client's restrictions allow.
func SelectableTeams(u *User, c *Client, tree Tree) []string {
	var out []string
	for _, t := range u.Teams(tree) {
		if c.permits(t, tree) {
			out = append(out, t)
		}
	}
	return out
}

// CheckTeamChoice validates the teams picked at consent.
func CheckTeamChoice(picked, selectable []string, mode string) *OAuthError {
	for _, t := range picked {
		if !slices.Contains(selectable, t) {
			return &OAuthError{Code: ErrInvalidRequest, Description: "team " + t + " cannot be chosen"}
		}
	}
	if mode == TeamsSingle && len(picked) > 1 {
		return &OAuthError{Code: ErrInvalidRequest, Description: "choose one team"}
	}
	if len(selectable) > 0 && len(picked) == 0 {
		return &OAuthError{Code: ErrInvalidRequest, Description: "choose a team"}
	}
	return nil
}

// ConsentReusable reports whether a remembered consent may stand in for
// asking again: it covers the scopes, the client's preset has not changed
// since, and the client's identity is assured — a confidential client, or
// a redirect URI registered exactly (a loopback URI on another port could
// be any local program, RFC 8252 §8.6).
func ConsentReusable(c Consent, client *Client, scopes, resources []string, redirectURI string) bool {
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	for _, r := range resources {
		if !slices.Contains(c.Resources, r) {
			return false
		}
	}
	if c.Preset != client.AccessPreset {
		return false
	}
	return client.Type == ClientConfidential || slices.Contains(client.RedirectURIs, redirectURI)
}

// NodeAccess is what a user-delegated token may do on one node right now.
type NodeAccess struct {
	Node   string `json:"node"`
	Role   string `json:"role"`
	Access string `json:"access"` // read_only or full
}

// DelegatedPreset is the preset a user-delegated token states: full only
// when it is full on every team it may act on now (the user's role allows
// it there); read-only when it may act on none.
func DelegatedPreset(access []NodeAccess) string {
	if len(access) == 0 {
		return PresetReadOnly
	}
	for _, a := range access {
		if a.Access != PresetFull {
			return PresetReadOnly
		}
	}
	return PresetFull
}

// AccessNodes lists the nodes of an evaluation, in its order.
func AccessNodes(access []NodeAccess) []string {
	nodes := make([]string, 0, len(access))
	for _, a := range access {
		nodes = append(nodes, a.Node)
	}
	return nodes
}

// EffectiveAccess evaluates a user-delegated token's permissions live: the
// teams chosen at consent, kept only where the client's restrictions still
// allow them and the user still has a role; full access only where the
// client's preset is full and the user's role is editor or admin.
func EffectiveAccess(u *User, c *Client, teams []string, tree Tree) []NodeAccess {
	out := []NodeAccess{}
	if !u.Active() || c == nil {
		return out
	}
	for _, t := range teams {
		role := u.RoleOn(t, tree)
		if role == "" || !c.permits(t, tree) {
			continue
		}
		access := PresetReadOnly
		if c.AccessPreset == PresetFull && role != "viewer" {
			access = PresetFull
		}
		out = append(out, NodeAccess{Node: t, Role: role, Access: access})
	}
	return out
}
