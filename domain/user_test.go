package domain

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidateProfile(t *testing.T) {
	const usernameRule = "username must be 1 to 100 characters: letters, digits, '.', '_', '-' or '@'"
	const displayRule = "display_name is at most 200 characters, one line, with no control or format characters"
	for _, tc := range []struct {
		name string
		in   UserProfile
		want UserProfile // after trimming, when valid
		errs []string
	}{
		{name: "a plain profile", in: UserProfile{Username: "alice", Email: "alice@example.com", DisplayName: "Alice"},
			want: UserProfile{Username: "alice", Email: "alice@example.com", DisplayName: "Alice"}},
		{name: "username and display name are trimmed", in: UserProfile{Username: "  alice\t", DisplayName: "  Alice Liddell "},
			want: UserProfile{Username: "alice", DisplayName: "Alice Liddell"}},
		{name: "a blank display name is none", in: UserProfile{Username: "alice", DisplayName: "   "},
			want: UserProfile{Username: "alice"}},
		{name: "every allowed username character", in: UserProfile{Username: "A.b_c-9@x"}, want: UserProfile{Username: "A.b_c-9@x"}},
		{name: "a username of 100 characters", in: UserProfile{Username: strings.Repeat("u", 100)},
			want: UserProfile{Username: strings.Repeat("u", 100)}},
		{name: "a display name of 200 characters", in: UserProfile{Username: "alice", DisplayName: strings.Repeat("ä", 200)},
			want: UserProfile{Username: "alice", DisplayName: strings.Repeat("ä", 200)}},

		{name: "no username", in: UserProfile{Username: "  "}, errs: []string{usernameRule}},
		{name: "a username of 101 characters", in: UserProfile{Username: strings.Repeat("u", 101)}, errs: []string{usernameRule}},
		{name: "a username with a space", in: UserProfile{Username: "alice smith"}, errs: []string{usernameRule}},
		{name: "a username beyond ASCII", in: UserProfile{Username: "élise"}, errs: []string{usernameRule}},
		{name: "a username with a plus", in: UserProfile{Username: "alice+1"}, errs: []string{usernameRule}},
		{name: "an email with a display part", in: UserProfile{Username: "alice", Email: "Alice <alice@example.com>"},
			errs: []string{`email "Alice <alice@example.com>" is not an address`}},
		{name: "an email with a leading space", in: UserProfile{Username: "alice", Email: " alice@example.com"},
			errs: []string{`email " alice@example.com" is not an address`}},
		{name: "no email address", in: UserProfile{Username: "alice", Email: "alice"},
			errs: []string{`email "alice" is not an address`}},
		{name: "a display name with a bidi override", in: UserProfile{Username: "alice", DisplayName: "Al\u202eice"},
			errs: []string{displayRule}},
		{name: "a display name of 201 characters", in: UserProfile{Username: "alice", DisplayName: strings.Repeat("ä", 201)},
			errs: []string{displayRule}},
		{name: "every problem together", in: UserProfile{Username: "a b", Email: "x", DisplayName: "a\nb"},
			errs: []string{usernameRule, `email "x" is not an address`, displayRule}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.in
			err := ValidateProfile(&p)
			if tc.errs != nil {
				wantValidation(t, err, "user", tc.errs...)
				return
			}
			if err != nil || p != tc.want {
				t.Fatalf("ValidateProfile = %+v, %v; want %+v", p, err, tc.want)
			}
		})
	}
}

func TestValidateMemberships(t *testing.T) {
	for _, tc := range []struct {
		name string
		ms   []Membership
		errs []string
	}{
		{"none", nil, nil},
		{"roles on nodes of every kind", []Membership{{"acme", "viewer"}, {"acme-red", "admin"}, {"proj-app", "editor"}}, nil},
		{"a node listed twice", []Membership{{"acme", "viewer"}, {"acme", "admin"}},
			[]string{`node "acme" is listed twice: a user has one role per node`}},
		{"an unknown role", []Membership{{"acme", "owner"}}, []string{`role "owner" must be viewer, editor or admin`}},
		{"no node", []Membership{{"missing", "viewer"}}, []string{`node "missing" is not a node of this realm`}},
		{"a deleted node", []Membership{{"gone", "viewer"}}, []string{`node "gone" is not a node of this realm`}},
		{"every problem, in order", []Membership{{"acme", ""}, {"acme", "viewer"}, {"old", "admin"}}, []string{
			`role "" must be viewer, editor or admin`, `node "acme" is listed twice: a user has one role per node`,
			`node "old" is not a node of this realm`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateMemberships(tc.ms, testTree())
			if tc.errs == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantValidation(t, err, "memberships", tc.errs...)
		})
	}
}

func TestValidatePassword(t *testing.T) {
	const length = "password must be 10 to 1024 characters"
	const control = "password must not hold control characters"
	for _, tc := range []struct {
		name, pw, err string
	}{
		{"10 characters", "abcdefghij", ""},
		{"9 characters", "abcdefghi", length},
		{"10 characters in 20 bytes", strings.Repeat("ä", 10), ""},
		{"5 characters in 10 bytes", strings.Repeat("ä", 5), length},
		{"1024 characters", strings.Repeat("p", 1024), ""},
		{"1025 characters", strings.Repeat("p", 1025), length},
		{"spaces are characters", "correct horse battery", ""},
		{"a tab", "correct\thorse", control},
		{"a line break", "correct\nhorse", control},
		{"DEL", "correcthorse\x7f", control},
		{"a C1 control (NEL)", "correct\u0085horse", control},
		{"not UTF-8", "correcthorse\xff", control},
		{"empty", "", length},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePassword(tc.pw)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantValidation(t, err, "password", tc.err)
		})
	}
}

func TestDecideDisableUser(t *testing.T) {
	disabled := member()
	disabled.Apply(2, UserDisabled{TokensRevokedBefore: 5})
	deleted := member()
	deleted.Apply(2, UserDeleted{})
	now := t0.Add(250 * time.Millisecond)
	cutoff := t0.Unix() + 1
	for _, tc := range []struct {
		name string
		user *User
		want *UserDisabled
		rule RevocationRule
		err  error
	}{
		{"an active user", member(), &UserDisabled{TokensRevokedBefore: cutoff},
			RevocationRule{Subject: "u1", IssuedBefore: cutoff, ForgetAfter: cutoff + MaxAccessTokenLifetime}, nil},
		{"already disabled: nothing to do", disabled, nil, RevocationRule{}, nil},
		{"no user", nil, nil, RevocationRule{}, ErrNotFound},
		{"a deleted user", deleted, nil, RevocationRule{}, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, rule, err := DecideDisableUser(tc.user, now)
			if !errors.Is(err, tc.err) || !reflect.DeepEqual(e, tc.want) || rule != tc.rule {
				t.Errorf("DecideDisableUser = %+v, %+v, %v; want %+v, %+v, %v", e, rule, err, tc.want, tc.rule, tc.err)
			}
		})
	}
}

func TestDecideDeleteUser(t *testing.T) {
	disabled := member()
	disabled.Apply(2, UserDisabled{})
	deleted := member()
	deleted.Apply(2, UserDeleted{})
	cutoff := t0.Unix() + 1
	rule := RevocationRule{Subject: "u1", IssuedBefore: cutoff, ForgetAfter: cutoff + MaxAccessTokenLifetime}
	for _, tc := range []struct {
		name string
		user *User
		want UserDeleted
		rule RevocationRule
		err  error
	}{
		{"an active user", member(), UserDeleted{TokensRevokedBefore: cutoff}, rule, nil},
		{"a disabled user", disabled, UserDeleted{TokensRevokedBefore: cutoff}, rule, nil},
		{"no user", nil, UserDeleted{}, RevocationRule{}, ErrNotFound},
		{"a deleted user", deleted, UserDeleted{}, RevocationRule{}, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, r, err := DecideDeleteUser(tc.user, t0)
			if !errors.Is(err, tc.err) || e != tc.want || r != tc.rule {
				t.Errorf("DecideDeleteUser = %+v, %+v, %v; want %+v, %+v, %v", e, r, err, tc.want, tc.rule, tc.err)
			}
		})
	}
}

// TestUserApply folds a user's history one event at a time.
func TestUserApply(t *testing.T) {
	u := &User{}
	type state struct {
		Status              string
		Active, HasPassword bool
		Username            string
		Memberships         int
		RevokedBefore       int64
		CutoffSeq, Version  uint64
		LockedUntil         int64
		Consents            int
	}
	for _, step := range []struct {
		seq  uint64
		p    Payload
		want state
	}{
		{2, UserCreated{UserID: "u1", UserProfile: UserProfile{Username: "alice"}, Memberships: []Membership{{"acme", "viewer"}}},
			state{Status: StatusEnabled, Active: true, Username: "alice", Memberships: 1, Version: 2}},
		{3, UserUpdated{After: UserProfile{Username: "alice2"}},
			state{Status: StatusEnabled, Active: true, Username: "alice2", Memberships: 1, Version: 3}},
		{4, UserPasswordChanged{},
			state{Status: StatusEnabled, Active: true, HasPassword: true, Username: "alice2", Memberships: 1, Version: 4}},
		{5, UserMembershipsChanged{After: []Membership{{"acme", "admin"}, {"beta", "viewer"}}},
			state{Status: StatusEnabled, Active: true, HasPassword: true, Username: "alice2", Memberships: 2, Version: 5}},
		{6, UserLocked{Until: 900},
			state{Status: StatusEnabled, Active: true, HasPassword: true, Username: "alice2", Memberships: 2, Version: 6, LockedUntil: 900}},
		{7, ConsentGranted{ClientID: "app", Scopes: []string{"read"}, Preset: PresetReadOnly},
			state{Status: StatusEnabled, Active: true, HasPassword: true, Username: "alice2", Memberships: 2, Version: 7, LockedUntil: 900, Consents: 1}},
		{8, UserDisabled{TokensRevokedBefore: 700},
			state{Status: StatusDisabled, HasPassword: true, Username: "alice2", Memberships: 2, RevokedBefore: 700, CutoffSeq: 8, Version: 8, LockedUntil: 900, Consents: 1}},
		{9, UserEnabled{},
			state{Status: StatusEnabled, Active: true, HasPassword: true, Username: "alice2", Memberships: 2, RevokedBefore: 700, CutoffSeq: 8, Version: 9, LockedUntil: 900, Consents: 1}},
		{10, ClientEnabled{}, // not a user event
			state{Status: StatusEnabled, Active: true, HasPassword: true, Username: "alice2", Memberships: 2, RevokedBefore: 700, CutoffSeq: 8, Version: 9, LockedUntil: 900, Consents: 1}},
		{11, UserDeleted{TokensRevokedBefore: 600}, // a cut-off never moves back
			state{Status: StatusEnabled, HasPassword: true, Username: "alice2", Memberships: 2, RevokedBefore: 700, CutoffSeq: 11, Version: 11, LockedUntil: 900, Consents: 1}},
	} {
		u.Apply(step.seq, step.p)
		got := state{u.Status, u.Active(), u.HasPassword, u.Username, len(u.Memberships), u.TokensRevokedBefore,
			u.CutoffSeq, u.Version, u.LockedUntil, len(u.Consents)}
		if got != step.want {
			t.Fatalf("after %s at %d:\n  %+v\nwant\n  %+v", step.p.EventType(), step.seq, got, step.want)
		}
	}
}

func TestConsentGrantedCopiesTheMap(t *testing.T) {
	u := member()
	u.Apply(2, ConsentGranted{ClientID: "app", Scopes: []string{"read"}, Teams: []string{"acme-red"}, Preset: PresetFull})
	copied := *u
	copied.Apply(3, ConsentGranted{ClientID: "app", Scopes: []string{"write"}, Preset: PresetReadOnly})
	copied.Apply(4, ConsentGranted{ClientID: "cli", Scopes: []string{"read"}})
	want := Consent{Scopes: []string{"read"}, Teams: []string{"acme-red"}, Preset: PresetFull, GrantedAt: 2}
	if len(u.Consents) != 1 || !reflect.DeepEqual(u.Consents["app"], want) {
		t.Fatalf("folding a copy changed the original's consents: %+v", u.Consents)
	}
	if len(copied.Consents) != 2 || copied.Consents["app"].Preset != PresetReadOnly {
		t.Fatalf("copy's consents = %+v", copied.Consents)
	}
}

func TestRoleOn(t *testing.T) {
	u := &User{Memberships: []Membership{{"acme", "viewer"}, {"acme-red", "admin"}, {"beta", "owner"}, {"proj", "editor"}}}
	for _, tc := range []struct{ node, want string }{
		{"acme", "viewer"},
		{"acme-red", "admin"},   // the stronger of the team's and the organization's
		{"acme-blue", "viewer"}, // through the organization
		{"gone", ""},            // deleted
		{"beta-green", ""},      // an unknown role gives nothing
		{"proj-app", "editor"},
		{"missing", ""},
	} {
		if got := u.RoleOn(tc.node, testTree()); got != tc.want {
			t.Errorf("RoleOn(%q) = %q, want %q", tc.node, got, tc.want)
		}
	}
}

func TestUserTeams(t *testing.T) {
	for _, tc := range []struct {
		name string
		ms   []Membership
		want []string
	}{
		{"through an organization and directly, sorted", []Membership{{"beta-green", "viewer"}, {"acme", "editor"}},
			[]string{"acme-blue", "acme-red", "beta-green"}},
		{"a project is no team", []Membership{{"proj", "admin"}}, nil},
		{"none", nil, nil},
	} {
		u := &User{Memberships: tc.ms}
		if got := u.Teams(testTree()); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Teams(%s) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestSubjectCutoffs(t *testing.T) {
	for _, tc := range []struct {
		e    SubjectCutoff
		want int64
	}{{UserDisabled{TokensRevokedBefore: 1}, 1}, {UserDeleted{TokensRevokedBefore: 2}, 2}} {
		if got := tc.e.RevokesSubjectBefore(); got != tc.want {
			t.Errorf("%T.RevokesSubjectBefore() = %d, want %d", tc.e, got, tc.want)
		}
	}
}
