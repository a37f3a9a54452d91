package main

import (
	"encoding/json"
	"flag"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/domain"
)

// TestRealmFileCarriesEveryClientSetting: a setting added to the domain
// but not to the realm file would be lost by export and reset by apply.
func TestRealmFileCarriesEveryClientSetting(t *testing.T) {
	var s domain.ClientSettings
	v := reflect.ValueOf(&s).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x" + v.Type().Field(i).Name)
		case reflect.Int64:
			f.SetInt(int64(i + 1))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			if f.Type() == reflect.TypeOf(json.RawMessage{}) {
				f.SetBytes([]byte(`{"keys":[]}`))
				continue
			}
			elem := reflect.New(f.Type().Elem()).Elem()
			if elem.Kind() == reflect.String {
				elem.SetString("x")
			} else {
				elem.Set(reflect.ValueOf(domain.Membership{Node: "n", Role: "viewer"}))
			}
			f.Set(reflect.Append(f, elem))
		default:
			t.Fatalf("ClientSettings.%s is a %s: teach this test and the realm file about it", v.Type().Field(i).Name, f.Kind())
		}
	}
	c := fileClient{
		Name: s.Name, Description: s.Description, Type: s.Type, Kind: s.Kind, GrantTypes: s.GrantTypes,
		TokenEndpointAuthMethod: s.TokenEndpointAuthMethod, Scopes: s.Scopes, OptionalScopes: s.OptionalScopes, AccessPreset: s.AccessPreset,
		TeamSelection: s.TeamSelection, TeamRestrictions: s.TeamRestrictions, OwnerNode: s.OwnerNode, Roles: s.Roles,
		RedirectURIs: s.RedirectURIs, PostLogoutRedirectURIs: s.PostLogoutRedirectURIs, AccessTokenLifetime: s.AccessTokenLifetime,
		IssueRefreshTokens: s.IssueRefreshTokens, RefreshTokenLifetime: s.RefreshTokenLifetime, RefreshReuseGrace: s.RefreshReuseGrace,
		IDTokenAlg: s.IDTokenAlg, JWKS: jwksMap(s.JWKS), JWKSURI: s.JWKSURI,
		DPoPBoundAccessTokens: s.DPoPBoundAccessTokens, RequirePAR: s.RequirePAR,
	}
	if got := c.settings(); !reflect.DeepEqual(got, s) {
		t.Errorf("fileClient.settings() loses settings: %v", changedSettings(got, s))
	}
	// The file has one member per setting, plus status.
	if n, want := reflect.TypeOf(fileClient{}).NumField(), v.NumField()+1; n != want {
		t.Errorf("fileClient has %d members, ClientSettings %d settings (+ status)", n, v.NumField())
	}
}

// TestRealmFileCarriesEveryResourceSetting: a resource's every setting
// travels through the file (export, then apply), its default lifetime
// left out.
func TestRealmFileCarriesEveryResourceSetting(t *testing.T) {
	if n, want := reflect.TypeOf(fileResource{}).NumField(), reflect.TypeOf(domain.ResourceSettings{}).NumField()+1; n != want {
		t.Errorf("fileResource has %d members, ResourceSettings %d settings (+ identifier)", n, want-1)
	}
	for _, s := range []domain.ResourceSettings{
		{Name: "Tools", Scopes: []string{"tools", "files"}, AccessTokenLifetime: 600},
		{Name: "API", AccessTokenLifetime: domain.DefaultAccessTokenLifetime},
	} {
		r := exportResource("https://mcp.example.com/mcp", s)
		if back := r.settings(); !reflect.DeepEqual(back, normalizedResource(s)) {
			t.Errorf("%+v exported as %+v applies as %+v", s, r, back)
		}
		if s.AccessTokenLifetime == domain.DefaultAccessTokenLifetime && r.AccessTokenLifetime != 0 {
			t.Errorf("the default lifetime is written: %+v", r)
		}
	}
	if got := changedResource(domain.ResourceSettings{Name: "a", Scopes: []string{"x", "y"}}, domain.ResourceSettings{Name: "a", Scopes: []string{"y", "x"}, AccessTokenLifetime: 60}); strings.Join(got, ",") != "scopes,access_token_lifetime" {
		t.Errorf("changedResource = %q", got)
	}
}

func normalizedResource(s domain.ResourceSettings) domain.ResourceSettings {
	s.Normalize()
	return s
}

// TestExportClientIsTheShortestEntryForTheSameClient: export leaves out
// what the defaults (the realm's, then the domain's) give back, and what it
// writes applies to the same settings.
func TestExportClientIsTheShortestEntryForTheSameClient(t *testing.T) {
	none := domain.ClientDefaults{}
	keycloakish := domain.ClientDefaults{AccessTokenLifetime: 300, ClientCredentialsTokenLifetime: 180,
		IssueRefreshTokens: true, RefreshTokenLifetime: 30 * 86400}
	for _, c := range []struct {
		name     string
		in       domain.ClientSettings
		status   string
		defaults domain.ClientDefaults
		want     fileClient
	}{
		{"a default service client", domain.ClientSettings{Name: "svc"}, "enabled", none, fileClient{Name: "svc"}},
		{"a disabled one", domain.ClientSettings{Name: "svc"}, "disabled", none, fileClient{Name: "svc", Status: "disabled"}},
		{"a public app: its kind, grants and auth method follow from its type",
			domain.ClientSettings{Name: "cli", Type: "public", RedirectURIs: []string{"http://127.0.0.1/cb"}}, "enabled", none,
			fileClient{Name: "cli", Type: "public", RedirectURIs: []string{"http://127.0.0.1/cb"}}},
		{"refresh tokens: the grant type says it, the flag follows",
			domain.ClientSettings{Name: "web", Kind: "user_app", IssueRefreshTokens: true, RedirectURIs: []string{"https://a.example/cb"}}, "enabled", none,
			fileClient{Name: "web", RedirectURIs: []string{"https://a.example/cb"}, IssueRefreshTokens: true}},
		{"lifetimes other than the defaults stay",
			domain.ClientSettings{Name: "svc", AccessTokenLifetime: 900, AccessPreset: "full", Scopes: []string{"read"}}, "enabled", none,
			fileClient{Name: "svc", AccessTokenLifetime: 900, AccessPreset: "full", Scopes: []string{"read"}}},
		{"a realm's defaults are left out", domain.ClientSettings{Name: "svc", AccessTokenLifetime: 180, RefreshTokenLifetime: 30 * 86400}, "enabled", keycloakish,
			fileClient{Name: "svc"}},
		{"Latchkey's own defaults differ from the realm's: they stay",
			domain.ClientSettings{Name: "svc"}, "enabled", keycloakish,
			fileClient{Name: "svc", AccessTokenLifetime: 3600, RefreshTokenLifetime: 7 * 86400}},
		{"refresh tokens on by the realm's default",
			domain.ClientSettings{Name: "web", RedirectURIs: []string{"https://a.example/cb"}, IssueRefreshTokens: true,
				AccessTokenLifetime: 300, RefreshTokenLifetime: 30 * 86400}, "enabled", keycloakish,
			fileClient{Name: "web", RedirectURIs: []string{"https://a.example/cb"}}},
		{"refresh tokens off where the realm turns them on: the grant types say so",
			domain.ClientSettings{Name: "web", RedirectURIs: []string{"https://a.example/cb"}, AccessTokenLifetime: 300,
				RefreshTokenLifetime: 30 * 86400}, "enabled", keycloakish,
			fileClient{Name: "web", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://a.example/cb"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := c.in
			want.Normalize()
			got := exportClient(c.in, c.status, c.defaults)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("exportClient = %+v, want %+v", got, c.want)
			}
			if back := got.normalized(c.defaults); !reflect.DeepEqual(back, want) {
				t.Errorf("the exported entry applies to other settings: %v", changedSettings(back, want))
			}
		})
	}
}

func TestDecodeRealmFilesReadsEveryDocument(t *testing.T) {
	files, err := decodeRealmFiles(strings.NewReader("realm: a\n---\nrealm: b\nusers: []\n"), "two.yaml")
	if err != nil || len(files) != 2 {
		t.Fatalf("two documents: %v %+v", err, files)
	}
	if files[0].Users != nil || files[1].Users == nil {
		t.Errorf("a section left out must be nil (not managed), users: [] empty (managed): %#v %#v", files[0].Users, files[1].Users)
	}
	for _, bad := range []struct{ file, want string }{
		{"", "describes no realm"},
		{"realm: a\nsettings:\n  checkpoint_every: often\n", "line 3"},
		{"realm: A\n", `"A" is not a realm name`},
		{"realm: a\nclients:\n  - name: x\n    status: paused\n", "status must be enabled or disabled"},
		{"realm: a\nusers:\n  - username: Ann\n  - username: ann\n", `user "ann" is listed twice`},
		{"realm: a\nresources:\n  - {identifier: \"https://a.example\", name: A}\n  - {identifier: \"https://a.example\", name: B}\n", `resource "https://a.example" is listed twice`},
		{"realm: a\nresources:\n  - {identifier: \"http://a.example\", name: A}\n", `resource "http://a.example": a resource identifier is an https URL`},
		{"realm: a\nresources:\n  - {identifier: \"https://a.example\", name: A, audience: x}\n", "field audience not found in a resource"},
	} {
		if _, err := decodeRealmFiles(strings.NewReader(bad.file), "f.yaml"); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want one saying %q", bad.file, err, bad.want)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, c := range []struct {
		args, positional []string
		output           string
	}{
		{[]string{"ID", "-o", "json"}, []string{"ID"}, "json"},
		{[]string{"-o", "json", "ID"}, []string{"ID"}, "json"},
		{[]string{"ID", "--", "-o"}, []string{"ID", "-o"}, "table"},
		{[]string{"--", "-x", "y"}, []string{"-x", "y"}, "table"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		out := fs.String("o", "table", "")
		got, err := parseInterspersed(fs, c.args)
		if err != nil || !slices.Equal(got, c.positional) || *out != c.output {
			t.Errorf("%q: positional %q, -o %q, %v; want %q and %q", c.args, got, *out, err, c.positional, c.output)
		}
	}
}
