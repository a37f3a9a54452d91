package main

// The realm file of `latchkey apply` and `latchkey export`: one YAML
// document per realm, naming things by what people choose (realm name,
// scope name, resource identifier, node slug, client name, username),
// never by the ids a server
// makes, so that a file applies to any server. Secrets are never in it.

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/latchkeyhq/latchkey/domain"
)

// realmFile is one realm. A section left out (nil) is not managed: apply
// leaves that part of the realm alone, even with --prune; an empty list
// ("users: []") is managed and, with --prune, empties it.
type realmFile struct {
	Realm    string        `yaml:"realm"`
	Settings *fileSettings `yaml:"settings,omitempty"`
	Scopes   []fileScope   `yaml:"scopes"`
	// Resources come after the scopes they accept.
	Resources []fileResource `yaml:"resources"`
	Nodes     []fileNode     `yaml:"nodes"`
	Clients   []fileClient   `yaml:"clients"`
	Users     []fileUser     `yaml:"users"`
}

// fileSettings are the realm's settings (seconds; 0 takes the server's
// default), its compatibility profiles, hosts and client defaults.
// require_pkce left out keeps the realm's value, as in a PUT.
type fileSettings struct {
	CheckpointEvery    int                 `yaml:"checkpoint_every"`
	CheckpointInterval int64               `yaml:"checkpoint_interval"`
	TokenRetention     int64               `yaml:"token_retention"`
	RequirePKCE        *bool               `yaml:"require_pkce,omitempty"`
	RequirePAR         bool                `yaml:"require_pushed_authorization_requests,omitempty"`
	RequireDPoPNonce   bool                `yaml:"require_dpop_nonce,omitempty"`
	Compat             []string            `yaml:"compat,omitempty"`
	Hosts              []string            `yaml:"hosts,omitempty"`
	ClientDefaults     *fileClientDefaults `yaml:"client_defaults,omitempty"`
}

// fileClientDefaults are domain.ClientDefaults under their API names.
type fileClientDefaults struct {
	AccessTokenLifetime            int64  `yaml:"access_token_lifetime,omitempty"`
	ClientCredentialsTokenLifetime int64  `yaml:"client_credentials_token_lifetime,omitempty"`
	IssueRefreshTokens             bool   `yaml:"issue_refresh_tokens,omitempty"`
	RefreshTokenLifetime           int64  `yaml:"refresh_token_lifetime,omitempty"`
	AccessPreset                   string `yaml:"access_preset,omitempty"`
}

// realm are the settings the file asks for, over the realm's current ones.
func (s fileSettings) realm(current domain.RealmSettings) domain.RealmSettings {
	out := domain.RealmSettings{CheckpointEvery: s.CheckpointEvery, CheckpointInterval: s.CheckpointInterval, TokenRetention: s.TokenRetention,
		RequirePKCE: current.RequirePKCE, RequirePAR: s.RequirePAR, RequireDPoPNonce: s.RequireDPoPNonce, Compat: s.Compat, Hosts: s.Hosts}
	if s.RequirePKCE != nil {
		out.RequirePKCE = *s.RequirePKCE
	}
	if d := s.ClientDefaults; d != nil {
		out.ClientDefaults = domain.ClientDefaults{AccessTokenLifetime: d.AccessTokenLifetime, ClientCredentialsTokenLifetime: d.ClientCredentialsTokenLifetime,
			IssueRefreshTokens: d.IssueRefreshTokens, RefreshTokenLifetime: d.RefreshTokenLifetime, AccessPreset: d.AccessPreset}
	}
	out.Normalize()
	return out
}

// exportSettings writes a realm's settings as a file gives them.
func exportSettings(st domain.RealmSettings) fileSettings {
	f := fileSettings{CheckpointEvery: st.CheckpointEvery, CheckpointInterval: st.CheckpointInterval, TokenRetention: st.TokenRetention,
		RequirePKCE: &st.RequirePKCE, RequirePAR: st.RequirePAR, RequireDPoPNonce: st.RequireDPoPNonce, Compat: st.Compat, Hosts: st.Hosts}
	if d := st.ClientDefaults; d != (domain.ClientDefaults{}) {
		f.ClientDefaults = &fileClientDefaults{AccessTokenLifetime: d.AccessTokenLifetime, ClientCredentialsTokenLifetime: d.ClientCredentialsTokenLifetime,
			IssueRefreshTokens: d.IssueRefreshTokens, RefreshTokenLifetime: d.RefreshTokenLifetime, AccessPreset: d.AccessPreset}
	}
	return f
}

type fileScope struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// fileResource is a protected resource (RFC 8707) under its admin API
// names, keyed by its identifier; access_token_lifetime left out is the
// default, as in a PUT.
type fileResource struct {
	Identifier          string   `yaml:"identifier"`
	Name                string   `yaml:"name"`
	Scopes              []string `yaml:"scopes,omitempty"`
	AccessTokenLifetime int64    `yaml:"access_token_lifetime,omitempty"`
}

// settings are the resource's settings as the server makes them of the
// file's.
func (r fileResource) settings() domain.ResourceSettings {
	s := domain.ResourceSettings{Name: r.Name, Scopes: r.Scopes, AccessTokenLifetime: r.AccessTokenLifetime}
	s.Normalize()
	return s
}

// exportResource writes a resource's settings, the default lifetime left
// out.
func exportResource(identifier string, s domain.ResourceSettings) fileResource {
	s.Normalize()
	r := fileResource{Identifier: identifier, Name: s.Name, Scopes: s.Scopes, AccessTokenLifetime: s.AccessTokenLifetime}
	if r.AccessTokenLifetime == domain.DefaultAccessTokenLifetime {
		r.AccessTokenLifetime = 0
	}
	return r
}

// changedResource names the settings (by their file names) in which a and
// b differ.
func changedResource(a, b domain.ResourceSettings) []string {
	var out []string
	if a.Name != b.Name {
		out = append(out, "name")
	}
	if !slices.Equal(a.Scopes, b.Scopes) {
		out = append(out, "scopes")
	}
	if a.AccessTokenLifetime != b.AccessTokenLifetime {
		out = append(out, "access_token_lifetime")
	}
	return out
}

type fileNode struct {
	Slug   string `yaml:"slug"`
	Name   string `yaml:"name,omitempty"` // default: the slug
	Kind   string `yaml:"kind"`
	Parent string `yaml:"parent,omitempty"`
}

// fileClient is a client's settings under their admin API names; a setting
// left out takes its default, as in a PUT.
type fileClient struct {
	Name                    string              `yaml:"name"`
	Description             string              `yaml:"description,omitempty"`
	Type                    string              `yaml:"type,omitempty"`
	Kind                    string              `yaml:"kind,omitempty"`
	GrantTypes              []string            `yaml:"grant_types,omitempty"`
	TokenEndpointAuthMethod string              `yaml:"token_endpoint_auth_method,omitempty"`
	Scopes                  []string            `yaml:"scopes,omitempty"`
	OptionalScopes          []string            `yaml:"optional_scopes,omitempty"`
	AccessPreset            string              `yaml:"access_preset,omitempty"`
	TeamSelection           string              `yaml:"team_selection,omitempty"`
	TeamRestrictions        []string            `yaml:"team_restrictions,omitempty"`
	OwnerNode               string              `yaml:"owner_node,omitempty"`
	Roles                   []domain.Membership `yaml:"roles,omitempty"`
	RedirectURIs            []string            `yaml:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs  []string            `yaml:"post_logout_redirect_uris,omitempty"`
	AccessTokenLifetime     int64               `yaml:"access_token_lifetime,omitempty"`
	IssueRefreshTokens      bool                `yaml:"issue_refresh_tokens,omitempty"`
	RefreshTokenLifetime    int64               `yaml:"refresh_token_lifetime,omitempty"`
	RefreshReuseGrace       int64               `yaml:"refresh_reuse_grace,omitempty"`
	IDTokenAlg              string              `yaml:"id_token_signed_response_alg,omitempty"`
	// JWKS and JWKSURI are a private_key_jwt client's public keys.
	JWKS    map[string]any `yaml:"jwks,omitempty"`
	JWKSURI string         `yaml:"jwks_uri,omitempty"`
	// DPoPBoundAccessTokens and RequirePAR are RFC 9449's and RFC 9126's
	// client settings.
	DPoPBoundAccessTokens bool   `yaml:"dpop_bound_access_tokens,omitempty"`
	RequirePAR            bool   `yaml:"require_pushed_authorization_requests,omitempty"`
	Status                string `yaml:"status,omitempty"` // enabled (default) or disabled
}

// jwksJSON and jwksMap carry a key set between the API's JSON and the
// file's mapping.
func jwksJSON(m map[string]any) json.RawMessage {
	if m == nil {
		return nil
	}
	raw, _ := json.Marshal(m)
	return raw
}

func jwksMap(raw json.RawMessage) map[string]any {
	var m map[string]any
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &m)
	}
	return m
}

type fileUser struct {
	Username    string              `yaml:"username"`
	Email       string              `yaml:"email,omitempty"`
	DisplayName string              `yaml:"display_name,omitempty"`
	Memberships []domain.Membership `yaml:"memberships,omitempty"`
	Status      string              `yaml:"status,omitempty"` // enabled (default) or disabled
}

// settings are the client's settings as the file gives them (defaults not
// yet filled in).
func (c fileClient) settings() domain.ClientSettings {
	return domain.ClientSettings{
		Name: c.Name, Description: c.Description, Type: c.Type, Kind: c.Kind, GrantTypes: c.GrantTypes,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, Scopes: c.Scopes, OptionalScopes: c.OptionalScopes, AccessPreset: c.AccessPreset,
		TeamSelection: c.TeamSelection, TeamRestrictions: c.TeamRestrictions, OwnerNode: c.OwnerNode,
		RedirectURIs: c.RedirectURIs, AccessTokenLifetime: c.AccessTokenLifetime, IssueRefreshTokens: c.IssueRefreshTokens,
		RefreshTokenLifetime: c.RefreshTokenLifetime, RefreshReuseGrace: c.RefreshReuseGrace, Roles: c.Roles,
		IDTokenAlg: c.IDTokenAlg, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		JWKS: jwksJSON(c.JWKS), JWKSURI: c.JWKSURI, DPoPBoundAccessTokens: c.DPoPBoundAccessTokens, RequirePAR: c.RequirePAR,
	}
}

// normalized are the settings the server makes of the file's: the
// realm's client defaults for what the entry leaves out (as the server
// does for what a body leaves out), then the domain's own defaults.
func (c fileClient) normalized(defaults domain.ClientDefaults) domain.ClientSettings {
	given := reflect.ValueOf(c)
	s := defaults.Fill(c.settings(), func(field string) bool {
		for i := range given.NumField() {
			name, _, _ := strings.Cut(given.Type().Field(i).Tag.Get("yaml"), ",")
			if name == field {
				return !given.Field(i).IsZero()
			}
		}
		return false
	})
	s.Normalize()
	return s
}

func (c fileClient) status() string { return cmp.Or(c.Status, domain.StatusEnabled) }

// exportClient writes stored settings with every setting left out that
// the defaults (the realm's, then the domain's) would give back: the
// shortest entry that applies to the same client.
func exportClient(s domain.ClientSettings, status string, defaults domain.ClientDefaults) fileClient {
	s.Normalize()
	c := fileClient{
		Name: s.Name, Description: s.Description, Type: s.Type, Kind: s.Kind, GrantTypes: s.GrantTypes,
		TokenEndpointAuthMethod: s.TokenEndpointAuthMethod, Scopes: s.Scopes, OptionalScopes: s.OptionalScopes, AccessPreset: s.AccessPreset,
		TeamSelection: s.TeamSelection, TeamRestrictions: s.TeamRestrictions, OwnerNode: s.OwnerNode,
		Roles: s.Roles, RedirectURIs: s.RedirectURIs, PostLogoutRedirectURIs: s.PostLogoutRedirectURIs,
		AccessTokenLifetime: s.AccessTokenLifetime, IssueRefreshTokens: s.IssueRefreshTokens,
		RefreshTokenLifetime: s.RefreshTokenLifetime, RefreshReuseGrace: s.RefreshReuseGrace, IDTokenAlg: s.IDTokenAlg,
		JWKS: jwksMap(s.JWKS), JWKSURI: s.JWKSURI, DPoPBoundAccessTokens: s.DPoPBoundAccessTokens, RequirePAR: s.RequirePAR,
	}
	if status == domain.StatusDisabled {
		c.Status = status
	}
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if name == "Name" || name == "Status" {
			continue
		}
		f := v.Field(i)
		kept := reflect.ValueOf(f.Interface())
		f.SetZero()
		if !reflect.DeepEqual(c.normalized(defaults), s) {
			f.Set(kept)
		}
	}
	return c
}

// changedSettings names the settings (by JSON name) in which a and b
// differ.
func changedSettings(a, b domain.ClientSettings) []string {
	var out []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			name, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("json"), ",")
			out = append(out, name)
		}
	}
	return out
}

// decodeRealmFiles reads every YAML document of r strictly: an unknown
// field, a key given twice or a value of the wrong type is an error with
// its line. Then each document is checked on its own (checkFile).
func decodeRealmFiles(r io.Reader, name string) ([]realmFile, error) {
	loader, err := yaml.NewLoader(r, yaml.WithKnownFields(), yaml.WithUniqueKeys())
	if err != nil {
		return nil, err
	}
	var files []realmFile
	seen := map[string]bool{}
	for n := 1; ; n++ {
		var f realmFile
		err := loader.Load(&f)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s", name, yamlTypeNames.Replace(err.Error()))
		}
		if err := f.check(); err != nil {
			return nil, fmt.Errorf("%s, document %d: %w", name, n, err)
		}
		if seen[f.Realm] {
			return nil, fmt.Errorf("%s: realm %s is described twice", name, f.Realm)
		}
		seen[f.Realm] = true
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s describes no realm", name)
	}
	return files, nil
}

// check finds what is wrong with a document by itself: names, duplicates
// and values with a fixed set of choices. What depends on the realm
// (scopes, nodes) is checked against it by the plan.
func (f *realmFile) check() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !domain.IsValidName(f.Realm) {
		bad("realm: %q is not a realm name (1 to 63 of a-z, 0-9 and '-')", f.Realm)
	}
	unique := func(what string, names []string) {
		seen := map[string]bool{}
		for _, n := range names {
			if seen[strings.ToLower(n)] {
				bad("%s %q is listed twice", what, n)
			}
			seen[strings.ToLower(n)] = true
		}
	}
	unique("scope", mapSlice(f.Scopes, func(s fileScope) string { return s.Name }))
	// A resource's identifier is matched exactly, as the server does.
	identifiers := map[string]bool{}
	for _, r := range f.Resources {
		if identifiers[r.Identifier] {
			bad("resource %q is listed twice", r.Identifier)
		}
		identifiers[r.Identifier] = true
		if problem := domain.ResourceIdentifierProblem(r.Identifier); problem != "" {
			bad("resource %q: %s", r.Identifier, problem)
		}
	}
	unique("node", mapSlice(f.Nodes, func(n fileNode) string { return n.Slug }))
	unique("client", mapSlice(f.Clients, func(c fileClient) string { return c.Name }))
	unique("user", mapSlice(f.Users, func(u fileUser) string { return u.Username }))
	for _, c := range f.Clients {
		if strings.TrimSpace(c.Name) == "" {
			bad("a client has no name: the name identifies it in the file")
		}
		if !slices.Contains([]string{"", domain.StatusEnabled, domain.StatusDisabled}, c.Status) {
			bad("client %q: status must be enabled or disabled", c.Name)
		}
	}
	for _, u := range f.Users {
		if !slices.Contains([]string{"", domain.StatusEnabled, domain.StatusDisabled}, u.Status) {
			bad("user %q: status must be enabled or disabled", u.Username)
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// yamlTypeNames words the decoder's messages for people, who know a
// client, not main.fileClient.
var yamlTypeNames = strings.NewReplacer(
	"type main.realmFile", "a realm", "type main.fileSettings", "settings", "type main.fileClientDefaults", "client defaults", "type main.fileScope", "a scope", "type main.fileResource", "a resource",
	"type main.fileNode", "a node", "type main.fileClient", "a client", "type main.fileUser", "a user",
	"type domain.Membership", "a membership", "yaml: construct errors: ", "")

// encodeRealmFile writes a realm as export does.
func encodeRealmFile(f realmFile) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Realm %s, as `latchkey export` wrote it; apply it with `latchkey apply -f FILE`.\n", f.Realm)
	b.WriteString("# Client secrets and passwords are never in this file.\n")
	d, err := yaml.NewDumper(&b, yaml.WithIndent(2))
	if err != nil {
		return nil, err
	}
	if err := d.Dump(f); err != nil {
		return nil, err
	}
	if err := d.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func mapSlice[T any](items []T, f func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, f(it))
	}
	return out
}
