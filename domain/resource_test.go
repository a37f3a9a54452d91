package domain

import (
	"errors"
	"reflect"
	"testing"
)

const mcpURL = "https://mcp.example.com/mcp"

func liveResource(identifier string, scopes ...string) *Resource {
	r := &Resource{}
	r.Apply(1, ResourceCreated{Identifier: identifier, ResourceSettings: ResourceSettings{Name: "R", Scopes: scopes, AccessTokenLifetime: 600}})
	return r
}

func TestResourceIdentifierProblem(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{mcpURL, ""},
		{"https://api.example.com", ""},
		{"http://127.0.0.1:8080/mcp", ""},
		{"http://localhost/mcp", ""},
		{"", "a resource identifier is 1 to 2000 characters"},
		{"/mcp", "a resource identifier is an absolute URI"},
		{"urn:example:api", "a resource identifier is an absolute URI"},
		{"https://mcp.example.com/mcp#x", "a resource identifier has no fragment"},
		{"https://u:p@mcp.example.com/", "a resource identifier has no user info"},
		{"http://mcp.example.com/mcp", "a resource identifier is an https URL (http only on 127.0.0.1, [::1] or localhost)"},
		{"https://mcp.example.com:0/", "the port must be 1 to 65535"},
	} {
		if got := ResourceIdentifierProblem(tc.in); got != tc.want {
			t.Errorf("ResourceIdentifierProblem(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDecideCreateResource(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cur     *Resource
		id      string
		in      ResourceSettings
		want    ResourceCreated
		wantErr string
	}{
		{name: "defaults: an hour, no scope", id: mcpURL, in: ResourceSettings{Name: " MCP "},
			want: ResourceCreated{Identifier: mcpURL, ResourceSettings: ResourceSettings{Name: "MCP", Scopes: []string{}, AccessTokenLifetime: 3600}}},
		{name: "scopes of the catalog, once each", id: mcpURL, in: ResourceSettings{Name: "MCP", Scopes: []string{"read", "read", "write"}, AccessTokenLifetime: 300},
			want: ResourceCreated{Identifier: mcpURL, ResourceSettings: ResourceSettings{Name: "MCP", Scopes: []string{"read", "write"}, AccessTokenLifetime: 300}}},
		{name: "a deleted resource's identifier is free again", cur: func() *Resource { r := liveResource(mcpURL); r.Apply(2, ResourceDeleted{}); return r }(),
			id: mcpURL, in: ResourceSettings{Name: "MCP"},
			want: ResourceCreated{Identifier: mcpURL, ResourceSettings: ResourceSettings{Name: "MCP", Scopes: []string{}, AccessTokenLifetime: 3600}}},
		{name: "registered already", cur: liveResource(mcpURL), id: mcpURL, in: ResourceSettings{Name: "MCP"},
			wantErr: "resource " + mcpURL + " is registered already"},
		{name: "a bad identifier", id: "http://mcp.example.com/", in: ResourceSettings{Name: "MCP"},
			wantErr: "a resource identifier is an https URL (http only on 127.0.0.1, [::1] or localhost)"},
		{name: "every problem at once", id: mcpURL, in: ResourceSettings{Scopes: []string{"nope", "openid"}, AccessTokenLifetime: 10},
			wantErr: `name is required (shown at consent): at most 200 characters, one line, no control or format characters; scope "nope" is not in the realm's scope catalog; scope "openid" is a built-in OpenID scope: every resource allows those; access_token_lifetime must be between 60 and 86400 seconds`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecideCreateResource(tc.cur, tc.id, tc.in, testCatalog())
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestDecideUpdateAndDeleteResource(t *testing.T) {
	r := liveResource(mcpURL, "read")
	if ev, err := DecideUpdateResource(r, ResourceSettings{Name: "R", Scopes: []string{"read"}, AccessTokenLifetime: 600}, testCatalog()); err != nil || ev != nil {
		t.Errorf("no change: %v, %v", ev, err)
	}
	ev, err := DecideUpdateResource(r, ResourceSettings{Name: "R", Scopes: []string{"read", "write"}}, testCatalog())
	if err != nil || ev == nil || !reflect.DeepEqual(ev.After, ResourceSettings{Name: "R", Scopes: []string{"read", "write"}, AccessTokenLifetime: 3600}) {
		t.Errorf("update: %+v, %v", ev, err)
	}
	if _, err := DecideUpdateResource(nil, ResourceSettings{Name: "R"}, testCatalog()); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of nothing: %v", err)
	}
	if _, err := DecideDeleteResource(r); err != nil {
		t.Errorf("delete: %v", err)
	}
	r.Apply(3, ResourceDeleted{})
	if _, err := DecideDeleteResource(r); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
}

func TestResolveResources(t *testing.T) {
	known := map[string]*Resource{mcpURL: liveResource(mcpURL, "read"), "https://api.example.com": liveResource("https://api.example.com", "write")}
	lookup := func(id string) (*Resource, bool) { r, ok := known[id]; return r, ok }
	for _, tc := range []struct {
		name    string
		in      []string
		want    []string
		wantErr string
	}{
		{"none", nil, nil, ""},
		{"one", []string{mcpURL}, []string{mcpURL}, ""},
		{"two, a repeat counted once", []string{mcpURL, "https://api.example.com", mcpURL}, []string{mcpURL, "https://api.example.com"}, ""},
		{"unknown", []string{"https://other.example.com"}, nil, "invalid_target: resource https://other.example.com is not registered in this realm"},
		{"malformed", []string{"mcp"}, nil, "invalid_target: a resource identifier is an absolute URI"},
		{"with a fragment", []string{mcpURL + "#a"}, nil, "invalid_target: a resource identifier has no fragment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, oerr := ResolveResources(tc.in, lookup)
			if tc.wantErr != "" {
				if oerr == nil || oerr.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", oerr, tc.wantErr)
				}
				return
			}
			var ids []string
			for _, r := range got {
				ids = append(ids, r.Identifier)
			}
			if oerr != nil || !reflect.DeepEqual(ids, tc.want) {
				t.Fatalf("got %v, %v; want %v", ids, oerr, tc.want)
			}
		})
	}
}

func TestFitScopesToResources(t *testing.T) {
	rs := []*Resource{liveResource(mcpURL, "read")}
	for _, tc := range []struct {
		name      string
		scopes    []string
		explicit  bool
		resources []*Resource
		want      []string
		wantErr   string
	}{
		{"no resource: unchanged", []string{"read", "write"}, true, nil, []string{"read", "write"}, ""},
		{"asked for, within", []string{"openid", "read"}, true, rs, []string{"openid", "read"}, ""},
		{"asked for, outside: invalid_scope", []string{"read", "write"}, true, rs, nil, "invalid_scope: scope write is not accepted by the requested resource"},
		{"by default: narrowed", []string{"read", "write", "profile"}, false, rs, []string{"read", "profile"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, oerr := FitScopesToResources(tc.scopes, tc.explicit, tc.resources)
			if tc.wantErr != "" {
				if oerr == nil || oerr.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", oerr, tc.wantErr)
				}
				return
			}
			if oerr != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, oerr, tc.want)
			}
		})
	}
}

func TestPickAudience(t *testing.T) {
	two := []string{mcpURL, "https://api.example.com"}
	for _, tc := range []struct {
		name      string
		granted   []string
		requested string
		want      string
		wantErr   string
	}{
		{"no resource anywhere: the realm", nil, "", "", ""},
		{"one granted, none named", []string{mcpURL}, "", mcpURL, ""},
		{"one granted and named", []string{mcpURL}, mcpURL, mcpURL, ""},
		{"narrowed to one of two", two, "https://api.example.com", "https://api.example.com", ""},
		{"two granted, none named", two, "", "", "invalid_target: the authorization covers several resources: name one with the resource parameter"},
		{"widening to one not granted", []string{mcpURL}, "https://api.example.com", "", "invalid_target: resource https://api.example.com was not part of the authorization"},
		{"a resource for a grant made without one", nil, mcpURL, "", "invalid_target: resource " + mcpURL + " was not part of the authorization"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, oerr := PickAudience(tc.granted, tc.requested)
			if tc.wantErr != "" {
				if oerr == nil || oerr.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", oerr, tc.wantErr)
				}
				return
			}
			if oerr != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, oerr, tc.want)
			}
		})
	}
}

func TestScopeForResourceAndLifetime(t *testing.T) {
	r := liveResource(mcpURL, "read")
	if got := ScopeForResource("openid read write email", r); got != "openid read email" {
		t.Errorf("ScopeForResource = %q", got)
	}
	if got := LifetimeFor(3600, r); got != 600 {
		t.Errorf("capped lifetime = %d", got)
	}
	if got := LifetimeFor(300, r); got != 300 {
		t.Errorf("shorter client lifetime = %d", got)
	}
	if got := LifetimeFor(3600, nil); got != 3600 {
		t.Errorf("no resource = %d", got)
	}
}
