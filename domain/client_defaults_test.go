package domain

import (
	"reflect"
	"slices"
	"testing"
)

func TestClientDefaultsFill(t *testing.T) {
	seacat := ClientDefaults{ClientCredentialsTokenLifetime: 180}
	keycloak := ClientDefaults{AccessTokenLifetime: 300, ClientCredentialsTokenLifetime: 300}
	credal := ClientDefaults{IssueRefreshTokens: true, RefreshTokenLifetime: 30 * 86400}
	full := ClientDefaults{AccessPreset: PresetFull}
	service := ClientSettings{Name: "svc"}
	app := ClientSettings{Name: "app", RedirectURIs: []string{"https://a.example/cb"}}
	mixed := ClientSettings{Name: "both", GrantTypes: []string{GrantClientCredentials, GrantAuthorizationCode}, RedirectURIs: []string{"https://a.example/cb"}}
	for _, tc := range []struct {
		name     string
		defaults ClientDefaults
		in       ClientSettings
		given    []string
		want     func(*ClientSettings)
	}{
		{"no defaults: nothing changes", ClientDefaults{}, service, nil, func(*ClientSettings) {}},
		{"a service client takes the client-credentials lifetime", seacat, service, nil, func(s *ClientSettings) { s.AccessTokenLifetime = 180 }},
		{"a user_app does not take it", seacat, app, nil, func(*ClientSettings) {}},
		{"a user_app takes the access-token lifetime", keycloak, app, nil, func(s *ClientSettings) { s.AccessTokenLifetime = 300 }},
		{"a client with both grants takes the client-credentials lifetime", seacat, mixed, nil, func(s *ClientSettings) { s.AccessTokenLifetime = 180 }},
		{"a lifetime the request gives stays", seacat, ClientSettings{Name: "svc", AccessTokenLifetime: 900}, []string{"access_token_lifetime"},
			func(s *ClientSettings) { s.AccessTokenLifetime = 900 }},
		{"refresh tokens on for a new app", credal, app, nil, func(s *ClientSettings) {
			s.IssueRefreshTokens, s.RefreshTokenLifetime = true, 30*86400
		}},
		{"not for a service client", credal, service, nil, func(s *ClientSettings) { s.RefreshTokenLifetime = 30 * 86400 }},
		{"not when the request turns them off", credal, app, []string{"issue_refresh_tokens"}, func(s *ClientSettings) { s.RefreshTokenLifetime = 30 * 86400 }},
		{"not when the request lists its grant types", credal,
			ClientSettings{Name: "app", GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: []string{"https://a.example/cb"}}, []string{"grant_types"},
			func(s *ClientSettings) { s.RefreshTokenLifetime = 30 * 86400 }},
		{"the preset", full, service, nil, func(s *ClientSettings) { s.AccessPreset = PresetFull }},
		{"a preset the request gives stays", full, ClientSettings{Name: "svc", AccessPreset: PresetReadOnly}, []string{"access_preset"},
			func(s *ClientSettings) { s.AccessPreset = PresetReadOnly }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.defaults.Fill(tc.in, func(f string) bool { return slices.Contains(tc.given, f) })
			want := tc.in
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Fill =\n  %+v\nwant\n  %+v", got, want)
			}
		})
	}
}

func TestClientDefaultsCheck(t *testing.T) {
	for _, tc := range []struct {
		d    ClientDefaults
		want []string
	}{
		{ClientDefaults{}, nil},
		{ClientDefaults{AccessTokenLifetime: 300, ClientCredentialsTokenLifetime: 180, IssueRefreshTokens: true,
			RefreshTokenLifetime: 30 * 86400, AccessPreset: PresetFull}, nil},
		{ClientDefaults{AccessTokenLifetime: 59, ClientCredentialsTokenLifetime: 86401, RefreshTokenLifetime: MaxRefreshTokenLifetime + 1, AccessPreset: "admin"},
			[]string{
				"client_defaults.access_token_lifetime must be between 60 and 86400 seconds, or 0 for Latchkey's default",
				"client_defaults.client_credentials_token_lifetime must be between 60 and 86400 seconds, or 0 for Latchkey's default",
				"client_defaults.refresh_token_lifetime must be between 60 and 31536000 seconds, or 0 for Latchkey's default",
				`client_defaults.access_preset must be read_only or full, not "admin"`,
			}},
	} {
		if got := tc.d.check(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("check(%+v) =\n  %q\nwant\n  %q", tc.d, got, tc.want)
		}
	}
}
