package domain

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

const highRiskMessage = "full access with access tokens living over an hour is a high-risk combination; send \"confirm_high_risk\": true to proceed"

func TestDecideCreateClient(t *testing.T) {
	for _, tc := range []struct {
		name     string
		id       string
		in       ClientSettings
		confirm  bool
		want     func() ClientCreated
		warnings []Warning
		check    func(*testing.T, error)
	}{
		{name: "a confidential service client keeps its secret hash", id: "svc",
			in: ClientSettings{Name: " svc ", Scopes: []string{"read", "write"}},
			want: func() ClientCreated {
				return ClientCreated{ClientID: "svc", ClientSettings: serviceSettings(), SecretHash: "hash"}
			}, warnings: []Warning{}},
		{name: "a public client gets no secret hash", id: "cli",
			in: ClientSettings{Name: "cli", Type: ClientPublic, Scopes: []string{"read"}, RedirectURIs: []string{"http://127.0.0.1/cb"}},
			want: func() ClientCreated {
				return ClientCreated{ClientID: "cli", ClientSettings: publicSettings(), SecretHash: ""}
			}, warnings: []Warning{}},
		{name: "refresh tokens come with their warning", id: "app",
			in: ClientSettings{Name: "app", Kind: KindUserApp, Scopes: []string{"read", "profile"},
				RedirectURIs: []string{"https://app.example.com/cb"}, IssueRefreshTokens: true, RefreshTokenLifetime: 60 * 86400},
			want: func() ClientCreated {
				s := appSettings()
				s.IssueRefreshTokens, s.RefreshTokenLifetime = true, 60*86400
				s.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
				return ClientCreated{ClientID: "app", ClientSettings: s, SecretHash: "hash"}
			},
			warnings: []Warning{{"warning", "refresh tokens stay usable for 60 days: a leaked one gives long access; prefer 30 days or less"}}},
		{name: "high risk, confirmed", id: "svc", confirm: true,
			in: ClientSettings{Name: "svc", Scopes: []string{"read", "write"}, AccessPreset: PresetFull, AccessTokenLifetime: 7200},
			want: func() ClientCreated {
				s := serviceSettings()
				s.AccessPreset, s.AccessTokenLifetime = PresetFull, 7200
				return ClientCreated{ClientID: "svc", ClientSettings: s, SecretHash: "hash"}
			}, warnings: []Warning{}},
		{name: "full access for an hour needs no confirmation", id: "svc",
			in: ClientSettings{Name: "svc", Scopes: []string{"read", "write"}, AccessPreset: PresetFull},
			want: func() ClientCreated {
				s := serviceSettings()
				s.AccessPreset = PresetFull
				return ClientCreated{ClientID: "svc", ClientSettings: s, SecretHash: "hash"}
			}, warnings: []Warning{}},

		{name: "high risk, unconfirmed", id: "svc",
			in:    ClientSettings{Name: "svc", AccessPreset: PresetFull, AccessTokenLifetime: 3601},
			check: func(t *testing.T, err error) { wantConflict(t, err, ErrConfirmationRequired, highRiskMessage) }},
		{name: "an id that is no name", id: "Bad_ID", in: ClientSettings{Name: "svc"},
			check: func(t *testing.T, err error) {
				wantValidation(t, err, "client id", `client id "Bad_ID" is invalid: use 1 to 63 characters from a-z, 0-9 and '-', starting with a letter or digit`)
			}},
		{name: "the id is checked before the settings", id: "a.b", in: ClientSettings{},
			check: func(t *testing.T, err error) {
				wantValidation(t, err, "client id", `client id "a.b" is invalid: use 1 to 63 characters from a-z, 0-9 and '-', starting with a letter or digit`)
			}},
		{name: "invalid settings", id: "svc", in: ClientSettings{Name: "svc", Scopes: []string{"nope"}},
			check: func(t *testing.T, err error) {
				wantValidation(t, err, "client", `scope "nope" is not in the realm's scope catalog`)
			}},
		{name: "invalid settings are refused before the risk is weighed", id: "svc",
			in: ClientSettings{AccessPreset: PresetFull, AccessTokenLifetime: 7200},
			check: func(t *testing.T, err error) {
				wantValidation(t, err, "client", "name is required: at most 200 characters, one line, no control or format characters")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, warnings, err := DecideCreateClient(tc.id, tc.in, "hash", tc.confirm, testContext())
			if tc.check != nil {
				tc.check(t, err)
				if !reflect.DeepEqual(e, ClientCreated{}) || warnings != nil {
					t.Errorf("a refused create still returned %+v, %v", e, warnings)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.want(); !reflect.DeepEqual(e, want) {
				t.Errorf("event =\n  %+v\nwant\n  %+v", e, want)
			}
			if !reflect.DeepEqual(warnings, tc.warnings) {
				t.Errorf("warnings = %#v, want %#v", warnings, tc.warnings)
			}
		})
	}
}

func TestDecideUpdateClient(t *testing.T) {
	highRisk := func() *Client {
		s := serviceSettings()
		s.AccessPreset, s.AccessTokenLifetime = PresetFull, 7200
		return clientOf("svc", s)
	}
	with := func(base func() ClientSettings, change func(*ClientSettings)) func() ClientSettings {
		return func() ClientSettings { s := base(); change(&s); return s }
	}
	for _, tc := range []struct {
		name    string
		client  func() *Client
		next    func() ClientSettings
		confirm bool
		// changed: an event is expected, with After = next normalized.
		changed bool
		check   func(*testing.T, error)
	}{
		{name: "no client", client: func() *Client { return nil }, next: serviceSettings,
			check: func(t *testing.T, err error) { wantIs(t, err, ErrNotFound) }},
		{name: "a deleted client", client: func() *Client { c := clientOf("svc", serviceSettings()); c.Deleted = true; return c },
			next: serviceSettings, check: func(t *testing.T, err error) { wantIs(t, err, ErrNotFound) }},
		{name: "confidential to public", client: func() *Client { return clientOf("svc", serviceSettings()) },
			next: publicSettings, check: func(t *testing.T, err error) {
				wantValidation(t, err, "type", "type cannot change from confidential to public; create a new client")
			}},
		{name: "a public client sent without its type", client: func() *Client { return clientOf("cli", publicSettings()) },
			next: func() ClientSettings { return ClientSettings{Name: "cli"} }, check: func(t *testing.T, err error) {
				wantValidation(t, err, "type", "type cannot change from public to confidential; create a new client")
			}},
		{name: "invalid settings", client: func() *Client { return clientOf("svc", serviceSettings()) },
			next: with(serviceSettings, func(s *ClientSettings) { s.AccessTokenLifetime = 10 }),
			check: func(t *testing.T, err error) {
				wantValidation(t, err, "client", "access_token_lifetime must be between 60 and 86400 seconds")
			}},

		{name: "nothing changes", client: func() *Client { return clientOf("svc", serviceSettings()) }, next: serviceSettings},
		{name: "nothing changes once normalized", client: func() *Client { return clientOf("svc", serviceSettings()) },
			next: func() ClientSettings { return ClientSettings{Name: "  svc", Scopes: []string{"read", "write", "read"}} }},
		{name: "a new name", client: func() *Client { return clientOf("svc", serviceSettings()) },
			next: with(serviceSettings, func(s *ClientSettings) { s.Name = "billing" }), changed: true},
		{name: "a disabled client can be edited",
			client: func() *Client { c := clientOf("svc", serviceSettings()); c.Status = StatusDisabled; return c },
			next:   with(serviceSettings, func(s *ClientSettings) { s.Scopes = []string{"read"} }), changed: true},

		{name: "becoming high risk, unconfirmed", client: func() *Client { return clientOf("svc", serviceSettings()) },
			next:  with(serviceSettings, func(s *ClientSettings) { s.AccessPreset, s.AccessTokenLifetime = PresetFull, 7200 }),
			check: func(t *testing.T, err error) { wantConflict(t, err, ErrConfirmationRequired, highRiskMessage) }},
		{name: "becoming high risk by the preset alone, unconfirmed",
			client: func() *Client {
				s := serviceSettings()
				s.AccessTokenLifetime = 7200
				return clientOf("svc", s)
			},
			next:  with(serviceSettings, func(s *ClientSettings) { s.AccessPreset, s.AccessTokenLifetime = PresetFull, 7200 }),
			check: func(t *testing.T, err error) { wantConflict(t, err, ErrConfirmationRequired, highRiskMessage) }},
		{name: "becoming high risk, confirmed", client: func() *Client { return clientOf("svc", serviceSettings()) }, confirm: true,
			next:    with(serviceSettings, func(s *ClientSettings) { s.AccessPreset, s.AccessTokenLifetime = PresetFull, 7200 }),
			changed: true},
		{name: "high risk: another edit needs no confirmation", client: highRisk,
			next: func() ClientSettings { s := highRisk().ClientSettings; s.Name = "billing"; return s }, changed: true},
		{name: "high risk: a longer lifetime, unconfirmed", client: highRisk,
			next:  func() ClientSettings { s := highRisk().ClientSettings; s.AccessTokenLifetime = 7201; return s },
			check: func(t *testing.T, err error) { wantConflict(t, err, ErrConfirmationRequired, highRiskMessage) }},
		{name: "high risk: a longer lifetime, confirmed", client: highRisk, confirm: true,
			next: func() ClientSettings { s := highRisk().ClientSettings; s.AccessTokenLifetime = 7201; return s }, changed: true},
		{name: "high risk: a shorter lifetime", client: highRisk,
			next: func() ClientSettings { s := highRisk().ClientSettings; s.AccessTokenLifetime = 5000; return s }, changed: true},
		{name: "high risk: unchanged, unconfirmed", client: highRisk, next: func() ClientSettings { return highRisk().ClientSettings }},
		{name: "high risk: back to an hour", client: highRisk,
			next: func() ClientSettings { s := highRisk().ClientSettings; s.AccessTokenLifetime = 3600; return s }, changed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.client()
			var before ClientSettings
			if c != nil {
				before = c.ClientSettings
			}
			e, warnings, err := DecideUpdateClient(c, tc.next(), tc.confirm, testContext())
			if tc.check != nil {
				tc.check(t, err)
				if e != nil || warnings != nil {
					t.Errorf("a refused update still returned %+v, %v", e, warnings)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			after := tc.next()
			after.Normalize()
			if !reflect.DeepEqual(warnings, after.Warnings()) {
				t.Errorf("warnings = %v, want %v", warnings, after.Warnings())
			}
			switch {
			case !tc.changed && e != nil:
				t.Fatalf("an update that changes nothing decided %+v", e)
			case tc.changed && e == nil:
				t.Fatal("a change decided no event")
			case tc.changed && (!reflect.DeepEqual(e.Before, before) || !reflect.DeepEqual(e.After, after)):
				t.Errorf("event = %+v\nwant before %+v\nafter %+v", e, before, after)
			}
		})
	}
}

func TestDecideRotateSecret(t *testing.T) {
	deleted := clientOf("svc", serviceSettings())
	deleted.Deleted = true
	const overlapRule = "previous_secret_expires_in must be between 0 and 604800 seconds"
	for _, tc := range []struct {
		name    string
		client  *Client
		overlap int64
		want    ClientSecretRotated
		check   func(*testing.T, error)
	}{
		{name: "no overlap: the old secret ends at once", client: clientOf("svc", serviceSettings()), overlap: 0,
			want: ClientSecretRotated{SecretHash: "new"}},
		{name: "a minute of overlap", client: clientOf("svc", serviceSettings()), overlap: 60,
			want: ClientSecretRotated{SecretHash: "new", PreviousExpiresAt: t0.Unix() + 60}},
		{name: "the longest overlap", client: clientOf("svc", serviceSettings()), overlap: MaxSecretOverlap,
			want: ClientSecretRotated{SecretHash: "new", PreviousExpiresAt: t0.Unix() + 7*86400}},
		{name: "overlap too long", client: clientOf("svc", serviceSettings()), overlap: MaxSecretOverlap + 1,
			check: func(t *testing.T, err error) { wantValidation(t, err, "previous_secret_expires_in", overlapRule) }},
		{name: "negative overlap", client: clientOf("svc", serviceSettings()), overlap: -1,
			check: func(t *testing.T, err error) { wantValidation(t, err, "previous_secret_expires_in", overlapRule) }},
		{name: "a public client", client: clientOf("cli", publicSettings()),
			check: func(t *testing.T, err error) {
				wantValidation(t, err, "type", "a public client has no secret to rotate")
			}},
		{name: "no client", client: nil, check: func(t *testing.T, err error) { wantIs(t, err, ErrNotFound) }},
		{name: "a deleted client", client: deleted, check: func(t *testing.T, err error) { wantIs(t, err, ErrNotFound) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := DecideRotateSecret(tc.client, "new", tc.overlap, t0.Add(400*time.Millisecond))
			if tc.check != nil {
				tc.check(t, err)
				return
			}
			if err != nil || e != tc.want {
				t.Fatalf("DecideRotateSecret = %+v, %v; want %+v", e, err, tc.want)
			}
		})
	}
}

func TestDecideDisableClient(t *testing.T) {
	disabled := clientOf("svc", serviceSettings())
	disabled.Status = StatusDisabled
	deleted := clientOf("svc", serviceSettings())
	deleted.Deleted = true
	// The cut-off is the first whole second after now: iat has one-second
	// precision, so a token issued in now's second is covered too.
	now := t0.Add(999 * time.Millisecond)
	cutoff := t0.Unix() + 1
	for _, tc := range []struct {
		name   string
		client *Client
		want   *ClientDisabled
		rule   RevocationRule
		err    error
	}{
		{"an enabled client", clientOf("svc", serviceSettings()),
			&ClientDisabled{TokensRevokedBefore: cutoff, Reason: "compromised"},
			RevocationRule{ClientID: "svc", IssuedBefore: cutoff, ForgetAfter: cutoff + MaxAccessTokenLifetime}, nil},
		{"already disabled: nothing to do", disabled, nil, RevocationRule{}, nil},
		{"no client", nil, nil, RevocationRule{}, ErrNotFound},
		{"a deleted client", deleted, nil, RevocationRule{}, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, rule, err := DecideDisableClient(tc.client, now, "compromised")
			if !errors.Is(err, tc.err) || !reflect.DeepEqual(e, tc.want) || rule != tc.rule {
				t.Errorf("DecideDisableClient = %+v, %+v, %v; want %+v, %+v, %v", e, rule, err, tc.want, tc.rule, tc.err)
			}
		})
	}
}

func TestDecideEnableClient(t *testing.T) {
	disabled := clientOf("svc", serviceSettings())
	disabled.Status = StatusDisabled
	deleted := clientOf("svc", serviceSettings())
	deleted.Deleted = true
	for _, tc := range []struct {
		name   string
		client *Client
		want   *ClientEnabled
		err    error
	}{
		{"a disabled client", disabled, &ClientEnabled{}, nil},
		{"already enabled: nothing to do", clientOf("svc", serviceSettings()), nil, nil},
		{"no client", nil, nil, ErrNotFound},
		{"a deleted client", deleted, nil, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := DecideEnableClient(tc.client)
			if !errors.Is(err, tc.err) || !reflect.DeepEqual(e, tc.want) {
				t.Errorf("DecideEnableClient = %+v, %v; want %+v, %v", e, err, tc.want, tc.err)
			}
		})
	}
}

func TestDecideDeleteClient(t *testing.T) {
	disabled := clientOf("svc", serviceSettings())
	disabled.Status = StatusDisabled
	deleted := clientOf("svc", serviceSettings())
	deleted.Deleted = true
	cutoff := t0.Unix() + 1
	rule := RevocationRule{ClientID: "svc", IssuedBefore: cutoff, ForgetAfter: cutoff + MaxAccessTokenLifetime}
	for _, tc := range []struct {
		name   string
		client *Client
		want   ClientDeleted
		rule   RevocationRule
		err    error
	}{
		{"an enabled client", clientOf("svc", serviceSettings()), ClientDeleted{TokensRevokedBefore: cutoff}, rule, nil},
		{"a disabled client", disabled, ClientDeleted{TokensRevokedBefore: cutoff}, rule, nil},
		{"no client", nil, ClientDeleted{}, RevocationRule{}, ErrNotFound},
		{"a deleted client: its id is never used again", deleted, ClientDeleted{}, RevocationRule{}, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, r, err := DecideDeleteClient(tc.client, t0)
			if !errors.Is(err, tc.err) || e != tc.want || r != tc.rule {
				t.Errorf("DecideDeleteClient = %+v, %+v, %v; want %+v, %+v, %v", e, r, err, tc.want, tc.rule, tc.err)
			}
		})
	}
}

// TestClientApply folds a client's history one event at a time.
func TestClientApply(t *testing.T) {
	s := serviceSettings()
	renamed := serviceSettings()
	renamed.Name = "billing"
	type state struct {
		Status                        string
		Secret, Previous              string
		PreviousExpires, RevokedBefor int64
		CutoffSeq, Version            uint64
		Deleted, Enabled              bool
		Name                          string
	}
	c := &Client{}
	for _, step := range []struct {
		seq  uint64
		p    Payload
		want state
	}{
		{3, ClientCreated{ClientID: "svc", ClientSettings: s, SecretHash: "h1"},
			state{Status: StatusEnabled, Secret: "h1", Version: 3, Enabled: true, Name: "svc"}},
		{5, ClientUpdated{Before: s, After: renamed},
			state{Status: StatusEnabled, Secret: "h1", Version: 5, Enabled: true, Name: "billing"}},
		{8, ClientSecretRotated{SecretHash: "h2", PreviousExpiresAt: 500},
			state{Status: StatusEnabled, Secret: "h2", Previous: "h1", PreviousExpires: 500, Version: 8, Enabled: true, Name: "billing"}},
		{9, ClientSecretRotated{SecretHash: "h3"},
			state{Status: StatusEnabled, Secret: "h3", Version: 9, Enabled: true, Name: "billing"}},
		// Token events sit on a deeper subject: they never move the
		// client's version (its optimistic-concurrency expectation).
		{10, TokenIssued{JTI: "j1"},
			state{Status: StatusEnabled, Secret: "h3", Version: 9, Enabled: true, Name: "billing"}},
		{11, ClientTokensRevoked{IssuedBefore: 900},
			state{Status: StatusEnabled, Secret: "h3", RevokedBefor: 900, CutoffSeq: 11, Version: 11, Enabled: true, Name: "billing"}},
		{12, ClientDisabled{TokensRevokedBefore: 800},
			state{Status: StatusDisabled, Secret: "h3", RevokedBefor: 900, CutoffSeq: 12, Version: 12, Name: "billing"}},
		{13, ClientEnabled{},
			state{Status: StatusEnabled, Secret: "h3", RevokedBefor: 900, CutoffSeq: 12, Version: 13, Enabled: true, Name: "billing"}},
		{14, ClientDeleted{TokensRevokedBefore: 1000},
			state{Status: StatusEnabled, Secret: "h3", RevokedBefor: 1000, CutoffSeq: 14, Version: 14, Deleted: true, Name: "billing"}},
	} {
		c.Apply(step.seq, step.p)
		got := state{c.Status, c.SecretHash, c.PreviousSecretHash, c.PreviousSecretExpires, c.TokensRevokedBefore,
			c.CutoffSeq, c.Version, c.Deleted, c.Enabled(), c.Name}
		if got != step.want {
			t.Fatalf("after %s at %d:\n  %+v\nwant\n  %+v", step.p.EventType(), step.seq, got, step.want)
		}
	}
	if c.ID != "svc" {
		t.Errorf("id = %q", c.ID)
	}
}

func TestClientAllows(t *testing.T) {
	c := clientOf("app", appSettings())
	for grant, want := range map[string]bool{GrantAuthorizationCode: true, GrantClientCredentials: false, GrantRefreshToken: false, "": false} {
		if got := c.Allows(grant); got != want {
			t.Errorf("Allows(%q) = %v, want %v", grant, got, want)
		}
	}
}

func TestTokenCutoffs(t *testing.T) {
	for _, tc := range []struct {
		e    TokenCutoff
		want int64
	}{
		{ClientTokensRevoked{IssuedBefore: 1}, 1},
		{ClientDisabled{TokensRevokedBefore: 2}, 2},
		{ClientDeleted{TokensRevokedBefore: 3}, 3},
	} {
		if got := tc.e.RevokesBefore(); got != tc.want {
			t.Errorf("%T.RevokesBefore() = %d, want %d", tc.e, got, tc.want)
		}
	}
}

func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}
