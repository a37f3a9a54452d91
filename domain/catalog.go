package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
)

// AggregateScope is the aggregate type of a realm-defined scope's
// references (its definition lives in the realm aggregate's catalog).
const AggregateScope = "scope"

// ScopeRef is the aggregate a scope's references are written to. A scope
// name may hold characters a subject cannot, so its id is a hash of it.
func ScopeRef(name string) AggregateRef { return AggregateRef{Type: AggregateScope, ID: ScopeID(name)} }

// ScopeID is a scope name's aggregate id: 32 hex digits of its SHA-256.
func ScopeID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:16])
}

// IsBuiltinScope reports a scope every realm has, which can never be
// removed and so needs no references.
func IsBuiltinScope(name string) bool {
	_, ok := builtinScopes[name]
	return ok
}

// Built-in scopes every realm's catalog holds.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
	// ScopeManagement grants the admin API.
	ScopeManagement = "management"
)

var builtinScopes = map[string]string{
	ScopeOpenID:        "Sign you in with your identity",
	ScopeProfile:       "Read your name and profile",
	ScopeEmail:         "Read your email address",
	ScopeOfflineAccess: "Keep access while you are away (refresh tokens)",
}

// defaultRealmScopes are defined in every new realm's catalog (removable):
// the admin API scope, generic API read and write, and consumer (the scope
// of node-level consumer credentials).
var defaultRealmScopes = []ScopeDefined{
	{Name: ScopeManagement, Description: "Administer this realm through Latchkey's admin API"},
	{Name: "read", Description: "Read data through the API"},
	{Name: "write", Description: "Change data through the API"},
	{Name: "consumer", Description: "Use the API as a consumer"},
}

// Catalog is a realm's scopes with the descriptions shown at consent.
type Catalog map[string]string

// Has reports whether a scope is built in or defined by the realm.
func (c Catalog) Has(scope string) bool {
	if _, ok := builtinScopes[scope]; ok {
		return true
	}
	_, ok := c[scope]
	return ok
}

// Describe returns a scope's description.
func (c Catalog) Describe(scope string) string {
	if d, ok := builtinScopes[scope]; ok {
		return d
	}
	return c[scope]
}

// ScopeEntry is one catalog entry as listed.
type ScopeEntry struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	BuiltIn     bool   `json:"built_in"`
}

// List returns the built-in scopes, then the realm's, by name.
func (c Catalog) List() []ScopeEntry {
	var out []ScopeEntry
	for _, names := range [][]string{sortedKeys(builtinScopes), sortedKeys(c)} {
		for _, n := range names {
			_, builtin := builtinScopes[n]
			out = append(out, ScopeEntry{Name: n, Description: c.Describe(n), BuiltIn: builtin})
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// DecideDefineScope adds or redescribes a realm-defined scope.
func DecideDefineScope(e ScopeDefined) (ScopeDefined, error) {
	if !IsScopeToken(e.Name) || len(e.Name) > 100 || isNarrowingScope(e.Name) {
		return ScopeDefined{}, &ValidationError{Field: "name", Message: fmt.Sprintf("scope name %q is not a valid scope token (RFC 6749 §3.3), or is reserved", e.Name)}
	}
	if _, builtin := builtinScopes[e.Name]; builtin {
		return ScopeDefined{}, &ConflictError{Message: e.Name + " is a built-in scope"}
	}
	if !IsDisplayText(e.Description, 500) {
		return ScopeDefined{}, &ValidationError{Field: "description", Message: "description is required (shown at consent): at most 500 characters, one line, no control or format characters"}
	}
	return e, nil
}

// DecideRemoveScope removes a realm-defined scope no client uses.
func DecideRemoveScope(c Catalog, name string, usedBy []string) (ScopeRemoved, error) {
	if _, builtin := builtinScopes[name]; builtin {
		return ScopeRemoved{}, &ConflictError{Message: name + " is a built-in scope"}
	}
	if _, ok := c[name]; !ok {
		return ScopeRemoved{}, ErrNotFound
	}
	if len(usedBy) > 0 {
		slices.Sort(usedBy)
		return ScopeRemoved{}, &ConflictError{Message: fmt.Sprintf("scope %s is still given to clients %v", name, usedBy)}
	}
	return ScopeRemoved{Name: name}, nil
}
