package domain

import (
	"reflect"
	"strings"
	"testing"
)

// normalizedDefaults is what an empty confidential client named "svc"
// becomes.
func normalizedDefaults() ClientSettings {
	return ClientSettings{
		Name: "svc", Type: ClientConfidential, Kind: KindService,
		GrantTypes: []string{GrantClientCredentials}, TokenEndpointAuthMethod: AuthSecretBasic,
		Scopes: []string{}, OptionalScopes: []string{}, AccessPreset: PresetReadOnly, TeamSelection: TeamsSingle,
		TeamRestrictions: []string{}, RedirectURIs: []string{},
		AccessTokenLifetime: DefaultAccessTokenLifetime, RefreshTokenLifetime: DefaultRefreshTokenLifetime,
		Roles: []RoleAssignment{}, IDTokenAlg: AlgRS256, PostLogoutRedirectURIs: []string{},
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   ClientSettings
		want func(*ClientSettings) // applied to normalizedDefaults
	}{
		{"empty: a confidential service client with the defaults", ClientSettings{Name: "svc"}, func(*ClientSettings) {}},
		{"name is trimmed", ClientSettings{Name: "  svc \t"}, func(*ClientSettings) {}},
		{"public: a user_app with the code flow and no client authentication",
			ClientSettings{Name: "svc", Type: ClientPublic},
			func(s *ClientSettings) {
				s.Type, s.Kind, s.GrantTypes, s.TokenEndpointAuthMethod = ClientPublic, KindUserApp, []string{GrantAuthorizationCode}, AuthNone
			}},
		{"authorization_code makes a user_app",
			ClientSettings{Name: "svc", GrantTypes: []string{GrantAuthorizationCode}},
			func(s *ClientSettings) { s.Kind, s.GrantTypes = KindUserApp, []string{GrantAuthorizationCode} }},
		{"the device grant makes a user_app",
			ClientSettings{Name: "svc", GrantTypes: []string{GrantDeviceCode}},
			func(s *ClientSettings) { s.Kind, s.GrantTypes = KindUserApp, []string{GrantDeviceCode} }},
		{"a user_app defaults to the code flow",
			ClientSettings{Name: "svc", Kind: KindUserApp},
			func(s *ClientSettings) { s.Kind, s.GrantTypes = KindUserApp, []string{GrantAuthorizationCode} }},
		{"redirect URIs make a user_app",
			ClientSettings{Name: "svc", RedirectURIs: []string{"https://a.example/cb"}},
			func(s *ClientSettings) {
				s.Kind, s.GrantTypes, s.RedirectURIs = KindUserApp, []string{GrantAuthorizationCode}, []string{"https://a.example/cb"}
			}},
		{"redirect URIs with client credentials alone stay a service client, for Validate to refuse",
			ClientSettings{Name: "svc", GrantTypes: []string{GrantClientCredentials}, RedirectURIs: []string{"https://a.example/cb"}},
			func(s *ClientSettings) { s.RedirectURIs = []string{"https://a.example/cb"} }},
		{"client credentials and the code grant: a user_app (valid where a profile allows both)",
			ClientSettings{Name: "svc", GrantTypes: []string{GrantClientCredentials, GrantAuthorizationCode}},
			func(s *ClientSettings) {
				s.Kind, s.GrantTypes = KindUserApp, []string{GrantClientCredentials, GrantAuthorizationCode}
			}},
		{"an explicit kind is kept",
			ClientSettings{Name: "svc", Kind: KindService, GrantTypes: []string{GrantAuthorizationCode}},
			func(s *ClientSettings) { s.GrantTypes = []string{GrantAuthorizationCode} }},
		{"refresh_token in grant_types turns refresh tokens on",
			ClientSettings{Name: "svc", GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}},
			func(s *ClientSettings) {
				s.Kind, s.GrantTypes, s.IssueRefreshTokens = KindUserApp, []string{GrantAuthorizationCode, GrantRefreshToken}, true
			}},
		{"issue_refresh_tokens adds refresh_token to grant_types",
			ClientSettings{Name: "svc", Kind: KindUserApp, IssueRefreshTokens: true},
			func(s *ClientSettings) {
				s.Kind, s.GrantTypes, s.IssueRefreshTokens = KindUserApp, []string{GrantAuthorizationCode, GrantRefreshToken}, true
			}},
		{"issue_refresh_tokens on a service client",
			ClientSettings{Name: "svc", IssueRefreshTokens: true},
			func(s *ClientSettings) {
				s.GrantTypes, s.IssueRefreshTokens = []string{GrantClientCredentials, GrantRefreshToken}, true
			}},
		{"lists lose their duplicates, keeping the first order",
			ClientSettings{Name: "svc", GrantTypes: []string{"client_credentials", "client_credentials"},
				Scopes: []string{"write", "read", "write"}, TeamRestrictions: []string{"acme", "acme"},
				RedirectURIs:           []string{"https://a.example/cb", "https://a.example/cb"},
				PostLogoutRedirectURIs: []string{"https://a.example/bye", "https://a.example/bye"}},
			func(s *ClientSettings) {
				s.Scopes, s.TeamRestrictions = []string{"write", "read"}, []string{"acme"}
				s.RedirectURIs, s.PostLogoutRedirectURIs = []string{"https://a.example/cb"}, []string{"https://a.example/bye"}
			}},
		{"explicit values are kept",
			ClientSettings{Name: "svc", TokenEndpointAuthMethod: AuthSecretPost, AccessPreset: PresetFull,
				TeamSelection: TeamsMultiple, AccessTokenLifetime: 120, RefreshTokenLifetime: 600, RefreshReuseGrace: 5,
				IDTokenAlg: AlgES256},
			func(s *ClientSettings) {
				s.TokenEndpointAuthMethod, s.AccessPreset, s.TeamSelection = AuthSecretPost, PresetFull, TeamsMultiple
				s.AccessTokenLifetime, s.RefreshTokenLifetime, s.RefreshReuseGrace, s.IDTokenAlg = 120, 600, 5, AlgES256
			}},
		{"negative lifetimes are kept for validation to refuse",
			ClientSettings{Name: "svc", AccessTokenLifetime: -1, RefreshTokenLifetime: -1},
			func(s *ClientSettings) { s.AccessTokenLifetime, s.RefreshTokenLifetime = -1, -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in
			got.Normalize()
			want := normalizedDefaults()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Normalize =\n  %+v\nwant\n  %+v", got, want)
			}
			again := got
			again.Normalize()
			if !reflect.DeepEqual(again, got) {
				t.Errorf("Normalize is not idempotent:\n  %+v\nthen\n  %+v", got, again)
			}
		})
	}
}

func TestNormalizeDoesNotWriteIntoTheCallersGrantTypes(t *testing.T) {
	grants := make([]string, 1, 4)
	grants[0] = GrantAuthorizationCode
	s := ClientSettings{Name: "app", GrantTypes: grants, IssueRefreshTokens: true}
	s.Normalize()
	if got := grants[:2]; got[1] != "" {
		t.Fatalf("Normalize appended into the caller's array: %q", got)
	}
}

func TestValidate(t *testing.T) {
	const nameRule = "name is required: at most 200 characters, one line, no control or format characters"
	const descRule = "description is at most 2000 characters, with no control or format characters but line breaks"
	for _, tc := range []struct {
		name   string
		base   func() ClientSettings
		change func(*ClientSettings)
		want   []string // every problem, in order; none: valid
	}{
		{"a service client", serviceSettings, func(*ClientSettings) {}, nil},
		{"a confidential user_app", appSettings, func(*ClientSettings) {}, nil},
		{"a public user_app", publicSettings, func(*ClientSettings) {}, nil},
		{"a device-flow app without redirect URIs", publicSettings, func(s *ClientSettings) {
			s.GrantTypes, s.RedirectURIs = []string{GrantDeviceCode, GrantRefreshToken}, []string{}
		}, nil},
		{"a service client with the device grant", serviceSettings, func(s *ClientSettings) { s.GrantTypes = []string{GrantDeviceCode} },
			[]string{"a service client acts as itself: use kind user_app for the device grant, through which users sign in"}},

		{"name missing", serviceSettings, func(s *ClientSettings) { s.Name = "" }, []string{nameRule}},
		{"name of 200 characters", serviceSettings, func(s *ClientSettings) { s.Name = strings.Repeat("ü", 200) }, nil},
		{"name of 201 characters", serviceSettings, func(s *ClientSettings) { s.Name = strings.Repeat("x", 201) }, []string{nameRule}},
		{"name on two lines", serviceSettings, func(s *ClientSettings) { s.Name = "two\nlines" }, []string{nameRule}},
		{"name with a bidi override", serviceSettings, func(s *ClientSettings) { s.Name = "pay\u202egro.lixe" }, []string{nameRule}},

		{"description with line breaks", serviceSettings, func(s *ClientSettings) { s.Description = "first\nsecond\n\nthird" }, nil},
		{"description of 2000 characters", serviceSettings, func(s *ClientSettings) { s.Description = strings.Repeat("d", 2000) }, nil},
		{"description of 2001 characters", serviceSettings, func(s *ClientSettings) { s.Description = strings.Repeat("d", 2001) }, []string{descRule}},
		{"description with a carriage return", serviceSettings, func(s *ClientSettings) { s.Description = "a\r\nb" }, []string{descRule}},
		{"description with a zero-width space", serviceSettings, func(s *ClientSettings) { s.Description = "x\u200by" }, []string{descRule}},

		{"unknown type", serviceSettings, func(s *ClientSettings) { s.Type = "hybrid" },
			[]string{`type must be one of confidential, public, not "hybrid"`}},
		{"unknown kind", serviceSettings, func(s *ClientSettings) { s.Kind = "robot" },
			[]string{`kind must be one of service, user_app, not "robot"`}},
		{"unknown access preset", serviceSettings, func(s *ClientSettings) { s.AccessPreset = "admin" },
			[]string{`access_preset must be one of read_only, full, not "admin"`}},
		{"unknown team selection", serviceSettings, func(s *ClientSettings) { s.TeamSelection = "all" },
			[]string{`team_selection must be one of single, multiple, not "all"`}},
		{"unsupported grant type", serviceSettings, func(s *ClientSettings) { s.GrantTypes = []string{GrantClientCredentials, "password"} },
			[]string{`each of grant_types must be one of client_credentials, authorization_code, refresh_token, urn:ietf:params:oauth:grant-type:device_code, not "password"`}},

		{"public client with a secret method", publicSettings, func(s *ClientSettings) { s.TokenEndpointAuthMethod = AuthSecretBasic },
			[]string{`token_endpoint_auth_method of a public client must be one of none, not "client_secret_basic"`}},
		{"public client with client_credentials", publicSettings,
			func(s *ClientSettings) { s.GrantTypes = []string{GrantAuthorizationCode, GrantClientCredentials} },
			[]string{"a public client cannot use client_credentials: it has no secret",
				"a user_app acts for users: use kind service for client_credentials (a realm with the seacat or keycloak profile lets one client hold both)"}},
		{"confidential client without authentication", serviceSettings, func(s *ClientSettings) { s.TokenEndpointAuthMethod = AuthNone },
			[]string{`token_endpoint_auth_method of a confidential client must be one of client_secret_basic, client_secret_post, private_key_jwt, not "none"`}},
		{"confidential client with client_secret_post", serviceSettings, func(s *ClientSettings) { s.TokenEndpointAuthMethod = AuthSecretPost }, nil},

		{"service client with the code flow", serviceSettings, func(s *ClientSettings) {
			s.GrantTypes = []string{GrantClientCredentials, GrantAuthorizationCode}
			s.RedirectURIs = []string{"https://svc.example/cb"}
		}, []string{"a service client acts as itself: use kind user_app for authorization_code (a realm with the seacat or keycloak profile lets one client hold both)"}},
		{"user_app with client_credentials", appSettings, func(s *ClientSettings) { s.GrantTypes = []string{GrantAuthorizationCode, GrantClientCredentials} },
			[]string{"a user_app acts for users: use kind service for client_credentials (a realm with the seacat or keycloak profile lets one client hold both)"}},
		{"service client with redirect URIs and no code grant", serviceSettings,
			func(s *ClientSettings) { s.RedirectURIs = []string{"https://svc.example/cb"} },
			[]string{"a service client gets its tokens with client_credentials and is never redirected to: drop redirect_uris, or add the authorization_code grant that uses them (kind user_app)"}},
		{"optional scopes from the catalog", serviceSettings, func(s *ClientSettings) { s.Scopes, s.OptionalScopes = []string{"read"}, []string{"write", "email"} }, nil},
		{"an optional scope outside the catalog", serviceSettings, func(s *ClientSettings) { s.OptionalScopes = []string{"nope"} },
			[]string{`scope "nope" is not in the realm's scope catalog`}},
		{"a scope both default and optional", serviceSettings, func(s *ClientSettings) { s.OptionalScopes = []string{"write"} },
			[]string{`scope "write" is both a default and an optional scope: name it in one list`}},
		{"user_app with roles", appSettings, func(s *ClientSettings) { s.Roles = []RoleAssignment{{Node: "acme", Role: "viewer"}} },
			[]string{"roles are for service clients; a user_app gets the authorizing user's roles"}},

		{"scope outside the catalog", serviceSettings, func(s *ClientSettings) { s.Scopes = []string{"read", "nope"} },
			[]string{`scope "nope" is not in the realm's scope catalog`}},
		{"built-in scopes are in every catalog", serviceSettings,
			func(s *ClientSettings) { s.Scopes = []string{"openid", "profile", "email", "offline_access", "read"} }, nil},
		{"narrowing scopes are never in the catalog", serviceSettings, func(s *ClientSettings) { s.Scopes = []string{"tenant:acme"} },
			[]string{`scope "tenant:acme" is not in the realm's scope catalog`}},

		{"team restrictions to an organization and a team", serviceSettings,
			func(s *ClientSettings) { s.TeamRestrictions = []string{"acme", "beta-green"} }, nil},
		{"team restriction to a project", serviceSettings, func(s *ClientSettings) { s.TeamRestrictions = []string{"proj"} },
			[]string{`team restriction "proj" is not an organization or team of this realm`}},
		{"team restriction to a deleted team", serviceSettings, func(s *ClientSettings) { s.TeamRestrictions = []string{"gone"} },
			[]string{`team restriction "gone" is not an organization or team of this realm`}},
		{"team restriction to no node", serviceSettings, func(s *ClientSettings) { s.TeamRestrictions = []string{"missing"} },
			[]string{`team restriction "missing" is not an organization or team of this realm`}},

		{"owner node of any kind", serviceSettings, func(s *ClientSettings) { s.OwnerNode = "proj-app" }, nil},
		{"owner node missing", serviceSettings, func(s *ClientSettings) { s.OwnerNode = "missing" },
			[]string{`owner_node "missing" is not a node of this realm`}},
		{"owner node deleted", serviceSettings, func(s *ClientSettings) { s.OwnerNode = "old" },
			[]string{`owner_node "old" is not a node of this realm`}},

		{"roles within the owner node", serviceSettings, func(s *ClientSettings) {
			s.OwnerNode = "acme"
			s.Roles = []RoleAssignment{{Node: "acme", Role: "viewer"}, {Node: "acme-red", Role: "admin"}}
		}, nil},
		{"unknown role", serviceSettings, func(s *ClientSettings) { s.Roles = []RoleAssignment{{Node: "acme-red", Role: "owner"}} },
			[]string{`role must be one of viewer, editor, admin, not "owner"`}},
		{"role on no node", serviceSettings, func(s *ClientSettings) { s.Roles = []RoleAssignment{{Node: "missing", Role: "admin"}} },
			[]string{`role node "missing" is not a node of this realm`}},
		{"role on a deleted node", serviceSettings, func(s *ClientSettings) { s.Roles = []RoleAssignment{{Node: "gone", Role: "admin"}} },
			[]string{`role node "gone" is not a node of this realm`}},
		{"role outside the owner node", serviceSettings, func(s *ClientSettings) {
			s.OwnerNode = "acme"
			s.Roles = []RoleAssignment{{Node: "beta", Role: "admin"}}
		}, []string{`role node "beta" is outside the owner node "acme"`}},

		{"code flow without a redirect URI", appSettings, func(s *ClientSettings) { s.RedirectURIs = []string{} },
			[]string{"authorization_code needs at least one redirect URI"}},
		{"plain http redirect URI", appSettings,
			func(s *ClientSettings) { s.RedirectURIs = []string{"http://example.com/cb", "https://ok.example/cb"} },
			[]string{"invalid redirect URIs: http://example.com/cb (http is allowed only for 127.0.0.1, [::1] and localhost)"}},
		{"every bad redirect URI is named", appSettings,
			func(s *ClientSettings) { s.RedirectURIs = []string{"https://a.example/*", "ftp://a.example/cb"} },
			[]string{"invalid redirect URIs: https://a.example/* (wildcards are not allowed); ftp://a.example/cb (the scheme must be https)"}},
		{"post-logout redirect URI with a fragment", appSettings,
			func(s *ClientSettings) { s.PostLogoutRedirectURIs = []string{"https://a.example/#x"} },
			[]string{"invalid post-logout redirect URIs: https://a.example/#x (fragments are not allowed)"}},

		{"ID tokens signed with ES256", appSettings, func(s *ClientSettings) { s.IDTokenAlg = AlgES256 }, nil},
		{"ID tokens signed with HS256", appSettings, func(s *ClientSettings) { s.IDTokenAlg = "HS256" },
			[]string{`id_token_signed_response_alg must be one of RS256, ES256, not "HS256"`}},

		{"access token lifetime 60 s", serviceSettings, func(s *ClientSettings) { s.AccessTokenLifetime = 60 }, nil},
		{"access token lifetime 59 s", serviceSettings, func(s *ClientSettings) { s.AccessTokenLifetime = 59 },
			[]string{"access_token_lifetime must be between 60 and 86400 seconds"}},
		{"access token lifetime 24 h", serviceSettings, func(s *ClientSettings) { s.AccessTokenLifetime = 86400 }, nil},
		{"access token lifetime 24 h + 1 s", serviceSettings, func(s *ClientSettings) { s.AccessTokenLifetime = 86401 },
			[]string{"access_token_lifetime must be between 60 and 86400 seconds"}},
		{"refresh token lifetime 365 days", serviceSettings, func(s *ClientSettings) { s.RefreshTokenLifetime = MaxRefreshTokenLifetime }, nil},
		{"refresh token lifetime 365 days + 1 s", serviceSettings, func(s *ClientSettings) { s.RefreshTokenLifetime = MaxRefreshTokenLifetime + 1 },
			[]string{"refresh_token_lifetime must be between 60 and 31536000 seconds"}},
		{"refresh token lifetime 59 s", serviceSettings, func(s *ClientSettings) { s.RefreshTokenLifetime = 59 },
			[]string{"refresh_token_lifetime must be between 60 and 31536000 seconds"}},
		{"reuse grace 60 s", serviceSettings, func(s *ClientSettings) { s.RefreshReuseGrace = 60 }, nil},
		{"reuse grace 61 s", serviceSettings, func(s *ClientSettings) { s.RefreshReuseGrace = 61 },
			[]string{"refresh_reuse_grace must be between 0 and 60 seconds"}},
		{"negative reuse grace", serviceSettings, func(s *ClientSettings) { s.RefreshReuseGrace = -1 },
			[]string{"refresh_reuse_grace must be between 0 and 60 seconds"}},

		{"every problem is reported together, in rule order", serviceSettings, func(s *ClientSettings) {
			s.Name, s.Scopes, s.AccessTokenLifetime, s.RefreshReuseGrace = "", []string{"nope"}, 0, 99
		}, []string{nameRule, `scope "nope" is not in the realm's scope catalog`,
			"access_token_lifetime must be between 60 and 86400 seconds",
			"refresh_reuse_grace must be between 0 and 60 seconds"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.base()
			tc.change(&s)
			err := s.Validate(testCatalog(), testTree())
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want valid", err)
				}
				return
			}
			wantValidation(t, err, "client", tc.want...)
		})
	}
}

// TestValidateMixedGrants: where the realm's profile allows it, one client
// holds client credentials (as itself, with roles) and the code grant (for
// its users); elsewhere the two stay apart.
func TestValidateMixedGrants(t *testing.T) {
	mixed := func(kind string) ClientSettings {
		s := ClientSettings{Name: "both", Kind: kind, GrantTypes: []string{GrantClientCredentials, GrantAuthorizationCode},
			RedirectURIs: []string{"https://app.example.com/cb"}, Roles: []RoleAssignment{{Node: "acme", Role: "viewer"}}}
		s.Normalize()
		return s
	}
	const both = " (a realm with the seacat or keycloak profile lets one client hold both)"
	for _, tc := range []struct {
		name    string
		s       ClientSettings
		allowed bool
		want    []string
	}{
		{"a user_app with both, allowed", mixed(KindUserApp), true, nil},
		{"a service client with both, allowed", mixed(KindService), true, nil},
		{"a user_app with both, kept apart", mixed(KindUserApp), false, []string{
			"a user_app acts for users: use kind service for client_credentials" + both,
			"roles are for service clients; a user_app gets the authorizing user's roles"}},
		{"a service client with both, kept apart", mixed(KindService), false, []string{
			"a service client acts as itself: use kind user_app for authorization_code" + both}},
		{"roles on a user_app without client credentials, allowed realm", func() ClientSettings {
			s := appSettings()
			s.Roles = []RoleAssignment{{Node: "acme", Role: "viewer"}}
			return s
		}(), true, []string{"roles are for service clients; a user_app gets the authorizing user's roles"}},
		{"a public client still has no secret for client credentials", func() ClientSettings {
			s := publicSettings()
			s.GrantTypes = []string{GrantAuthorizationCode, GrantClientCredentials}
			return s
		}(), true, []string{"a public client cannot use client_credentials: it has no secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := testContext()
			rc.MixedGrants = tc.allowed
			err := tc.s.ValidateIn(rc)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("ValidateIn = %v, want valid", err)
				}
				return
			}
			wantValidation(t, err, "client", tc.want...)
		})
	}
}

func TestWarnings(t *testing.T) {
	const day = 86400
	for _, tc := range []struct {
		name     string
		refresh  bool
		lifetime int64
		want     []Warning
	}{
		{"refresh tokens off", false, 400 * day, []Warning{}},
		{"half a day", true, day / 2, []Warning{{"info", "refresh tokens stay usable for 0.5 days"}}},
		{"7 days (the default)", true, 7 * day, []Warning{{"info", "refresh tokens stay usable for 7 days"}}},
		{"30 days", true, 30 * day, []Warning{{"info", "refresh tokens stay usable for 30 days"}}},
		{"30 days and a second", true, 30*day + 1,
			[]Warning{{"warning", "refresh tokens stay usable for 30 days: a leaked one gives long access; prefer 30 days or less"}}},
		{"90 days", true, 90 * day,
			[]Warning{{"warning", "refresh tokens stay usable for 90 days: a leaked one gives long access; prefer 30 days or less"}}},
		{"91 days", true, 91 * day,
			[]Warning{{"high", "refresh tokens stay usable for 91 days: rotate credentials on a schedule or shorten the lifetime"}}},
		{"365 days", true, 365 * day,
			[]Warning{{"high", "refresh tokens stay usable for 365 days: rotate credentials on a schedule or shorten the lifetime"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ClientSettings{IssueRefreshTokens: tc.refresh, RefreshTokenLifetime: tc.lifetime}
			got := s.Warnings()
			if got == nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Warnings = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestHighRisk(t *testing.T) {
	for _, tc := range []struct {
		preset   string
		lifetime int64
		want     bool
	}{
		{PresetFull, 3600, false},
		{PresetFull, 3601, true},
		{PresetFull, 86400, true},
		{PresetReadOnly, 86400, false},
	} {
		s := ClientSettings{AccessPreset: tc.preset, AccessTokenLifetime: tc.lifetime}
		if got := s.HighRisk(); got != tc.want {
			t.Errorf("HighRisk(%s, %d s) = %v, want %v", tc.preset, tc.lifetime, got, tc.want)
		}
	}
}
