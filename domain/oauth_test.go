package domain

import (
	"reflect"
	"testing"
)

// service is a service client "svc" allowed read and write, with 15-minute
// tokens, changed by change.
func service(change func(*ClientSettings)) *Client {
	s := serviceSettings()
	s.AccessTokenLifetime = 900
	change(&s)
	return clientOf("svc", s)
}

func roles(pairs ...string) []RoleAssignment {
	out := []RoleAssignment{}
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, RoleAssignment{Node: pairs[i], Role: pairs[i+1]})
	}
	return out
}

func TestDecideClientCredentials(t *testing.T) {
	const noNode = "this client's roles, owner node and team restrictions leave no node to act on"
	for _, tc := range []struct {
		name   string
		change func(*ClientSettings)
		scope  string
		want   ClientCredentialsGrant // Subject and Lifetime are always svc, 900
		code   string
		desc   string
	}{
		{name: "no scope asked: every scope of the client", change: func(*ClientSettings) {},
			want: ClientCredentialsGrant{Scope: "read write", Nodes: []string{}, Preset: PresetReadOnly}},
		{name: "a narrower scope", change: func(*ClientSettings) {}, scope: "write",
			want: ClientCredentialsGrant{Scope: "write", Nodes: []string{}, Preset: PresetReadOnly}},
		{name: "openid alone: the default scopes, and openid (Keycloak)", change: func(*ClientSettings) {}, scope: "openid",
			want: ClientCredentialsGrant{Scope: "read write openid", Nodes: []string{}, Preset: PresetReadOnly}},
		{name: "an optional scope is granted only when asked for", change: func(s *ClientSettings) { s.OptionalScopes = []string{"management"} },
			want: ClientCredentialsGrant{Scope: "read write", Nodes: []string{}, Preset: PresetReadOnly}},
		{name: "an optional scope asked for", change: func(s *ClientSettings) { s.OptionalScopes = []string{"management"} }, scope: "management",
			want: ClientCredentialsGrant{Scope: "management", Nodes: []string{}, Preset: PresetReadOnly}},
		{name: "a client without scopes", change: func(s *ClientSettings) { s.Scopes = []string{} },
			want: ClientCredentialsGrant{Scope: "", Nodes: []string{}, Preset: PresetReadOnly}},
		{name: "full preset without roles", change: func(s *ClientSettings) { s.AccessPreset = PresetFull },
			want: ClientCredentialsGrant{Scope: "read write", Nodes: []string{}, Preset: PresetFull}},

		{name: "a client without client_credentials", change: func(s *ClientSettings) {
			s.Kind, s.GrantTypes = KindUserApp, []string{GrantAuthorizationCode}
		}, code: ErrUnauthorizedClient, desc: "client is not allowed the client_credentials grant"},
		{name: "a scope the client lacks", change: func(*ClientSettings) {}, scope: "read admin",
			code: ErrInvalidScope, desc: "scope admin is not allowed for this client"},
		{name: "a tab is no separator", change: func(*ClientSettings) {}, scope: "read\twrite",
			code: ErrInvalidScope, desc: "malformed scope"},
		{name: "two narrowing scopes", change: func(s *ClientSettings) { s.Roles = roles("acme", "admin", "beta", "admin") },
			scope: "tenant:acme team:beta", code: ErrInvalidScope, desc: "name at most one tenant: or team: scope"},
		{name: "an empty slug", change: func(s *ClientSettings) { s.Roles = roles("acme", "admin") }, scope: "tenant:",
			code: ErrInvalidScope, desc: "tenant: names no node"},
		{name: "a client with no node set cannot narrow", change: func(*ClientSettings) {}, scope: "tenant:acme",
			code: ErrInvalidScope, desc: "this client may not act on node acme"},

		{name: "a role: its node", change: func(s *ClientSettings) { s.Roles = roles("acme", "editor") },
			want: ClientCredentialsGrant{Scope: "read write", Nodes: []string{"acme"}, Preset: PresetReadOnly}},
		{name: "full preset and editor: full", change: func(s *ClientSettings) {
			s.AccessPreset, s.Roles = PresetFull, roles("acme", "editor")
		}, want: ClientCredentialsGrant{Scope: "read write", Nodes: []string{"acme"}, Preset: PresetFull}},
		{name: "full preset and viewer: read-only", change: func(s *ClientSettings) {
			s.AccessPreset, s.Roles = PresetFull, roles("acme", "viewer")
		}, want: ClientCredentialsGrant{Scope: "read write", Nodes: []string{"acme"}, Preset: PresetReadOnly}},
		{name: "full preset, a viewer on one node of two: read-only", change: func(s *ClientSettings) {
			s.AccessPreset, s.Roles = PresetFull, roles("acme", "viewer", "beta", "admin")
		}, want: ClientCredentialsGrant{Scope: "read write", Nodes: []string{"acme", "beta"}, Preset: PresetReadOnly}},
		{name: "narrowed to the node where it is admin: full", change: func(s *ClientSettings) {
			s.AccessPreset, s.Roles = PresetFull, roles("acme", "viewer", "beta", "admin")
		}, scope: "tenant:beta", want: ClientCredentialsGrant{Scope: "read write", Nodes: []string{"beta"}, Preset: PresetFull}},
		{name: "narrowed to a team under its role", change: func(s *ClientSettings) {
			s.AccessPreset, s.Roles = PresetFull, roles("acme", "editor")
		}, scope: "read team:acme-red", want: ClientCredentialsGrant{Scope: "read", Nodes: []string{"acme-red"}, Preset: PresetFull}},
		{name: "narrowed to a team: the strongest role there counts", change: func(s *ClientSettings) {
			s.AccessPreset, s.Roles = PresetFull, roles("acme", "editor", "acme-red", "viewer")
		}, scope: "team:acme-red", want: ClientCredentialsGrant{Scope: "read write", Nodes: []string{"acme-red"}, Preset: PresetFull}},
		{name: "narrowed outside its roles", change: func(s *ClientSettings) { s.Roles = roles("acme", "admin") },
			scope: "tenant:beta", code: ErrInvalidScope, desc: "this client may not act on node beta"},
		{name: "narrowed to no node", change: func(s *ClientSettings) { s.Roles = roles("acme", "admin") },
			scope: "team:missing", code: ErrInvalidScope, desc: "this client may not act on node missing"},
		{name: "narrowed to a deleted team under its role", change: func(s *ClientSettings) { s.Roles = roles("acme", "admin") },
			scope: "team:gone", code: ErrInvalidScope, desc: "this client may not act on node gone"},

		{name: "an owner node without roles", change: func(s *ClientSettings) { s.OwnerNode, s.AccessPreset = "acme", PresetFull },
			want: ClientCredentialsGrant{Scope: "read write", Nodes: []string{"acme"}, Preset: PresetFull}},
		{name: "an owner node, narrowed to a team in it", change: func(s *ClientSettings) { s.OwnerNode = "acme" },
			scope: "team:acme-blue", want: ClientCredentialsGrant{Scope: "read write", Nodes: []string{"acme-blue"}, Preset: PresetReadOnly}},
		{name: "an owner project and a role on its app", change: func(s *ClientSettings) {
			s.OwnerNode, s.AccessPreset, s.Roles = "proj", PresetFull, roles("proj-app", "editor")
		}, want: ClientCredentialsGrant{Scope: "read write", Nodes: []string{"proj-app"}, Preset: PresetFull}},
		{name: "team restrictions without roles or owner", change: func(s *ClientSettings) { s.TeamRestrictions = []string{"acme-red", "beta"} },
			want: ClientCredentialsGrant{Scope: "read write", Nodes: []string{"acme-red", "beta"}, Preset: PresetReadOnly}},
		{name: "a role above a restriction gives the restricted team", change: func(s *ClientSettings) {
			s.Roles, s.TeamRestrictions = roles("acme", "admin"), []string{"acme-red"}
		}, want: ClientCredentialsGrant{Scope: "read write", Nodes: []string{"acme-red"}, Preset: PresetReadOnly}},
		{name: "a role above a restriction: narrowing to the organization", change: func(s *ClientSettings) {
			s.Roles, s.TeamRestrictions = roles("acme", "admin"), []string{"acme-red"}
		}, scope: "tenant:acme", code: ErrInvalidScope, desc: "this client may not act on node acme"},
		{name: "a restriction elsewhere leaves no node", change: func(s *ClientSettings) {
			s.Roles, s.TeamRestrictions = roles("acme", "admin"), []string{"beta-green"}
		}, code: ErrInvalidScope, desc: noNode},
		{name: "a role on a deleted node leaves no node", change: func(s *ClientSettings) { s.Roles = roles("gone", "admin") },
			code: ErrInvalidScope, desc: noNode},
		{name: "an owner node deleted since leaves no node", change: func(s *ClientSettings) { s.OwnerNode = "old" },
			code: ErrInvalidScope, desc: noNode},
		{name: "a restriction outside the owner node leaves no node", change: func(s *ClientSettings) {
			s.OwnerNode, s.TeamRestrictions = "acme", []string{"beta"}
		}, code: ErrInvalidScope, desc: noNode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := service(tc.change)
			got, oerr := DecideClientCredentials(c, tc.scope, testTree())
			if tc.code != "" {
				wantOAuth(t, oerr, tc.code, tc.desc)
				return
			}
			wantOAuth(t, oerr, "", "")
			tc.want.Subject, tc.want.Lifetime = "svc", 900
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("grant =\n  %+v\nwant\n  %+v", got, tc.want)
			}
		})
	}
}

func TestServiceNodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*ClientSettings)
		want   []string
	}{
		{"nothing: no nodes", func(*ClientSettings) {}, []string{}},
		{"roles, each node once", func(s *ClientSettings) { s.Roles = roles("acme", "admin", "acme", "viewer", "beta-green", "viewer") },
			[]string{"acme", "beta-green"}},
		{"roles win over the owner node", func(s *ClientSettings) { s.OwnerNode, s.Roles = "acme", roles("acme-red", "viewer") },
			[]string{"acme-red"}},
		{"the owner node wins over restrictions", func(s *ClientSettings) { s.OwnerNode, s.TeamRestrictions = "acme", []string{"acme-red", "acme-blue"} },
			[]string{"acme-red", "acme-blue"}},
		{"an organization restriction covers its teams", func(s *ClientSettings) { s.Roles, s.TeamRestrictions = roles("acme-blue", "viewer"), []string{"acme"} },
			[]string{"acme-blue"}},
		{"a role outside the owner node is dropped", func(s *ClientSettings) { s.OwnerNode, s.Roles = "acme", roles("acme", "viewer", "beta", "admin") },
			[]string{"acme"}},
		{"a deleted restriction gives nothing", func(s *ClientSettings) {
			s.Roles, s.TeamRestrictions = roles("acme", "admin"), []string{"gone", "acme-red"}
		},
			[]string{"acme-red"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ServiceNodes(service(tc.change), testTree()); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ServiceNodes = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNodeBound(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*ClientSettings)
		want   bool
	}{
		{"nothing", func(*ClientSettings) {}, false},
		{"roles", func(s *ClientSettings) { s.Roles = roles("acme", "viewer") }, true},
		{"owner node", func(s *ClientSettings) { s.OwnerNode = "acme" }, true},
		{"team restrictions", func(s *ClientSettings) { s.TeamRestrictions = []string{"acme"} }, true},
	} {
		if got := service(tc.change).NodeBound(); got != tc.want {
			t.Errorf("NodeBound(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestOAuthErrorText(t *testing.T) {
	e := &OAuthError{Code: ErrInvalidGrant, Description: "unknown code"}
	if e.Error() != "invalid_grant: unknown code" {
		t.Fatalf("Error() = %q", e.Error())
	}
}
