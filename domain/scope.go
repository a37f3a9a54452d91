package domain

import "strings"

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

// GrantScope decides the scope of a token: the requested space-separated
// scopes must each be allowed; an empty request grants every allowed scope
// (Keycloak's and Hydra's behaviour for client credentials). "openid" is
// always accepted. It returns the granted scope string.
func GrantScope(requested string, allowed []string) (string, *OAuthError) {
	if strings.TrimSpace(requested) == "" {
		return strings.Join(allowed, " "), nil
	}
	parts := strings.Fields(requested)
	granted := make([]string, 0, len(parts))
	for _, s := range parts {
		if !IsScopeToken(s) {
			return "", &OAuthError{Code: ErrInvalidScope, Description: "malformed scope"}
		}
		if s != ScopeOpenID && !contains(allowed, s) {
			return "", &OAuthError{Code: ErrInvalidScope, Description: "scope " + s + " is not allowed for this client"}
		}
		if !contains(granted, s) {
			granted = append(granted, s)
		}
	}
	return strings.Join(granted, " "), nil
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
