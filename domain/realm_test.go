package domain

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestDecideRealmSettings(t *testing.T) {
	const interval = "checkpoint_interval must be positive (seconds), or 0 for the server's default"
	const needsCheckpoints = "token_retention needs checkpoints: an expired token event no checkpoint covered would read as tampering"
	const tooShort = "token_retention must be at least 90000 seconds (25 h), negative to keep token events, or 0 for the server's default"
	current := RealmSettings{CheckpointEvery: 500, CheckpointInterval: 60, TokenRetention: 2 * MinTokenRetention}
	others := RealmContext{HostsClaimed: map[string]string{"id.beta.example": "beta"}, PrimaryHost: "id.example.com"}
	for _, tc := range []struct {
		name     string
		current  RealmSettings
		next     RealmSettings
		changed  bool
		errs     []string
		conflict string
	}{
		{name: "defaults, unchanged", next: RealmSettings{}},
		{name: "set, unchanged", current: current, next: current},
		{name: "checkpoints more often", next: RealmSettings{CheckpointEvery: 100}, changed: true},
		{name: "back to the defaults", current: current, next: RealmSettings{}, changed: true},
		{name: "no checkpoints, token events kept", next: RealmSettings{CheckpointEvery: -1, TokenRetention: -1}, changed: true},
		{name: "no checkpoints, the default retention", next: RealmSettings{CheckpointEvery: -1}, changed: true},
		{name: "the shortest retention", next: RealmSettings{TokenRetention: MinTokenRetention}, changed: true},

		{name: "a negative interval", next: RealmSettings{CheckpointInterval: -1}, errs: []string{interval}},
		{name: "a retention one second short", next: RealmSettings{TokenRetention: MinTokenRetention - 1}, errs: []string{tooShort}},
		{name: "a retention without checkpoints", next: RealmSettings{CheckpointEvery: -1, TokenRetention: MinTokenRetention},
			errs: []string{needsCheckpoints}},
		{name: "every problem together", next: RealmSettings{CheckpointEvery: -1, CheckpointInterval: -5, TokenRetention: 3600},
			errs: []string{interval, needsCheckpoints, tooShort}},

		{name: "profiles on", next: RealmSettings{Compat: []string{CompatSeaCat, CompatCorral}}, changed: true},
		{name: "the same profiles, listed twice", current: RealmSettings{Compat: []string{CompatSeaCat}},
			next: RealmSettings{Compat: []string{CompatSeaCat, CompatSeaCat}}},
		{name: "an unknown profile", next: RealmSettings{Compat: []string{"okta"}},
			errs: []string{`compat: unknown profile "okta"; the profiles are coralogix, corral, seacat, keycloak`}},
		{name: "a host, written in capitals", next: RealmSettings{Hosts: []string{"ID.Acme.Example."}}, changed: true},
		{name: "a host with a port", next: RealmSettings{Hosts: []string{"localhost:8443"}}, changed: true},
		{name: "hosts that are not host names", next: RealmSettings{Hosts: []string{"https://id.acme.example", "*.acme.example", "a:0"}},
			errs: []string{
				`hosts: "https://id.acme.example" is not a host name (DNS labels, an optional :port; no scheme, path or wildcard)`,
				`hosts: "*.acme.example" is not a host name (DNS labels, an optional :port; no scheme, path or wildcard)`,
				`hosts: "a:0" is not a host name (DNS labels, an optional :port; no scheme, path or wildcard)`}},
		{name: "the server's own host", next: RealmSettings{Hosts: []string{"id.example.com"}},
			errs: []string{`hosts: "id.example.com" is the server's own host (--public-url), which serves every realm`}},
		{name: "a host another realm claims", next: RealmSettings{Hosts: []string{"id.acme.example", "id.beta.example"}},
			conflict: "host id.beta.example is claimed by another realm"},
		{name: "client defaults", next: RealmSettings{ClientDefaults: ClientDefaults{ClientCredentialsTokenLifetime: 180}}, changed: true},
		{name: "client defaults out of range", next: RealmSettings{ClientDefaults: ClientDefaults{AccessTokenLifetime: 30}},
			errs: []string{"client_defaults.access_token_lifetime must be between 60 and 86400 seconds, or 0 for Latchkey's default"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Realm{Name: "acme", Settings: tc.current}
			e, err := DecideRealmSettings(r, tc.next, others)
			if tc.conflict != "" {
				wantConflict(t, err, "", tc.conflict)
				return
			}
			if tc.errs != nil {
				wantValidation(t, err, "settings", tc.errs...)
				if e != nil {
					t.Errorf("a refused change returned %+v", e)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want *RealmSettingsChanged
			if tc.changed {
				after := tc.next
				after.Normalize()
				want = &RealmSettingsChanged{Before: tc.current, After: after}
			}
			if !reflect.DeepEqual(e, want) {
				t.Errorf("DecideRealmSettings = %+v, want %+v", e, want)
			}
		})
	}
}

func TestDecideCreateRealm(t *testing.T) {
	keys := []KeyAdded{{Kid: "k-es", Alg: AlgES256, Use: "sig"}, {Kid: "k-rs", Alg: AlgRS256, Use: "sig"}}
	events, err := DecideCreateRealm("acme", keys)
	if err != nil {
		t.Fatal(err)
	}
	want := []Payload{RealmCreated{Name: "acme", RequirePKCE: true}, keys[0], keys[1],
		ScopeDefined{Name: "management", Description: "Administer this realm through Latchkey's admin API"},
		ScopeDefined{Name: "read", Description: "Read data through the API"},
		ScopeDefined{Name: "write", Description: "Change data through the API"},
		ScopeDefined{Name: "consumer", Description: "Use the API as a consumer"}}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events =\n  %+v\nwant\n  %+v", events, want)
	}
	for _, name := range []string{"Acme", "acme.corp", "", "-acme", "a*", "realm name with spaces"} {
		events, err := DecideCreateRealm(name, keys)
		if events != nil {
			t.Errorf("DecideCreateRealm(%q) decided %v", name, events)
		}
		wantValidation(t, err, "realm name",
			`realm name "`+name+`" is invalid: use 1 to 63 characters from a-z, 0-9 and '-', starting with a letter or digit`)
	}
}

func TestDecideRotateKeys(t *testing.T) {
	r := &Realm{}
	for i, p := range []Payload{
		RealmCreated{Name: "acme"},
		KeyAdded{Kid: "k1", Alg: AlgES256}, KeyAdded{Kid: "k2", Alg: AlgRS256}, KeyAdded{Kid: "k0", Alg: AlgES256},
		KeyDeactivated{Kid: "k0", VerifyUntil: t0.Unix() - 10},
	} {
		r.Apply(uint64(i+1), p)
	}
	newKeys := []KeyAdded{{Kid: "k3", Alg: AlgES256}, {Kid: "k4", Alg: AlgRS256}}
	events, err := DecideRotateKeys(r, newKeys, t0, MaxAccessTokenLifetime)
	if err != nil {
		t.Fatal(err)
	}
	until := t0.Unix() + MaxAccessTokenLifetime
	want := []Payload{KeyDeactivated{Kid: "k1", VerifyUntil: until}, KeyDeactivated{Kid: "k2", VerifyUntil: until}, newKeys[0], newKeys[1]}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events =\n  %+v\nwant\n  %+v", events, want)
	}
	// Folded in, the new keys sign and the old ones stay published until
	// every token they signed has expired.
	for i, e := range events {
		r.Apply(uint64(10+i), e)
	}
	if k, ok := r.ActiveKey(AlgES256); !ok || k.Kid != "k3" || k.AddedSeq != 12 {
		t.Errorf("active ES256 key = %+v, %v", k, ok)
	}
	published := func(now time.Time) []string {
		var kids []string
		for _, k := range r.Keys {
			if k.Published(now) {
				kids = append(kids, k.Kid)
			}
		}
		return kids
	}
	if got := published(at(24*time.Hour - time.Second)); !reflect.DeepEqual(got, []string{"k1", "k2", "k3", "k4"}) {
		t.Errorf("published a second before the old keys' end: %q", got)
	}
	if got := published(at(24 * time.Hour)); !reflect.DeepEqual(got, []string{"k3", "k4"}) {
		t.Errorf("published when the old keys end: %q", got)
	}

	if _, err := DecideRotateKeys(&Realm{}, newKeys, t0, MaxAccessTokenLifetime); !errors.Is(err, ErrNotFound) {
		t.Errorf("rotating the keys of no realm: %v", err)
	}
}

func TestActiveKey(t *testing.T) {
	r := &Realm{Keys: []SigningKey{
		{Kid: "old-es", Alg: AlgES256, Active: true},
		{Kid: "rs", Alg: AlgRS256, Active: true},
		{Kid: "new-es", Alg: AlgES256, Active: true},
		{Kid: "retired-rs", Alg: AlgRS256},
	}}
	for _, tc := range []struct {
		alg, kid string
		ok       bool
	}{{AlgES256, "new-es", true}, {AlgRS256, "rs", true}, {"HS256", "", false}} {
		if k, ok := r.ActiveKey(tc.alg); ok != tc.ok || k.Kid != tc.kid {
			t.Errorf("ActiveKey(%s) = %q, %v; want %q, %v", tc.alg, k.Kid, ok, tc.kid, tc.ok)
		}
	}
}

func TestSigningKeyPublished(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  SigningKey
		want bool
	}{
		{"active", SigningKey{Active: true}, true},
		{"retired, still verifying", SigningKey{VerifyUntil: t0.Unix() + 1}, true},
		{"retired, its last second over", SigningKey{VerifyUntil: t0.Unix()}, false},
		{"retired long ago", SigningKey{VerifyUntil: 1}, false},
	} {
		if got := tc.key.Published(t0); got != tc.want {
			t.Errorf("Published(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRealmApply(t *testing.T) {
	r := &Realm{}
	jwk := json.RawMessage(`{"kty":"EC"}`)
	r.Apply(1, RealmCreated{Name: "acme"})
	r.Apply(2, KeyAdded{Kid: "k1", Alg: AlgES256, Use: "sig", PublicJWK: jwk})
	r.Apply(3, ScopeDefined{Name: "read", Description: "Read"})
	r.Apply(4, ScopeDefined{Name: "read", Description: "Read data"})
	r.Apply(5, ScopeDefined{Name: "write", Description: "Write"})
	r.Apply(6, ScopeRemoved{Name: "write"})
	r.Apply(7, RealmSettingsChanged{After: RealmSettings{CheckpointEvery: 10}})
	r.Apply(8, KeyDeactivated{Kid: "k1", VerifyUntil: 99})
	r.Apply(9, ClientEnabled{}) // not a realm event
	want := &Realm{Name: "acme", Version: 8, Scopes: Catalog{"read": "Read data"}, Settings: RealmSettings{CheckpointEvery: 10},
		Keys: []SigningKey{{Kid: "k1", Alg: AlgES256, Use: "sig", PublicJWK: jwk, VerifyUntil: 99, AddedSeq: 2}}}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("realm =\n  %+v\nwant\n  %+v", r, want)
	}
}
