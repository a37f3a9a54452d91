package domain

// ConsoleClientID is the client of the admin console built into every
// realm (Keycloak's security-admin-console): a public app signing the
// realm's users in to the console with the authorization code and PKCE.
const ConsoleClientID = "latchkey-console"

// Lifetimes of the console's tokens: short access tokens, refreshed by the
// console's server side, and a refresh token that lives as long as a
// browser session.
const (
	ConsoleAccessTokenLifetime  = 300
	ConsoleRefreshTokenLifetime = UISessionLifetime
)

// ConsoleCallback is the console's redirect URI for realm under the
// server's public URL.
func ConsoleCallback(publicURL, realm string) string {
	return publicURL + "/console/" + realm + "/callback"
}

// ConsoleSettings are the console client's settings in a realm whose scope
// catalog is catalog: the management scope while the realm has it (without
// it, the realm's users still see their own access in the console).
func ConsoleSettings(publicURL, realm string, catalog Catalog) ClientSettings {
	scopes := []string{ScopeOpenID}
	if catalog.Has(ScopeManagement) {
		scopes = append(scopes, ScopeManagement)
	}
	return ClientSettings{
		Name:                 "Latchkey console",
		Description:          "The admin console built into Latchkey; its sign-ins need no consent.",
		Type:                 ClientPublic,
		Kind:                 KindUserApp,
		GrantTypes:           []string{GrantAuthorizationCode, GrantRefreshToken},
		Scopes:               scopes,
		AccessPreset:         PresetFull,
		RedirectURIs:         []string{ConsoleCallback(publicURL, realm)},
		AccessTokenLifetime:  ConsoleAccessTokenLifetime,
		IssueRefreshTokens:   true,
		RefreshTokenLifetime: ConsoleRefreshTokenLifetime,
	}
}

// DecideConsoleClient is the creation of a realm's console client. It
// fails when the public URL cannot be a redirect URI (plain http to a host
// other than loopback): the realm then has no console.
func DecideConsoleClient(publicURL, realm string, catalog Catalog) (ClientCreated, error) {
	ev, _, err := DecideCreateClient(ConsoleClientID, ConsoleSettings(publicURL, realm, catalog), "", false, ClientContext{Catalog: catalog, Tree: Tree{}})
	return ev, err
}
