package domain

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const docURL = "https://app.example.com/oauth/client.json"

// cimdPolicy is the policy of a realm with one resource accepting read.
func cimdPolicy() MetadataPolicy {
	return MetadataPolicy{
		AuthMethods: []string{AuthNone, AuthPrivateKeyJWT}, Grants: []string{GrantAuthorizationCode, GrantRefreshToken},
		Scopes: []string{"openid", "profile", "read"}, DefaultScopes: []string{"openid", "profile", "read"},
		DefaultAuthMethod: AuthNone, Catalog: testCatalog(), Tree: testTree(),
	}
}

func TestClientIDURLProblem(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{docURL, ""},
		{"https://app.example.com:8443/c?x=1", ""},
		{"http://app.example.com/c", "a client_id URL uses https"},
		{"https://app.example.com", "a client_id URL has a path"},
		{"https://app.example.com/", "a client_id URL has a path"},
		{"https://app.example.com/c#f", "a client_id URL has no fragment"},
		{"https://u@app.example.com/c", "a client_id URL has no user info"},
		{"https://app.example.com/a/../c", "a client_id URL has no . or .. segments"},
		{"https://app.example.com/./c", "a client_id URL has no . or .. segments"},
		{"cli", "the client_id is not an absolute URL"},
	} {
		if got := ClientIDURLProblem(tc.in); got != tc.want {
			t.Errorf("ClientIDURLProblem(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDecideDiscoverClient(t *testing.T) {
	good := `{"client_id":"` + docURL + `","client_name":"App","redirect_uris":["http://127.0.0.1:7777/cb"],` +
		`"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none","scope":"read write other","logo_uri":"https://app.example.com/logo.png"}`
	want := ClientSettings{Name: "App", Type: ClientPublic, GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken},
		TokenEndpointAuthMethod: AuthNone, Scopes: []string{"read"}, RedirectURIs: []string{"http://127.0.0.1:7777/cb"}}
	want.Normalize()
	for _, tc := range []struct {
		name    string
		cur     *Client
		doc     string
		check   func(*testing.T, *ClientDiscovered)
		wantErr string
	}{
		{name: "a public client: scopes this realm does not give are dropped", doc: good, check: func(t *testing.T, ev *ClientDiscovered) {
			if !reflect.DeepEqual(ev.ClientSettings, want) {
				t.Errorf("settings =\n %+v\nwant\n %+v", ev.ClientSettings, want)
			}
			if ev.ClientID != docURL || ev.LogoURI != "https://app.example.com/logo.png" || ev.DocumentSHA256 != DocumentSHA256([]byte(good)) {
				t.Errorf("event = %+v", ev)
			}
		}},
		{name: "no name: the host stands in, no scope: the defaults", doc: `{"client_id":"` + docURL + `","redirect_uris":["https://app.example.com/cb"]}`,
			check: func(t *testing.T, ev *ClientDiscovered) {
				if ev.Name != "app.example.com" || !reflect.DeepEqual(ev.Scopes, []string{"openid", "profile", "read"}) || ev.Type != ClientPublic {
					t.Errorf("event = %+v", ev)
				}
			}},
		{name: "the same document again: nothing to record", cur: func() *Client {
			c := &Client{}
			ev, _ := DecideDiscoverClient(nil, docURL, []byte(good), cimdPolicy())
			c.Apply(7, *ev)
			return c
		}(), doc: good, check: func(t *testing.T, ev *ClientDiscovered) {
			if ev != nil {
				t.Errorf("event = %+v, want none", ev)
			}
		}},
		{name: "a changed document: a new event", cur: func() *Client {
			c := &Client{}
			ev, _ := DecideDiscoverClient(nil, docURL, []byte(good), cimdPolicy())
			c.Apply(7, *ev)
			return c
		}(), doc: strings.Replace(good, `"App"`, `"App 2"`, 1), check: func(t *testing.T, ev *ClientDiscovered) {
			if ev == nil || ev.Name != "App 2" {
				t.Errorf("event = %+v", ev)
			}
		}},
		{name: "private_key_jwt with a key set", doc: `{"client_id":"` + docURL + `","redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example.com/jwks"}`,
			check: func(t *testing.T, ev *ClientDiscovered) {
				if ev.Type != ClientConfidential || ev.JWKSURI != "https://app.example.com/jwks" || ev.HasSecret() {
					t.Errorf("event = %+v", ev)
				}
			}},
		{name: "client_id differs from the URL", doc: `{"client_id":"https://evil.example.com/c","redirect_uris":["https://app.example.com/cb"]}`,
			wantErr: "invalid_client_metadata: the document's client_id does not equal the URL it was fetched from"},
		{name: "no client_id", doc: `{"redirect_uris":["https://app.example.com/cb"]}`,
			wantErr: "invalid_client_metadata: the document's client_id does not equal the URL it was fetched from"},
		{name: "a secret in the document", doc: `{"client_id":"` + docURL + `","client_secret":"s","redirect_uris":["https://app.example.com/cb"]}`,
			wantErr: "invalid_client_metadata: a metadata document must not hold client_secret"},
		{name: "a secret-based method", doc: `{"client_id":"` + docURL + `","token_endpoint_auth_method":"client_secret_basic","redirect_uris":["https://app.example.com/cb"]}`,
			wantErr: "invalid_client_metadata: token_endpoint_auth_method must be one of none, private_key_jwt"},
		{name: "private_key_jwt without keys", doc: `{"client_id":"` + docURL + `","token_endpoint_auth_method":"private_key_jwt","redirect_uris":["https://app.example.com/cb"]}`,
			wantErr: "invalid_client_metadata: private_key_jwt needs the client's public keys: jwks or jwks_uri"},
		{name: "a wildcard redirect", doc: `{"client_id":"` + docURL + `","redirect_uris":["https://*.example.com/cb"]}`,
			wantErr: "invalid_redirect_uri: invalid redirect URIs: https://*.example.com/cb (wildcards are not allowed)"},
		{name: "no redirect URI", doc: `{"client_id":"` + docURL + `"}`,
			wantErr: "invalid_redirect_uri: authorization_code needs at least one redirect URI"},
		{name: "client credentials", doc: `{"client_id":"` + docURL + `","grant_types":["client_credentials"]}`,
			wantErr: "invalid_client_metadata: grant_types may hold only authorization_code, refresh_token"},
		{name: "not JSON", doc: `<html>`, wantErr: "invalid_client_metadata: the metadata is not a JSON object"},
		{name: "a member of the wrong type", doc: `{"client_id":"` + docURL + `","redirect_uris":"https://app.example.com/cb"}`,
			wantErr: "invalid_client_metadata: the metadata does not read as RFC 7591 client metadata: json: cannot unmarshal string into Go struct field ClientMetadata.redirect_uris of type []string"},
		{name: "too large", doc: `{"client_id":"` + docURL + `","client_name":"` + strings.Repeat("a", MaxMetadataDocument) + `"}`,
			wantErr: "invalid_client_metadata: the metadata document is larger than 5 KiB"},
		{name: "a name mixing lookalike scripts", doc: `{"client_id":"` + docURL + `","client_name":"\u0391pple","redirect_uris":["https://app.example.com/cb"]}`,
			wantErr: "invalid_client_metadata: client_name mixes Latin and Greek letters, which can pass for another name on the consent page"},
		{name: "a deleted client stays deleted", cur: &Client{ID: docURL, Deleted: true}, doc: good,
			wantErr: "invalid_client: this client was deleted by an administrator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := DecideDiscoverClient(tc.cur, docURL, []byte(tc.doc), cimdPolicy())
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, ev)
		})
	}
}

func dcrPolicy() MetadataPolicy {
	return MetadataPolicy{
		AuthMethods: []string{AuthNone, AuthSecretBasic, AuthSecretPost, AuthPrivateKeyJWT},
		Grants:      []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials},
		Scopes:      []string{"openid", "read"}, DefaultScopes: []string{"openid"}, Strict: true,
		DefaultName: "Registered client", DefaultAuthMethod: AuthSecretBasic, Catalog: testCatalog(), Tree: testTree(),
	}
}

func TestDecideRegisterClient(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		check   func(*testing.T, ClientRegistered)
		wantErr string
	}{
		{name: "an MCP client: public, code and refresh", body: `{"redirect_uris":["http://127.0.0.1:3000/cb"],"token_endpoint_auth_method":"none",` +
			`"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"MCP Inspector","scope":"read","unknown":1}`,
			check: func(t *testing.T, ev ClientRegistered) {
				if ev.Type != ClientPublic || ev.SecretHash != "" || ev.Name != "MCP Inspector" || !ev.IssueRefreshTokens ||
					!reflect.DeepEqual(ev.Scopes, []string{"read"}) || ev.RegistrationHash != "rh" || ev.ClientID != "c1" {
					t.Errorf("event = %+v", ev)
				}
			}},
		{name: "RFC 7591's defaults: confidential, Basic, the code grant", body: `{"redirect_uris":["https://app.example.com/cb"]}`,
			check: func(t *testing.T, ev ClientRegistered) {
				if ev.Type != ClientConfidential || ev.SecretHash != "sh" || ev.TokenEndpointAuthMethod != AuthSecretBasic ||
					ev.Name != "Registered client" || !reflect.DeepEqual(ev.Scopes, []string{"openid"}) || ev.Kind != KindUserApp {
					t.Errorf("event = %+v", ev)
				}
			}},
		{name: "a service", body: `{"grant_types":["client_credentials"],"scope":"read"}`,
			check: func(t *testing.T, ev ClientRegistered) {
				if ev.Kind != KindService || ev.SecretHash != "sh" {
					t.Errorf("event = %+v", ev)
				}
			}},
		{name: "a scope the policy does not give", body: `{"redirect_uris":["https://app.example.com/cb"],"scope":"read management"}`,
			wantErr: "invalid_client_metadata: scope management cannot be registered here"},
		{name: "a client_id of its own choosing", body: `{"client_id":"mine","redirect_uris":["https://app.example.com/cb"]}`,
			wantErr: "invalid_client_metadata: client_id is assigned by the server"},
		{name: "a bad redirect", body: `{"redirect_uris":["http://app.example.com/cb"]}`,
			wantErr: "invalid_redirect_uri: invalid redirect URIs: http://app.example.com/cb (http is allowed only for 127.0.0.1, [::1] and localhost)"},
		{name: "implicit", body: `{"redirect_uris":["https://app.example.com/cb"],"response_types":["token"]}`,
			wantErr: `invalid_client_metadata: response_types may hold only "code"`},
		{name: "both kinds", body: `{"redirect_uris":["https://app.example.com/cb"],"grant_types":["authorization_code","client_credentials"]}`,
			wantErr: "invalid_client_metadata: a client acts for users (authorization_code) or as itself (client_credentials), not both"},
		{name: "a public service", body: `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`,
			wantErr: "invalid_client_metadata: a public client cannot use client_credentials: it has no secret; a user_app acts for users: use kind service for client_credentials (a realm with the seacat or keycloak profile lets one client hold both)"},
		{name: "a logo over http", body: `{"redirect_uris":["https://app.example.com/cb"],"logo_uri":"http://app.example.com/l.png"}`,
			wantErr: "invalid_client_metadata: client_uri and logo_uri must be https URLs"},
		{name: "an array", body: `[]`, wantErr: "invalid_client_metadata: the metadata is not a JSON object"},
		{name: "a name mixing lookalike scripts", body: `{"redirect_uris":["https://app.example.com/cb"],"client_name":"P\u0430ypal"}`,
			wantErr: "invalid_client_metadata: client_name mixes Latin and Cyrillic letters, which can pass for another name on the consent page"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := DecideRegisterClient("c1", []byte(tc.body), "sh", "rh", "", dcrPolicy())
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, ev)
		})
	}
}

func TestDecideReregisterClient(t *testing.T) {
	ev, err := DecideRegisterClient("c1", []byte(`{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"none"}`), "", "rh", "", dcrPolicy())
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{}
	c.Apply(3, ev)
	if up, err := DecideReregisterClient(c, []byte(`{"client_id":"c1","redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"none"}`), dcrPolicy()); err != nil || up != nil {
		t.Errorf("the same metadata: %+v, %v", up, err)
	}
	up, err := DecideReregisterClient(c, []byte(`{"client_id":"c1","redirect_uris":["https://app.example.com/cb2"],"token_endpoint_auth_method":"none"}`), dcrPolicy())
	if err != nil || up == nil || !reflect.DeepEqual(up.After.RedirectURIs, []string{"https://app.example.com/cb2"}) {
		t.Errorf("a new redirect URI: %+v, %v", up, err)
	}
	if _, err := DecideReregisterClient(c, []byte(`{"client_id":"c1","redirect_uris":["https://app.example.com/cb"]}`), dcrPolicy()); err == nil ||
		err.Error() != "invalid_client_metadata: token_endpoint_auth_method cannot change between a secret, a key and none; register a new client" {
		t.Errorf("becoming confidential: %v", err)
	}
	if _, err := DecideReregisterClient(c, []byte(`{"client_id":"c2","redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"none"}`), dcrPolicy()); err == nil ||
		err.Error() != "invalid_client_metadata: client_id does not match the registration" {
		t.Errorf("another client_id: %v", err)
	}
	admin := clientOf("app", appSettings())
	if _, err := DecideReregisterClient(admin, []byte(`{}`), dcrPolicy()); !errors.Is(err, ErrNotFound) {
		t.Errorf("an administrator's client: %v", err)
	}
}

func TestPrivateKeyJWTSettings(t *testing.T) {
	jwk := `{"keys":[{"kty":"EC","crv":"P-256","x":"x","y":"y"}]}`
	base := func() ClientSettings {
		s := serviceSettings()
		s.TokenEndpointAuthMethod = AuthPrivateKeyJWT
		return s
	}
	for _, tc := range []struct {
		name string
		edit func(*ClientSettings)
		want string
	}{
		{"inline keys", func(s *ClientSettings) { s.JWKS = []byte(jwk) }, ""},
		{"a key set URL", func(s *ClientSettings) { s.JWKSURI = "https://svc.example.com/jwks" }, ""},
		{"no keys", func(s *ClientSettings) {}, "private_key_jwt needs the client's public keys: jwks or jwks_uri"},
		{"both", func(s *ClientSettings) { s.JWKS, s.JWKSURI = []byte(jwk), "https://svc.example.com/jwks" }, "give jwks or jwks_uri, not both"},
		{"a private key", func(s *ClientSettings) {
			s.JWKS = []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"x","y":"y","d":"d"}]}`)
		},
			`jwks: key 0 holds private key material ("d"): register public keys only`},
		{"a symmetric key", func(s *ClientSettings) { s.JWKS = []byte(`{"keys":[{"kty":"oct","k":"k"}]}`) }, "jwks: key 0: kty must be EC, RSA or OKP"},
		{"no key set", func(s *ClientSettings) { s.JWKS = []byte(`[1]`) }, `jwks: not a JWK Set: {"keys": [...]}`},
		{"an empty key set", func(s *ClientSettings) { s.JWKS = []byte(`{"keys":[]}`) }, "jwks: a key set holds 1 to 10 keys"},
		{"a key set over http", func(s *ClientSettings) { s.JWKSURI = "http://svc.example.com/jwks" }, "jwks_uri: the scheme must be https"},
		{"keys for a secret client", func(s *ClientSettings) {
			s.TokenEndpointAuthMethod = AuthSecretBasic
			s.JWKSURI = "https://svc.example.com/jwks"
		},
			"jwks and jwks_uri are for clients with token_endpoint_auth_method private_key_jwt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.edit(&s)
			err := s.Validate(testCatalog(), testTree())
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// A private_key_jwt client has no secret: none is kept at creation,
	// none can be rotated, and switching to it ends the one it had.
	s := base()
	s.JWKSURI = "https://svc.example.com/jwks"
	ev, _, err := DecideCreateClient("svc", s, "hash", false, testContext())
	if err != nil || ev.SecretHash != "" {
		t.Fatalf("create: %+v, %v", ev, err)
	}
	c := clientOf("svc", serviceSettings())
	c.SecretHash = "hash"
	c.Apply(9, ClientUpdated{Before: c.ClientSettings, After: s})
	if c.SecretHash != "" {
		t.Error("the secret outlived the switch to private_key_jwt")
	}
	if _, err := DecideRotateSecret(c, "h2", 0, t0); err == nil ||
		err.Error() != "a client authenticating with private_key_jwt has no secret to rotate" {
		t.Errorf("rotate: %v", err)
	}
	if _, _, err := DecideCreateClient("cimd-0123", serviceSettings(), "h", false, testContext()); err == nil ||
		err.Error() != "client ids starting with cimd- are reserved" {
		t.Errorf("a reserved id: %v", err)
	}
}
