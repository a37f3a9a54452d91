package domain

import (
	"slices"
	"strings"
)

// IsScopeToken reports whether s is a scope-token of RFC 6749 §3.3:
// printable ASCII without space, '"' or '\'.
func IsScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Narrowing scopes name one node a service token is limited to
// (SeaCat Auth's "tenant:<slug>", and "team:<slug>").
var narrowingPrefixes = []string{"tenant:", "team:"}

func isNarrowingScope(s string) bool {
	for _, p := range narrowingPrefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// requestedScope is a parsed scope parameter.
type requestedScope struct {
	scopes []string // catalog scopes, in request order, without duplicates
	node   string   // the one node named by tenant:/team:, if any
}

func parseScope(raw string) (requestedScope, *OAuthError) {
	var r requestedScope
	// Tokens are separated by spaces (RFC 6749 §3.3); a tab or a line
	// break is no separator and no scope character, so it is refused.
	for s := range strings.SplitSeq(raw, " ") {
		if s == "" {
			continue
		}
		if !IsScopeToken(s) {
			return r, &OAuthError{Code: ErrInvalidScope, Description: "malformed scope"}
		}
		if isNarrowingScope(s) {
			_, slug, _ := strings.Cut(s, ":")
			if slug == "" {
				return r, &OAuthError{Code: ErrInvalidScope, Description: s + " names no node"}
			}
			if r.node != "" && r.node != slug {
				return r, &OAuthError{Code: ErrInvalidScope, Description: "name at most one tenant: or team: scope"}
			}
			r.node = slug
			continue
		}
		if !contains(r.scopes, s) {
			r.scopes = append(r.scopes, s)
		}
	}
	return r, nil
}

// grantScopes decides the scopes of a token from the request and the
// client's default and optional scopes (Keycloak's model, with Latchkey's
// narrowing):
//
//   - a request naming nothing, or only "openid", gets every default scope
//     in the client's order (and openid, where the request named it);
//   - a request naming other scopes gets exactly those: a narrower token
//     (Hydra's and Keycloak's client credentials; Corti's limited-scope
//     tokens, "openid transcribe"), each of them default or optional;
//   - an optional scope is granted only when named; "openid" is always
//     accepted (OIDC client libraries send it); anything else is
//     invalid_scope.
//
// A client whose scopes are all default thus keeps "empty means all".
func grantScopes(requested, defaults, optional []string) ([]string, *OAuthError) {
	onlyOpenID := true
	for _, s := range requested {
		if s == ScopeOpenID {
			continue
		}
		onlyOpenID = false
		if !contains(defaults, s) && !contains(optional, s) {
			return nil, &OAuthError{Code: ErrInvalidScope, Description: "scope " + s + " is not allowed for this client"}
		}
	}
	if !onlyOpenID {
		return requested, nil
	}
	out := slices.Clone(defaults)
	for _, s := range requested {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// HasScope reports whether a space-separated scope string holds want.
func HasScope(scope, want string) bool {
	for s := range strings.FieldsSeq(scope) {
		if s == want {
			return true
		}
	}
	return false
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func splitScope(s string) []string { return strings.Fields(s) }

func joinScope(scopes []string) string { return strings.Join(scopes, " ") }

// KeepAllowed drops from a granted scope what the client may no longer be
// given ("openid" always stays).
func KeepAllowed(granted string, allowed []string) string {
	return joinScope(AllowedScopes(splitScope(granted), allowed))
}

// AllowedScopes keeps the scopes a client still holds ("openid" always).
func AllowedScopes(scopes, allowed []string) []string {
	var kept []string
	for _, s := range scopes {
		if s == ScopeOpenID || contains(allowed, s) {
			kept = append(kept, s)
		}
	}
	return kept
}
