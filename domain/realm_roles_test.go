package domain

import (
	"errors"
	"slices"
	"testing"
)

func TestRolesGrant(t *testing.T) {
	all := []AdminArea{AreaRealm, AreaClients, AreaUsers, AreaStructure, AreaSessions, AreaAudit}
	tests := []struct {
		roles []string
		want  []AdminArea
	}{
		{nil, nil},
		{[]string{RoleRealmAdmin}, all},
		{[]string{RoleClientManager}, []AdminArea{AreaClients}},
		{[]string{RoleAuditor}, []AdminArea{AreaAudit}},
		{[]string{RoleClientManager, RoleAuditor}, []AdminArea{AreaClients, AreaAudit}},
		{[]string{"admin"}, nil}, // a node role is no realm role
	}
	for _, tt := range tests {
		for _, area := range all {
			if got, want := RolesGrant(tt.roles, area), slices.Contains(tt.want, area); got != want {
				t.Errorf("RolesGrant(%v, %s) = %v, want %v", tt.roles, area, got, want)
			}
		}
	}
}

func TestNormalizeRealmRoles(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
		bad  bool
	}{
		{nil, []string{}, false},
		{[]string{RoleAuditor, RoleRealmAdmin, RoleAuditor}, []string{RoleRealmAdmin, RoleAuditor}, false},
		{[]string{"realm-admin", "root"}, nil, true},
		{[]string{"Realm-Admin"}, nil, true},
	}
	for _, tt := range tests {
		got, err := NormalizeRealmRoles(tt.in)
		var verr *ValidationError
		if tt.bad {
			if !errors.As(err, &verr) || verr.Field != "realm_roles" {
				t.Errorf("NormalizeRealmRoles(%v): %v, want a validation error", tt.in, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("NormalizeRealmRoles(%v) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestUserRealmRolesFold(t *testing.T) {
	var u User
	u.Apply(1, UserCreated{UserID: "u1", UserProfile: UserProfile{Username: "ann"}, RealmRoles: []string{RoleAuditor}})
	if !slices.Equal(u.RealmRoles, []string{RoleAuditor}) {
		t.Fatalf("created with %v", u.RealmRoles)
	}
	u.Apply(2, UserRealmRolesChanged{Before: []string{RoleAuditor}, After: []string{RoleRealmAdmin}})
	if !slices.Equal(u.RealmRoles, []string{RoleRealmAdmin}) || u.Version != 2 {
		t.Fatalf("after the change: %v at version %d", u.RealmRoles, u.Version)
	}
}
