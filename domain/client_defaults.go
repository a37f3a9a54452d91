package domain

import (
	"fmt"
	"slices"
)

// ClientDefaults are a realm's defaults for new clients, as Keycloak's
// realm token settings: a zero field keeps Latchkey's own default. A
// client takes them when it is created (or replaced by a PUT) without the
// setting; a client keeps what it has when the defaults change.
type ClientDefaults struct {
	// AccessTokenLifetime (seconds) of clients that act for users.
	AccessTokenLifetime int64 `json:"access_token_lifetime"`
	// ClientCredentialsTokenLifetime (seconds) of clients that hold the
	// client-credentials grant (SeaCat Auth: 3 minutes, Keycloak: 5);
	// 0: AccessTokenLifetime.
	ClientCredentialsTokenLifetime int64 `json:"client_credentials_token_lifetime"`
	// IssueRefreshTokens turns refresh tokens on for new clients with the
	// authorization-code grant.
	IssueRefreshTokens bool `json:"issue_refresh_tokens"`
	// RefreshTokenLifetime (seconds).
	RefreshTokenLifetime int64 `json:"refresh_token_lifetime"`
	// AccessPreset: read_only or full.
	AccessPreset string `json:"access_preset"`
}

// check lists the problems of the defaults: each within the range of the
// client setting it stands for.
func (d ClientDefaults) check() []string {
	var problems []string
	between := func(field string, v, lo, hi int64) {
		if v != 0 && (v < lo || v > hi) {
			problems = append(problems, fmt.Sprintf("client_defaults.%s must be between %d and %d seconds, or 0 for Latchkey's default", field, lo, hi))
		}
	}
	between("access_token_lifetime", d.AccessTokenLifetime, MinAccessTokenLifetime, MaxAccessTokenLifetime)
	between("client_credentials_token_lifetime", d.ClientCredentialsTokenLifetime, MinAccessTokenLifetime, MaxAccessTokenLifetime)
	between("refresh_token_lifetime", d.RefreshTokenLifetime, MinAccessTokenLifetime, MaxRefreshTokenLifetime)
	if d.AccessPreset != "" && d.AccessPreset != PresetReadOnly && d.AccessPreset != PresetFull {
		problems = append(problems, fmt.Sprintf("client_defaults.access_preset must be %s or %s, not %q", PresetReadOnly, PresetFull, d.AccessPreset))
	}
	return problems
}

// Fill gives the settings a request left out the realm's defaults; given
// reports whether the request named a setting (by its JSON name). A client
// holding client credentials takes the client-credentials lifetime (one
// holding the code grant too included: its lifetime is one setting), any
// other the access-token lifetime; refresh tokens are turned on only for a
// client with the code grant whose request named neither
// issue_refresh_tokens nor grant_types.
func (d ClientDefaults) Fill(s ClientSettings, given func(field string) bool) ClientSettings {
	shape := s
	shape.Normalize() // the kind and grants the client will have
	if !given("access_token_lifetime") {
		lifetime := d.AccessTokenLifetime
		if slices.Contains(shape.GrantTypes, GrantClientCredentials) && d.ClientCredentialsTokenLifetime != 0 {
			lifetime = d.ClientCredentialsTokenLifetime
		}
		if lifetime != 0 {
			s.AccessTokenLifetime = lifetime
		}
	}
	if !given("refresh_token_lifetime") && d.RefreshTokenLifetime != 0 {
		s.RefreshTokenLifetime = d.RefreshTokenLifetime
	}
	if !given("access_preset") && d.AccessPreset != "" {
		s.AccessPreset = d.AccessPreset
	}
	if d.IssueRefreshTokens && !given("issue_refresh_tokens") && !given("grant_types") &&
		slices.Contains(shape.GrantTypes, GrantAuthorizationCode) {
		s.IssueRefreshTokens = true
	}
	return s
}
