package domain

import (
	"reflect"
	"testing"
)

func TestIsScopeToken(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"read", true},
		{"billing:read", true},
		{"tenant:acme", true},
		{"!", true},
		{"~", true},
		{"", false},
		{"a b", false},
		{"a\tb", false},
		{`a"b`, false},
		{`a\b`, false},
		{"del\x7f", false},
		{"nul\x00", false},
		{"é", false},
	} {
		if got := IsScopeToken(tc.s); got != tc.want {
			t.Errorf("IsScopeToken(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		raw    string
		scopes []string
		node   string
		desc   string // invalid_scope's description; "" = valid
	}{
		{raw: ""},
		{raw: "   "},
		{raw: "read write", scopes: []string{"read", "write"}},
		{raw: " read  write ", scopes: []string{"read", "write"}},
		{raw: "write read write", scopes: []string{"write", "read"}},
		{raw: "tenant:acme read", scopes: []string{"read"}, node: "acme"},
		{raw: "team:acme-red", node: "acme-red"},
		{raw: "tenant:acme team:acme", node: "acme"},
		{raw: "Tenant:acme", scopes: []string{"Tenant:acme"}},
		{raw: "tenant:a:b", node: "a:b"},
		{raw: "tenant:acme team:beta", desc: "name at most one tenant: or team: scope"},
		{raw: "tenant:", desc: "tenant: names no node"},
		{raw: "read team:", desc: "team: names no node"},
		{raw: "read\twrite", desc: "malformed scope"},
		{raw: "read\nwrite", desc: "malformed scope"},
		{raw: `"read"`, desc: "malformed scope"},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			got, oerr := parseScope(tc.raw)
			if tc.desc != "" {
				wantOAuth(t, oerr, ErrInvalidScope, tc.desc)
				return
			}
			wantOAuth(t, oerr, "", "")
			if !reflect.DeepEqual(got.scopes, tc.scopes) || got.node != tc.node {
				t.Errorf("parseScope = %q, node %q; want %q, node %q", got.scopes, got.node, tc.scopes, tc.node)
			}
		})
	}
}

func TestGrantScopes(t *testing.T) {
	defaults, optional := []string{"read", "write"}, []string{"billing", "email"}
	corti := []string{"profile", "openid", "email"} // Keycloak's default client scopes, as Corti's clients have them
	for _, tc := range []struct {
		name               string
		requested          []string
		defaults, optional []string
		want               []string
		desc               string
	}{
		{"none asked: every default scope", nil, defaults, optional, defaults, ""},
		{"none asked, none allowed", nil, []string{}, nil, []string{}, ""},
		{"only openid: the defaults, then openid", []string{"openid"}, defaults, optional, []string{"read", "write", "openid"}, ""},
		{"only openid, openid a default: the defaults in the client's order", []string{"openid"}, corti, nil, []string{"profile", "openid", "email"}, ""},
		{"an optional scope: it alone", []string{"billing"}, defaults, optional, []string{"billing"}, ""},
		{"openid and an optional scope: a limited token", []string{"openid", "email"}, defaults, optional, []string{"openid", "email"}, ""},
		{"a default scope narrows", []string{"write"}, defaults, optional, []string{"write"}, ""},
		{"a default scope narrows, openid kept", []string{"openid", "read"}, defaults, optional, []string{"openid", "read"}, ""},
		{"a default and an optional scope", []string{"read", "billing"}, defaults, optional, []string{"read", "billing"}, ""},
		{"a scope the client lacks", []string{"read", "admin"}, defaults, optional, nil, "scope admin is not allowed for this client"},
		{"profile is not implied", []string{"profile"}, defaults, nil, nil, "scope profile is not allowed for this client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, oerr := grantScopes(tc.requested, tc.defaults, tc.optional)
			if tc.desc != "" {
				wantOAuth(t, oerr, ErrInvalidScope, tc.desc)
				return
			}
			wantOAuth(t, oerr, "", "")
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("grantScopes = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHasScope(t *testing.T) {
	for _, tc := range []struct {
		scope, want string
		has         bool
	}{
		{"openid profile", "profile", true},
		{"openid profile", "openid", true},
		{"openid\tprofile", "profile", true},
		{"openidx profile", "openid", false},
		{"", "openid", false},
		{"read", "", false},
	} {
		if got := HasScope(tc.scope, tc.want); got != tc.has {
			t.Errorf("HasScope(%q, %q) = %v, want %v", tc.scope, tc.want, got, tc.has)
		}
	}
}

func TestKeepAllowed(t *testing.T) {
	for _, tc := range []struct {
		granted string
		allowed []string
		want    string
	}{
		{"openid read write", []string{"read", "write"}, "openid read write"},
		{"openid read write", []string{"read"}, "openid read"},
		{"read write", []string{}, ""},
		{"openid", nil, "openid"},
		{"", []string{"read"}, ""},
	} {
		if got := KeepAllowed(tc.granted, tc.allowed); got != tc.want {
			t.Errorf("KeepAllowed(%q, %q) = %q, want %q", tc.granted, tc.allowed, got, tc.want)
		}
	}
	if got := AllowedScopes([]string{"read"}, nil); got != nil {
		t.Errorf("AllowedScopes with nothing kept = %q, want nil", got)
	}
}

func TestNarrowScope(t *testing.T) {
	const granted = "openid read write"
	for _, tc := range []struct {
		name, requested, want, desc string
	}{
		{name: "none asked: the grant's scope", requested: "", want: granted},
		{name: "a narrower scope", requested: "read", want: "read"},
		{name: "in request order, once each", requested: "write read write", want: "write read"},
		{name: "all of it", requested: "read openid write", want: "read openid write"},
		{name: "a wider scope", requested: "read admin", desc: "scope admin was not granted"},
		{name: "tenant: does not apply", requested: "read tenant:acme",
			desc: "teams are chosen at consent; tenant: and team: do not apply to a refresh"},
		{name: "team: does not apply", requested: "team:acme-red",
			desc: "teams are chosen at consent; tenant: and team: do not apply to a refresh"},
		{name: "a malformed scope", requested: "read\twrite", desc: "malformed scope"},
		{name: "a blank scope is no scope parameter", requested: "  ", want: granted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, oerr := NarrowScope(granted, tc.requested)
			if tc.desc != "" {
				wantOAuth(t, oerr, ErrInvalidScope, tc.desc)
				return
			}
			wantOAuth(t, oerr, "", "")
			if got != tc.want {
				t.Errorf("NarrowScope(%q) = %q, want %q", tc.requested, got, tc.want)
			}
		})
	}
	// openid is not re-added by a refresh: it was not granted.
	if _, oerr := NarrowScope("read", "openid"); oerr == nil || oerr.Description != "scope openid was not granted" {
		t.Errorf("a refresh widened to openid: %v", oerr)
	}
}
