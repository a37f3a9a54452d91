package domain

import (
	"reflect"
	"strings"
	"testing"
)

// RFC 7636 appendix B.
const (
	rfcVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfcChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

// member is an active user "u1": editor on acme, viewer on beta-green.
func member() *User {
	u := &User{}
	u.Apply(1, UserCreated{UserID: "u1", UserProfile: UserProfile{Username: "alice"},
		Memberships: []Membership{{Node: "acme", Role: "editor"}, {Node: "beta-green", Role: "viewer"}}})
	return u
}

func TestCheckAuthTarget(t *testing.T) {
	app := clientOf("app", appSettings())
	cli := clientOf("cli", publicSettings())
	disabled := clientOf("app", appSettings())
	disabled.Status = StatusDisabled
	deleted := clientOf("app", appSettings())
	deleted.Deleted = true
	for _, tc := range []struct {
		name     string
		client   *Client
		redirect string
		want     string
	}{
		{"a registered redirect URI", app, "https://app.example.com/cb", ""},
		{"a loopback redirect URI on another port", cli, "http://127.0.0.1:53817/cb", ""},
		{"no client", nil, "https://app.example.com/cb", "unknown or disabled client"},
		{"a disabled client", disabled, "https://app.example.com/cb", "unknown or disabled client"},
		{"a deleted client", deleted, "https://app.example.com/cb", "unknown or disabled client"},
		{"no redirect URI", app, "", "redirect_uri is required"},
		{"an unregistered redirect URI", app, "https://evil.example/cb", "redirect_uri is not registered for this client"},
		{"a registered URI with a query added", app, "https://app.example.com/cb?x=1", "redirect_uri is not registered for this client"},
		{"a loopback URI on another path", cli, "http://127.0.0.1:53817/other", "redirect_uri is not registered for this client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckAuthTarget(tc.client, tc.redirect); got != tc.want {
				t.Errorf("CheckAuthTarget = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckAuthRequest(t *testing.T) {
	app := clientOf("app", appSettings()) // confidential, scopes read and profile
	cli := clientOf("cli", publicSettings())
	svc := clientOf("svc", serviceSettings())
	code := func(change func(*AuthRequest)) AuthRequest {
		r := AuthRequest{ResponseType: "code", RedirectURI: "https://app.example.com/cb", MaxAge: -1}
		change(&r)
		return r
	}
	pkce := func(r *AuthRequest) { r.CodeChallenge, r.CodeChallengeMethod = rfcChallenge, "S256" }
	const malformedChallenge = "code_challenge must be a base64url SHA-256 (43 characters)"
	for _, tc := range []struct {
		name        string
		client      *Client
		req         AuthRequest
		requirePKCE bool
		want        []string
		code        string
		desc        string
	}{
		{name: "no scope: every scope of the client", client: app, req: code(func(*AuthRequest) {}), want: []string{"read", "profile"}},
		{name: "openid and a scope", client: app, req: code(func(r *AuthRequest) { r.Scope = "openid read" }), want: []string{"openid", "read"}},
		{name: "a public client with PKCE", client: cli, req: code(pkce), want: []string{"read"}},
		{name: "a confidential client with PKCE", client: app, req: code(pkce), want: []string{"read", "profile"}},
		{name: "prompts", client: app, req: code(func(r *AuthRequest) { r.Prompt = "login consent" }), want: []string{"read", "profile"}},
		{name: "prompt none", client: app, req: code(func(r *AuthRequest) { r.Prompt = "none" }), want: []string{"read", "profile"}},

		{name: "no response_type", client: app, req: code(func(r *AuthRequest) { r.ResponseType = "" }),
			code: ErrInvalidRequest, desc: "response_type is required"},
		{name: "the implicit flow", client: app, req: code(func(r *AuthRequest) { r.ResponseType = "token" }),
			code: "unsupported_response_type", desc: "only response_type=code is supported"},
		{name: "a hybrid flow", client: app, req: code(func(r *AuthRequest) { r.ResponseType = "code id_token" }),
			code: "unsupported_response_type", desc: "only response_type=code is supported"},
		{name: "a service client", client: svc, req: code(func(*AuthRequest) {}),
			code: ErrUnauthorizedClient, desc: "client is not allowed the authorization_code grant"},
		{name: "the response type is checked before the client", client: svc, req: code(func(r *AuthRequest) { r.ResponseType = "token" }),
			code: "unsupported_response_type", desc: "only response_type=code is supported"},

		{name: "a public client without PKCE", client: cli, req: code(func(*AuthRequest) {}),
			code: ErrInvalidRequest, desc: "a public client must use PKCE (code_challenge with S256)"},
		{name: "a confidential client without PKCE where the realm requires it", client: app, req: code(func(*AuthRequest) {}), requirePKCE: true,
			code: ErrInvalidRequest, desc: "this realm requires PKCE of every client (code_challenge with S256)"},
		{name: "a confidential client with PKCE where the realm requires it", client: app, req: code(pkce), requirePKCE: true,
			want: []string{"read", "profile"}},
		{name: "a public client without PKCE where the realm requires it", client: cli, req: code(func(*AuthRequest) {}), requirePKCE: true,
			code: ErrInvalidRequest, desc: "a public client must use PKCE (code_challenge with S256)"},
		{name: "plain PKCE", client: cli, req: code(func(r *AuthRequest) { r.CodeChallenge, r.CodeChallengeMethod = rfcVerifier, "plain" }),
			code: ErrInvalidRequest, desc: "code_challenge_method must be S256"},
		{name: "a challenge without its method", client: app, req: code(func(r *AuthRequest) { r.CodeChallenge = rfcChallenge }),
			code: ErrInvalidRequest, desc: "code_challenge_method must be S256"},
		{name: "a method without a challenge", client: app, req: code(func(r *AuthRequest) { r.CodeChallengeMethod = "S256" }),
			code: ErrInvalidRequest, desc: malformedChallenge},
		{name: "a challenge of 42 characters", client: cli, req: code(func(r *AuthRequest) { pkce(r); r.CodeChallenge = rfcChallenge[:42] }),
			code: ErrInvalidRequest, desc: malformedChallenge},
		{name: "a challenge of 44 characters", client: cli, req: code(func(r *AuthRequest) { pkce(r); r.CodeChallenge = rfcChallenge + "A" }),
			code: ErrInvalidRequest, desc: malformedChallenge},
		{name: "a challenge with padding", client: cli, req: code(func(r *AuthRequest) { pkce(r); r.CodeChallenge = rfcChallenge[:42] + "=" }),
			code: ErrInvalidRequest, desc: malformedChallenge},
		{name: "a challenge whose last character no SHA-256 ends with", client: cli,
			req:  code(func(r *AuthRequest) { pkce(r); r.CodeChallenge = rfcChallenge[:42] + "N" }),
			code: ErrInvalidRequest, desc: malformedChallenge},
		{name: "a standard-base64 challenge", client: cli,
			req:  code(func(r *AuthRequest) { pkce(r); r.CodeChallenge = strings.ReplaceAll(rfcChallenge, "-", "+") }),
			code: ErrInvalidRequest, desc: malformedChallenge},

		{name: "an unknown prompt", client: app, req: code(func(r *AuthRequest) { r.Prompt = "login select_account" }),
			code: ErrInvalidRequest, desc: "prompt must be none, login or consent"},
		{name: "a malformed scope", client: app, req: code(func(r *AuthRequest) { r.Scope = "openid\tread" }),
			code: ErrInvalidScope, desc: "malformed scope"},
		{name: "a team scope", client: app, req: code(func(r *AuthRequest) { r.Scope = "openid team:acme-red" }),
			code: ErrInvalidScope, desc: "teams are chosen at consent, not with tenant:/team: scopes"},
		{name: "a scope the client lacks", client: app, req: code(func(r *AuthRequest) { r.Scope = "openid write" }),
			code: ErrInvalidScope, desc: "scope write is not allowed for this client"},
		{name: "PKCE is checked before the prompt and the scope", client: cli,
			req:  code(func(r *AuthRequest) { r.Prompt, r.Scope = "bogus", "write" }),
			code: ErrInvalidRequest, desc: "a public client must use PKCE (code_challenge with S256)"},
		{name: "the prompt is checked before the scope", client: app,
			req:  code(func(r *AuthRequest) { r.Prompt, r.Scope = "bogus", "write" }),
			code: ErrInvalidRequest, desc: "prompt must be none, login or consent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, oerr := CheckAuthRequest(tc.client, tc.req, tc.requirePKCE)
			if tc.code != "" {
				wantOAuth(t, oerr, tc.code, tc.desc)
				if got != nil {
					t.Errorf("a refused request returned scopes %q", got)
				}
				return
			}
			wantOAuth(t, oerr, "", "")
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("scopes = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPKCEMatches(t *testing.T) {
	long := strings.Repeat("a", 128)
	for _, tc := range []struct {
		name                string
		challenge, verifier string
		want                bool
	}{
		{"RFC 7636 appendix B", rfcChallenge, rfcVerifier, true},
		{"another verifier", rfcChallenge, strings.Replace(rfcVerifier, "d", "e", 1), false},
		{"the challenge itself as verifier", rfcChallenge, rfcChallenge, false},
		{"a verifier of 42 characters", rfcChallenge, rfcVerifier[:42], false},
		{"a verifier of 129 characters", rfcChallenge, long + "a", false},
		{"a verifier with a character outside the set", rfcChallenge, rfcVerifier[:42] + "+", false},
		{"a challenge in another case", strings.ToLower(rfcChallenge), rfcVerifier, false},
		{"no challenge", "", rfcVerifier, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PKCEMatches(tc.challenge, tc.verifier); got != tc.want {
				t.Errorf("PKCEMatches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSelectableTeams(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*ClientSettings)
		want   []string
	}{
		{"no restrictions: every team of the user", func(*ClientSettings) {}, []string{"acme-blue", "acme-red", "beta-green"}},
		{"restricted to an organization", func(s *ClientSettings) { s.TeamRestrictions = []string{"acme"} }, []string{"acme-blue", "acme-red"}},
		{"restricted to a team", func(s *ClientSettings) { s.TeamRestrictions = []string{"beta-green"} }, []string{"beta-green"}},
		{"owned by an organization", func(s *ClientSettings) { s.OwnerNode = "beta" }, []string{"beta-green"}},
		{"restricted to a team the user lacks", func(s *ClientSettings) { s.TeamRestrictions = []string{"proj"} }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := appSettings()
			tc.change(&s)
			if got := SelectableTeams(member(), clientOf("app", s), testTree()); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("SelectableTeams = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckTeamChoice(t *testing.T) {
	selectable := []string{"acme-red", "acme-blue"}
	for _, tc := range []struct {
		name       string
		picked     []string
		selectable []string
		mode       string
		desc       string
	}{
		{"one team", []string{"acme-red"}, selectable, TeamsSingle, ""},
		{"several teams where several are allowed", []string{"acme-red", "acme-blue"}, selectable, TeamsMultiple, ""},
		{"nothing to choose, nothing chosen", nil, nil, TeamsSingle, ""},
		{"several teams where one is allowed", []string{"acme-red", "acme-blue"}, selectable, TeamsSingle, "choose one team"},
		{"none chosen", nil, selectable, TeamsMultiple, "choose a team"},
		{"a team not offered", []string{"beta-green"}, selectable, TeamsMultiple, "team beta-green cannot be chosen"},
		{"a team when none is offered", []string{"acme-red"}, nil, TeamsSingle, "team acme-red cannot be chosen"},
		{"an unoffered team is named before the count", []string{"acme-red", "beta-green"}, selectable, TeamsSingle,
			"team beta-green cannot be chosen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oerr := CheckTeamChoice(tc.picked, tc.selectable, tc.mode)
			if tc.desc == "" {
				wantOAuth(t, oerr, "", "")
				return
			}
			wantOAuth(t, oerr, ErrInvalidRequest, tc.desc)
		})
	}
}

func TestConsentReusable(t *testing.T) {
	app := clientOf("app", appSettings())
	cli := clientOf("cli", publicSettings())
	fullApp := func() *Client { s := appSettings(); s.AccessPreset = PresetFull; return clientOf("app", s) }()
	consent := Consent{Scopes: []string{"openid", "read"}, Teams: []string{"acme-red"}, Preset: PresetReadOnly}
	for _, tc := range []struct {
		name     string
		consent  Consent
		client   *Client
		scopes   []string
		redirect string
		want     bool
	}{
		{"the same scopes", consent, app, []string{"openid", "read"}, "https://app.example.com/cb", true},
		{"fewer scopes", consent, app, []string{"read"}, "https://app.example.com/cb", true},
		{"no scopes", consent, app, nil, "https://app.example.com/cb", true},
		{"a scope more", consent, app, []string{"openid", "read", "profile"}, "https://app.example.com/cb", false},
		{"the client's preset changed since", consent, fullApp, []string{"read"}, "https://app.example.com/cb", false},
		{"a consent from before presets were kept", Consent{Scopes: []string{"read"}}, app, []string{"read"}, "https://app.example.com/cb", false},
		{"a confidential client: any redirect", consent, app, []string{"read"}, "https://other.example/cb", true},
		{"a public client at its exact loopback URI", consent, cli, []string{"read"}, "http://127.0.0.1/cb", true},
		{"a public client on another loopback port: could be any program", consent, cli, []string{"read"}, "http://127.0.0.1:5555/cb", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ConsentReusable(tc.consent, tc.client, tc.scopes, tc.redirect); got != tc.want {
				t.Errorf("ConsentReusable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDelegatedPreset(t *testing.T) {
	full := NodeAccess{Node: "a", Role: "editor", Access: PresetFull}
	read := NodeAccess{Node: "b", Role: "viewer", Access: PresetReadOnly}
	for _, tc := range []struct {
		name   string
		access []NodeAccess
		want   string
	}{
		{"no node: read-only", nil, PresetReadOnly},
		{"full everywhere", []NodeAccess{full, full}, PresetFull},
		{"read-only somewhere", []NodeAccess{full, read}, PresetReadOnly},
	} {
		if got := DelegatedPreset(tc.access); got != tc.want {
			t.Errorf("DelegatedPreset(%s) = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := AccessNodes([]NodeAccess{full, read}); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("AccessNodes = %q", got)
	}
	if got := AccessNodes(nil); got == nil || len(got) != 0 {
		t.Errorf("AccessNodes(nil) = %#v, want an empty list", got)
	}
}

func TestEffectiveAccess(t *testing.T) {
	teams := []string{"acme-red", "beta-green", "acme-blue"}
	disabled := member()
	disabled.Apply(2, UserDisabled{})
	promoted := member()
	promoted.Apply(2, UserMembershipsChanged{After: []Membership{{Node: "acme", Role: "viewer"}, {Node: "beta", Role: "admin"}}})
	fullApp := func(change func(*ClientSettings)) *Client {
		s := appSettings()
		s.AccessPreset = PresetFull
		change(&s)
		return clientOf("app", s)
	}
	for _, tc := range []struct {
		name   string
		user   *User
		client *Client
		teams  []string
		want   []NodeAccess
	}{
		{"full preset: full where the user edits", member(), fullApp(func(*ClientSettings) {}), teams, []NodeAccess{
			{"acme-red", "editor", PresetFull}, {"beta-green", "viewer", PresetReadOnly}, {"acme-blue", "editor", PresetFull}}},
		{"read-only preset: read-only everywhere", member(), clientOf("app", appSettings()), teams, []NodeAccess{
			{"acme-red", "editor", PresetReadOnly}, {"beta-green", "viewer", PresetReadOnly}, {"acme-blue", "editor", PresetReadOnly}}},
		{"the client's restrictions apply live", member(), fullApp(func(s *ClientSettings) { s.TeamRestrictions = []string{"beta"} }), teams,
			[]NodeAccess{{"beta-green", "viewer", PresetReadOnly}}},
		{"the user's roles apply live, up and down", promoted, fullApp(func(*ClientSettings) {}), teams, []NodeAccess{
			{"acme-red", "viewer", PresetReadOnly}, {"beta-green", "admin", PresetFull}, {"acme-blue", "viewer", PresetReadOnly}}},
		{"a team the user has no role on is dropped", member(), fullApp(func(*ClientSettings) {}), []string{"proj-app", "acme-red"},
			[]NodeAccess{{"acme-red", "editor", PresetFull}}},
		{"a deleted team is dropped", member(), fullApp(func(*ClientSettings) {}), []string{"gone"}, []NodeAccess{}},
		{"no teams", member(), fullApp(func(*ClientSettings) {}), nil, []NodeAccess{}},
		{"a disabled user", disabled, fullApp(func(*ClientSettings) {}), teams, []NodeAccess{}},
		{"no user", nil, fullApp(func(*ClientSettings) {}), teams, []NodeAccess{}},
		{"no client", member(), nil, teams, []NodeAccess{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := EffectiveAccess(tc.user, tc.client, tc.teams, testTree())
			if got == nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("EffectiveAccess =\n  %+v\nwant\n  %+v", got, tc.want)
			}
		})
	}
}

func TestCheckResponseMode(t *testing.T) {
	for mode, want := range map[string]string{
		"":          "",
		"query":     "",
		"fragment":  "response_mode fragment is not supported; only query is",
		"form_post": "response_mode form_post is not supported; only query is",
		"query.jwt": "response_mode query.jwt is not supported; only query is",
		"Query":     "response_mode Query is not supported; only query is",
	} {
		if got := CheckResponseMode(mode); got != want {
			t.Errorf("CheckResponseMode(%q) = %q, want %q", mode, got, want)
		}
	}
}
