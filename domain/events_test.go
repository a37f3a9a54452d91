package domain

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// samplePayloads holds one payload of every event type, each field set.
func samplePayloads() []Payload {
	s := serviceSettings()
	s.Roles = roles("acme", "viewer")
	return []Payload{
		RealmCreated{Name: "acme", RequirePKCE: true},
		KeyAdded{Kid: "k1", Alg: AlgES256, Use: "sig", PublicJWK: json.RawMessage(`{"kty":"EC"}`)},
		KeyDeactivated{Kid: "k1", VerifyUntil: 9},
		ScopeDefined{Name: "read", Description: "Read"},
		ScopeRemoved{Name: "read"},
		RealmSettingsChanged{Before: RealmSettings{CheckpointEvery: 1}, After: RealmSettings{TokenRetention: -1}},
		NodeCreated{Slug: "acme-red", Name: "Red", Kind: NodeTeam, Parent: "acme"},
		NodeRenamed{Name: "Red team"},
		NodeDeleted{},
		NodeReferenced{By: "client/c1"},
		ScopeReferenced{Scope: "read", By: "client/c1"},
		ScopeRetired{Scope: "read"},
		ClientCreated{ClientID: "svc", ClientSettings: s, SecretHash: "sh"},
		ClientUpdated{Before: serviceSettings(), After: s},
		ClientSecretRotated{SecretHash: "sh2", PreviousExpiresAt: 7},
		ClientSecretRehashed{SecretHash: "sh3", PreviousSecretHash: "sh4"},
		ClientDisabled{TokensRevokedBefore: 3, Reason: "r", URLClientID: "https://c.example/m"},
		ClientEnabled{},
		ClientDeleted{TokensRevokedBefore: 4, URLClientID: "https://c.example/m"},
		ClientTokensRevoked{IssuedBefore: 5, ForgetAfter: 6, Reason: "r", URLClientID: "https://c.example/m"},
		ClientDiscovered{ClientID: "https://c.example/m", ClientSettings: publicSettings(), LogoURI: "https://c.example/l.png",
			ClientURI: "https://c.example", DocumentSHA256: "ab"},
		ClientRegistered{ClientID: "r1", ClientSettings: appSettings(), SecretHash: "sh", RegistrationHash: "rh",
			LogoURI: "https://c.example/l.png", ClientURI: "https://c.example", InitialToken: "it1"},
		ClientRegistrationChanged{Before: ClientRegistration{}, After: ClientRegistration{CIMD: CIMDPolicy{Enabled: true, AllowedHosts: []string{"claude.ai"}},
			Dynamic: DynamicRegistation{Enabled: true, Open: true}}},
		InitialTokenCreated{Hash: "ih", Description: "d", ExpiresAt: 9, MaxUses: 2},
		InitialTokenUsed{ClientID: "r1"},
		InitialTokenRevoked{},
		ResourceCreated{Identifier: "https://mcp.example.com/mcp", ResourceSettings: ResourceSettings{Name: "MCP", Scopes: []string{"read"}, AccessTokenLifetime: 600}},
		ResourceUpdated{Before: ResourceSettings{Name: "MCP"}, After: ResourceSettings{Name: "MCP 2"}},
		ResourceDeleted{},
		TokenIssued{JTI: "j", Hash: "th", Subject: "svc", Scope: "read", GrantType: GrantClientCredentials, Kid: "k1",
			Nodes: []string{"acme"}, Preset: PresetFull, IssuedAt: 1, ExpiresAt: 2, Audience: "https://mcp.example.com/mcp", JKT: "jkt"},
		TokenRevoked{JTI: "j", ExpiresAt: 2, Reason: "r"},
		TokenUsed{JTI: "j", At: 1},
		CodeIssued{CodeHash: "ch", ClientID: "app", UserID: "u1", RedirectURI: "https://a.example/cb", Scope: "openid",
			Challenge: rfcChallenge, Nonce: "n", AuthTime: 1, Teams: []string{"acme-red"}, SessionID: "s", ExpiresAt: 2, FlowID: "f",
			Resources: []string{"https://mcp.example.com/mcp"}, DPoPJKT: "jkt"},
		CodeRedeemed{GrantID: "g"},
		CodeInvalidated{Reason: "code_verifier does not match the code_challenge"},
		GrantCreated{GrantID: "g", CodeID: "c", ClientID: "app", UserID: "u1", Scope: "openid", Teams: []string{"acme-red"},
			SessionID: "s", AuthTime: 1, RefreshHash: "rh", RefreshExpires: 2, Resources: []string{"https://mcp.example.com/mcp"},
			DeviceID: "d", JKT: "jkt"},
		DeviceRequested{ClientID: "cli", DeviceCodeHash: "dh", UserCodeHash: "uh", Scope: "openid", Resources: []string{"https://mcp.example.com/mcp"},
			ExpiresAt: 9, Interval: 5},
		DeviceApproved{UserID: "u1", Scope: "openid", Teams: []string{"acme-red"}, SessionID: "s", AuthTime: 1},
		DeviceDenied{UserID: "u1"},
		DeviceRedeemed{GrantID: "g"},
		RequestPushed{ClientID: "app", RequestURIHash: "rh", Params: map[string][]string{"scope": {"openid"}}, DPoPJKT: "jkt", ExpiresAt: 9},
		PushedRequestUsed{},
		GrantRefreshed{RefreshHash: "rh2", RefreshExpires: 3, Scope: "openid"},
		GrantRevoked{Reason: "reuse", JTIs: []string{"j"}},
		SessionCreated{SessionID: "s", UserID: "u1", CookieHash: "kh", Device: "d", Browser: "b", IP: "192.0.2.1", ExpiresAt: 9},
		SessionTouched{At: 5},
		SessionEnded{Reason: "logout"},
		UserCreated{UserID: "u1", UserProfile: UserProfile{Username: "alice", Email: "a@example.com", DisplayName: "A"},
			Memberships: []Membership{{"acme", "viewer"}}},
		UserUpdated{Before: UserProfile{Username: "a"}, After: UserProfile{Username: "b"}},
		UserPasswordChanged{},
		UserMembershipsChanged{Before: []Membership{{"acme", "viewer"}}, After: []Membership{{"acme", "admin"}}},
		UserRealmRolesChanged{Before: []string{}, After: []string{RoleRealmAdmin}},
		UserDisabled{TokensRevokedBefore: 1},
		UserEnabled{},
		UserDeleted{TokensRevokedBefore: 2},
		UserLocked{Until: 3},
		UserUnlocked{},
		ConsentGranted{ClientID: "app", Scopes: []string{"read"}, Teams: []string{"acme-red"}, Preset: PresetReadOnly,
			Resources: []string{"https://mcp.example.com/mcp"}},
		UsernameClaimed{Username: "alice", UserID: "u1"},
		UsernameReleased{Username: "alice"},
		Checkpoint{CheckpointBody: CheckpointBody{V: 1, Realm: "acme", FromSeq: 1, ToSeq: 2, Messages: 1,
			Gaps: []SeqRange{{1, 1}}, Prev: "p", PrevSeq: 1, Head: "h", Fingerprints: "f", Expiring: "e", At: 9}, JWS: "a..b"},
	}
}

func TestEventTypes(t *testing.T) {
	want := []string{
		"audit.checkpoint",
		"client.created", "client.deleted", "client.disabled", "client.discovered", "client.enabled", "client.registered",
		"client.secret_rehashed", "client.secret_rotated", "client.tokens_revoked", "client.updated",
		"code.invalidated", "code.issued", "code.redeemed",
		"device.approved", "device.denied", "device.redeemed", "device.requested",
		"grant.created", "grant.refreshed", "grant.revoked",
		"initial-token.created", "initial-token.revoked", "initial-token.used",
		"node.created", "node.deleted", "node.referenced", "node.renamed",
		"par.pushed", "par.used",
		"realm.client_registration_changed", "realm.created", "realm.key_added", "realm.key_deactivated", "realm.scope_defined", "realm.scope_removed",
		"realm.settings_changed",
		"resource.created", "resource.deleted", "resource.updated",
		"scope.referenced", "scope.retired",
		"session.created", "session.ended", "session.touched",
		"token.issued", "token.revoked", "token.used",
		"user.consent_granted", "user.created", "user.deleted", "user.disabled", "user.enabled", "user.locked",
		"user.memberships_changed", "user.password_changed", "user.realm_roles_changed", "user.unlocked", "user.updated",
		"usernames.claimed", "usernames.released",
	}
	if got := EventTypes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("EventTypes =\n  %q\nwant\n  %q", got, want)
	}
	var sampled []string
	for _, p := range samplePayloads() {
		sampled = append(sampled, p.EventType())
	}
	slices.Sort(sampled)
	if !reflect.DeepEqual(sampled, want) {
		t.Fatalf("the samples do not cover every event type once:\n  %q", sampled)
	}
}

// TestDecodePayload round-trips every event type through its JSON form.
func TestDecodePayload(t *testing.T) {
	for _, p := range samplePayloads() {
		t.Run(p.EventType(), func(t *testing.T) {
			raw, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodePayload(p.EventType(), raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, p) {
				t.Errorf("decoded\n  %#v\nwant\n  %#v", back, p)
			}
		})
	}
	if _, err := DecodePayload("client.renamed", []byte(`{}`)); err == nil || err.Error() != `unknown event type "client.renamed"` {
		t.Errorf("an unknown type: %v", err)
	}
	if _, err := DecodePayload(TypeClientCreated, []byte(`{"client_id": 7}`)); err == nil || !strings.HasPrefix(err.Error(), "decode client.created: ") {
		t.Errorf("a malformed payload: %v", err)
	}
}

// TestRedactSecrets: whatever the redaction rule (its own table is in
// redact_test.go), no event's data keeps a hash once redacted, however deep.
func TestRedactSecrets(t *testing.T) {
	for _, p := range samplePayloads() {
		raw, _ := json.Marshal(p)
		var data map[string]any
		if err := json.Unmarshal(raw, &data); err != nil {
			t.Fatal(err)
		}
		RedactSecrets(data)
		if key := hashKey(data); key != "" {
			t.Errorf("%s keeps %q after redaction", p.EventType(), key)
		}
	}
}

// hashKey finds a "hash" or "*_hash" key at any depth.
func hashKey(v any) string {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if k == "hash" || strings.HasSuffix(k, "_hash") {
				return k
			}
			if found := hashKey(x); found != "" {
				return k + "." + found
			}
		}
	case []any:
		for _, x := range v {
			if found := hashKey(x); found != "" {
				return found
			}
		}
	}
	return ""
}

func TestAggregateRefs(t *testing.T) {
	for _, tc := range []struct {
		ref  AggregateRef
		want string
	}{
		{RealmRef("acme"), "realm/acme"},
		{ClientRef("c1"), "client/c1"},
		{ClientRef("https://c.example/m"), "client/cimd-40237579f21330947d03188fd86ab061d1235c06"},
		{ResourceRef("https://mcp.example.com/mcp"), "resource/" + ResourceID("https://mcp.example.com/mcp")},
		{InitialTokenRef("it1"), "initial-token/it1"},
		{NodeRef("acme-red"), "node/acme-red"},
		{UserRef("u1"), "user/u1"},
		{UsernamesRef(), "usernames/directory"},
		{CodeRef("k"), "code/k"},
		{GrantRef("g"), "grant/g"},
		{SessionRef("s"), "session/s"},
		{AuditRef("acme"), "audit/acme"},
	} {
		if got := tc.ref.String(); got != tc.want {
			t.Errorf("String = %q, want %q", got, tc.want)
		}
		if back, ok := ParseAggregateRef(tc.want); !ok || back != tc.ref {
			t.Errorf("ParseAggregateRef(%q) = %+v, %v", tc.want, back, ok)
		}
	}
	for _, bad := range []string{"", "client", "client/", "/c1"} {
		if ref, ok := ParseAggregateRef(bad); ok || ref != (AggregateRef{}) {
			t.Errorf("ParseAggregateRef(%q) = %+v, %v; want refused", bad, ref, ok)
		}
	}
	// The id is everything after the first slash.
	if ref, ok := ParseAggregateRef("client/a/b"); !ok || ref != (AggregateRef{Type: "client", ID: "a/b"}) {
		t.Errorf("ParseAggregateRef(client/a/b) = %+v, %v", ref, ok)
	}
}

func TestErrorTexts(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&ValidationError{Field: "f", Message: "m"}, "m"},
		{&ConflictError{Code: "c", Message: "m"}, "m"},
		{ErrNotFound, "not found"},
		{ErrAlreadyExists, "already exists"},
	} {
		if tc.err.Error() != tc.want {
			t.Errorf("%T.Error() = %q, want %q", tc.err, tc.err.Error(), tc.want)
		}
	}
}
