package domain

import (
	"fmt"
	"slices"
	"strings"
)

// Realm roles make a user an administrator of their realm (of every realm,
// for a user of realm master), in the console and the admin API alike.
const (
	// RoleRealmAdmin: everything.
	RoleRealmAdmin = "realm-admin"
	// RoleClientManager: the realm's OAuth clients (Coralogix's "OAuth
	// Clients: Manage").
	RoleClientManager = "client-manager"
	// RoleAuditor: the audit log, its export and the history's
	// verification, read-only.
	RoleAuditor = "auditor"
)

// RealmRoles lists the realm roles, strongest first.
var RealmRoles = []string{RoleRealmAdmin, RoleClientManager, RoleAuditor}

// AdminArea is a part of a realm's administration; a role grants areas.
type AdminArea string

// Areas of administration.
const (
	AreaRealm     AdminArea = "realm"     // settings, signing keys; new realms (from master)
	AreaClients   AdminArea = "clients"   // OAuth clients, their secrets and tokens
	AreaUsers     AdminArea = "users"     // users, their memberships, roles and browser sessions
	AreaStructure AdminArea = "structure" // the node tree and the scope catalog
	AreaSessions  AdminArea = "sessions"  // every token and browser session of the realm
	AreaAudit     AdminArea = "audit"     // the audit log, the events, the history's verification
)

// RolesGrant reports whether realm roles grant an area.
func RolesGrant(roles []string, area AdminArea) bool {
	switch {
	case slices.Contains(roles, RoleRealmAdmin):
		return true
	case area == AreaClients:
		return slices.Contains(roles, RoleClientManager)
	case area == AreaAudit:
		return slices.Contains(roles, RoleAuditor)
	}
	return false
}

// NormalizeRealmRoles checks realm roles and returns them without
// duplicates, strongest first.
func NormalizeRealmRoles(roles []string) ([]string, error) {
	var bad []string
	for _, r := range roles {
		if !slices.Contains(RealmRoles, r) {
			bad = append(bad, fmt.Sprintf("%q", r))
		}
	}
	if len(bad) > 0 {
		return nil, &ValidationError{Field: "realm_roles", Message: "unknown realm role " + strings.Join(bad, ", ") + ": realm roles are " + strings.Join(RealmRoles, ", ")}
	}
	out := []string{}
	for _, r := range RealmRoles {
		if slices.Contains(roles, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// UserRealmRolesChanged replaces a user's realm roles, before and after in
// full: a privilege change.
type UserRealmRolesChanged struct {
	Before []string `json:"before"`
	After  []string `json:"after"`
}

// TypeUserRealmRolesChanged is the event type of UserRealmRolesChanged.
const TypeUserRealmRolesChanged = "user.realm_roles_changed"

func (UserRealmRolesChanged) EventType() string { return TypeUserRealmRolesChanged }

func init() { decoders[TypeUserRealmRolesChanged] = decodeAs[UserRealmRolesChanged] }
