package projections

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

var auditTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// plantedSecret and its hashes are put into every payload that has room for
// one; no entry may show them.
const plantedSecret = "s3cr3t-planted-value-that-must-never-show"

func plantedHash() string {
	sum := sha256.Sum256([]byte(plantedSecret))
	return hex.EncodeToString(sum[:])
}

func envelopeOf(t *testing.T, agg string, p domain.Payload) eventstore.Envelope {
	t.Helper()
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return rawEnvelope(agg, p.EventType(), data)
}

func rawEnvelope(agg, typ string, data []byte) eventstore.Envelope {
	return eventstore.Envelope{
		Seq: 42, ID: "0190f0c8-0000-7000-8000-000000000001", Type: typ, Realm: "acme", Aggregate: agg,
		Time: auditTime, Actor: "client:admin-1", OnBehalfOf: "user:alice", ClientID: "admin-1",
		RequestID: "req-1", IP: "192.0.2.7", Data: data,
	}
}

func entryJSON(t *testing.T, e AuditEntry) string {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func requireClean(t *testing.T, e AuditEntry) {
	t.Helper()
	s := entryJSON(t, e)
	h := plantedHash()
	for _, bad := range []string{plantedSecret, h, strings.ToUpper(h), domain.TokenHash(plantedSecret), "secret_hash", `"hash"`, "password_hash", "argon2id"} {
		if strings.Contains(s, bad) {
			t.Errorf("%s entry contains %q:\n%s", e.Type, bad, s)
		}
	}
}

func settings(name string, scopes ...string) domain.ClientSettings {
	s := domain.ClientSettings{Name: name, Scopes: scopes, GrantTypes: []string{domain.GrantClientCredentials}}
	s.Normalize()
	return s
}

func TestAuditEntryEveryEventType(t *testing.T) {
	client := "client/3f9c0000-0000-4000-8000-000000000001"
	hash := plantedHash()
	cases := []struct {
		agg     string
		p       domain.Payload
		summary string
	}{
		{"realm/acme", domain.RealmCreated{Name: "acme"}, `realm "acme" created`},
		{"realm/acme", domain.KeyAdded{Kid: "k1", Alg: "ES256", Use: "sig", PublicJWK: json.RawMessage(`{"kty":"EC","crv":"P-256","x":"AA","y":"BB","d":"` + plantedSecret + `"}`)}, "signing key k1 added (ES256)"},
		{"realm/acme", domain.KeyDeactivated{Kid: "k1", VerifyUntil: auditTime.Unix()}, "signing key k1 deactivated (verifies tokens until 2026-03-01T12:00:00Z)"},
		{"realm/acme", domain.ScopeDefined{Name: "read", Description: "Read things"}, `scope "read" defined: Read things`},
		{"realm/acme", domain.ScopeRemoved{Name: "read"}, `scope "read" removed`},
		{"node/sales", domain.NodeCreated{Slug: "sales", Name: "Sales", Kind: domain.NodeTeam, Parent: "acme-org"}, `team "sales" created (Sales) under acme-org`},
		{"node/sales", domain.NodeRenamed{Name: "Sales EU"}, `node "sales" renamed to "Sales EU"`},
		{"node/sales", domain.NodeDeleted{}, `node "sales" deleted`},
		{client, domain.ClientCreated{ClientID: "3f9c", ClientSettings: settings("backend", "read", "write"), SecretHash: hash}, `client "backend" created (service, scopes read write)`},
		{client, domain.ClientSecretRotated{SecretHash: hash, PreviousExpiresAt: auditTime.Unix() + 3600}, "secret rotated (previous valid until 2026-03-01T13:00:00Z)"},
		{client, domain.ClientSecretRotated{SecretHash: hash}, "secret rotated (previous invalid at once)"},
		{client, domain.ClientDisabled{TokensRevokedBefore: auditTime.Unix() + 1}, "client disabled; every token issued before 2026-03-01T12:00:01Z revoked"},
		{client, domain.ClientDisabled{TokensRevokedBefore: auditTime.Unix() + 1, Reason: "compromised"}, "client disabled; every token issued before 2026-03-01T12:00:01Z revoked (compromised)"},
		{client, domain.ClientEnabled{}, "client enabled"},
		{client, domain.ClientDeleted{TokensRevokedBefore: auditTime.Unix() + 1}, "client deleted; every token issued before 2026-03-01T12:00:01Z revoked"},
		{client, domain.ClientTokensRevoked{IssuedBefore: auditTime.Unix() + 1, ForgetAfter: auditTime.Unix() + 3601, Reason: "admin"}, "every token of the client issued before 2026-03-01T12:00:01Z revoked (admin)"},
		{client, domain.TokenIssued{JTI: "j1", Hash: domain.TokenHash(plantedSecret), Subject: "admin-1", Scope: "read write", GrantType: domain.GrantClientCredentials, Kid: "k1", IssuedAt: auditTime.Unix(), ExpiresAt: auditTime.Unix() + 3600}, "token issued to admin-1 (scope read write, expires 2026-03-01T13:00:00Z)"},
		{client, domain.TokenRevoked{JTI: "j1", ExpiresAt: auditTime.Unix() + 3600, Reason: "revoked by client"}, "token j1 revoked (revoked by client)"},
		{client, domain.TokenUsed{JTI: "j1", At: auditTime.Unix()}, "token j1 used"},
	}
	for _, tc := range cases {
		env := envelopeOf(t, tc.agg, tc.p)
		e := AuditEntryOf(env)
		if e.Summary != tc.summary {
			t.Errorf("%s: summary %q, want %q", tc.p.EventType(), e.Summary, tc.summary)
		}
		if e.Seq != 42 || e.ID != env.ID || e.Type != tc.p.EventType() || e.Actor != "client:admin-1" ||
			e.OnBehalfOf != "user:alice" || e.ClientID != "admin-1" || e.Target != tc.agg ||
			e.IP != "192.0.2.7" || e.RequestID != "req-1" || !e.Time.Equal(auditTime) {
			t.Errorf("%s: metadata not carried over: %+v", tc.p.EventType(), e)
		}
		if e.Changes == nil {
			t.Errorf("%s: changes is nil, want a list", tc.p.EventType())
		}
		requireClean(t, e)
	}
}

func TestAuditEntryDataFields(t *testing.T) {
	env := envelopeOf(t, "client/c1", domain.TokenIssued{JTI: "j1", Hash: "h-" + plantedSecret, Subject: "c1", Scope: "read", ExpiresAt: 100})
	e := AuditEntryOf(env)
	got := map[string]string{}
	for _, c := range e.Changes {
		if c.Before != nil {
			t.Errorf("data field %s has a before value %s", c.Field, c.Before)
		}
		got[c.Field] = string(c.After)
	}
	if got["jti"] != `"j1"` || got["scope"] != `"read"` || got["exp"] != "100" {
		t.Errorf("token.issued changes = %v", got)
	}
	if _, ok := got["hash"]; ok {
		t.Error("token.issued shows its hash")
	}
	if e.Changes[0].Field != "jti" {
		t.Errorf("changes are not in payload order: %+v", e.Changes)
	}

	created := AuditEntryOf(envelopeOf(t, "client/c1", domain.ClientCreated{ClientID: "c1", ClientSettings: settings("backend", "read"), SecretHash: plantedHash()}))
	var scopes *FieldChange
	for i, c := range created.Changes {
		if c.Field == "scopes" {
			scopes = &created.Changes[i]
		}
		if strings.Contains(c.Field, "secret") || strings.Contains(c.Field, "hash") {
			t.Errorf("client.created shows field %s", c.Field)
		}
	}
	if scopes == nil || string(scopes.After) != `["read"]` || !scopes.Privilege {
		t.Errorf("client.created scopes change = %+v", scopes)
	}
	requireClean(t, created)
}

func TestAuditEntryClientUpdatedDiff(t *testing.T) {
	before := settings("backend", "read")
	after := before
	after.Name = "backend v2"
	after.Scopes = []string{"write", "admin"}
	after.AccessTokenLifetime = 600
	after.Roles = []domain.RoleAssignment{{Node: "sales", Role: "editor"}}
	e := AuditEntryOf(envelopeOf(t, "client/c1", domain.ClientUpdated{Before: before, After: after}))
	if e.Summary != `client "backend v2" updated: name, scopes, access_token_lifetime, roles` {
		t.Errorf("summary %q", e.Summary)
	}
	want := map[string][2]string{
		"name":                  {`"backend"`, `"backend v2"`},
		"scopes":                {`["read"]`, `["write","admin"]`},
		"access_token_lifetime": {"3600", "600"},
		"roles":                 {`[]`, `[{"node":"sales","role":"editor"}]`},
	}
	if len(e.Changes) != len(want) {
		t.Fatalf("changes = %s, want exactly %v", entryJSON(t, e), want)
	}
	for _, c := range e.Changes {
		w, ok := want[c.Field]
		if !ok {
			t.Errorf("unexpected change %+v", c)
			continue
		}
		if string(c.Before) != w[0] || string(c.After) != w[1] {
			t.Errorf("%s: %s → %s, want %s → %s", c.Field, c.Before, c.After, w[0], w[1])
		}
		if wantPriv := c.Field != "name"; c.Privilege != wantPriv {
			t.Errorf("%s: privilege %v, want %v", c.Field, c.Privilege, wantPriv)
		}
		if c.Field == "scopes" {
			if b, _ := json.Marshal(c.Added); string(b) != `["write","admin"]` {
				t.Errorf("scopes added %s", b)
			}
			if b, _ := json.Marshal(c.Removed); string(b) != `["read"]` {
				t.Errorf("scopes removed %s", b)
			}
		}
	}

	same := AuditEntryOf(envelopeOf(t, "client/c1", domain.ClientUpdated{Before: before, After: before}))
	if len(same.Changes) != 0 || same.Summary != `client "backend" updated (no change)` {
		t.Errorf("no-op update: %s", entryJSON(t, same))
	}

	// A list that was null before and empty after did not change.
	nullBefore := before
	nullBefore.RedirectURIs = nil
	emptyAfter := before
	emptyAfter.RedirectURIs = []string{}
	if e := AuditEntryOf(envelopeOf(t, "client/c1", domain.ClientUpdated{Before: nullBefore, After: emptyAfter})); len(e.Changes) != 0 {
		t.Errorf("null → [] reported as a change: %s", entryJSON(t, e))
	}
}

func TestAuditEntryUnknownAndMalformed(t *testing.T) {
	data := `{"user":"u1","password_hash":"$argon2id$x","nested":{"client_secret":"` + plantedSecret + `","refresh_token":"` + plantedSecret + `","keep":1},` +
		`"before":{"email":"a@example.test","secret_hash":"` + plantedHash() + `"},"after":{"email":"b@example.test","secret_hash":"x"}}`
	e := AuditEntryOf(rawEnvelope("widget/u1", "widget.updated", []byte(data)))
	if e.Summary != "widget.updated" || e.Target != "widget/u1" {
		t.Errorf("unknown event: %+v", e)
	}
	requireClean(t, e)
	s := entryJSON(t, e)
	for _, want := range []string{`"field":"email","before":"a@example.test","after":"b@example.test"`, `"keep":1`, `"field":"user"`} {
		if !strings.Contains(s, want) {
			t.Errorf("unknown event entry lacks %s:\n%s", want, s)
		}
	}
	if strings.Contains(s, "argon2id") {
		t.Errorf("password hash shown:\n%s", s)
	}

	bad := AuditEntryOf(rawEnvelope("client/c1", domain.TypeClientCreated, []byte(`not json`)))
	if bad.Summary != domain.TypeClientCreated || bad.Changes == nil || len(bad.Changes) != 0 {
		t.Errorf("malformed event: %+v", bad)
	}
}

// Events of users, codes, grants and sessions are read from their JSON, so
// that they are described (and redacted) whatever their Go types.
func TestAuditEntryUserAndGrantEvents(t *testing.T) {
	h := plantedHash()
	cases := []struct {
		agg, typ, data, summary string
	}{
		{"user/u1", "user.created", `{"user_id":"u1","username":"alice","email":"a@example.test","display_name":"Alice","memberships":[]}`, `user "alice" created`},
		{"user/u1", "user.updated", `{"before":{"username":"alice","email":"a@example.test"},"after":{"username":"alice","email":"b@example.test"}}`, "user profile updated: email"},
		{"user/u1", "user.password_changed", `{}`, "password changed"},
		{"user/u1", "user.memberships_changed", `{"before":[{"node":"sales","role":"viewer"}],"after":[{"node":"sales","role":"admin"}]}`, "memberships changed: memberships"},
		{"user/u1", "user.disabled", `{"tokens_revoked_before":1772366401}`, "user disabled; every token issued before 2026-03-01T12:00:01Z revoked"},
		{"user/u1", "user.locked", `{"until":1772366400}`, "sign-in locked until 2026-03-01T12:00:00Z after repeated failures"},
		{"user/u1", "user.consent_granted", `{"client_id":"c1","scopes":["openid","read"],"teams":[]}`, "consent granted to client c1 (scopes openid read)"},
		{"grant/g1", "code.issued", `{"code_hash":"` + h + `","client_id":"c1","user_id":"u1","redirect_uri":"https://app.example.test/cb","scope":"openid","code_challenge":"` + h + `","sid":"s1","exp":1772366400}`, "authorization code issued to client c1 for user u1 (scope openid, expires 2026-03-01T12:00:00Z)"},
		{"grant/g1", "grant.created", `{"grant_id":"g1","client_id":"c1","user_id":"u1","scope":"openid","refresh_hash":"` + h + `","refresh_exp":1772366400}`, "grant created: client c1 for user u1 (scope openid)"},
		{"grant/g1", "grant.refreshed", `{"refresh_hash":"` + h + `","refresh_exp":1772366400,"scope":"openid"}`, "refresh token rotated (scope openid, expires 2026-03-01T12:00:00Z)"},
		{"grant/g1", "grant.revoked", `{"reason":"refresh token reused","jtis":["j1","j2"]}`, "grant revoked with its refresh token and 2 access tokens (refresh token reused)"},
		{"session/s1", "session.created", `{"session_id":"s1","user_id":"u1","cookie_hash":"` + h + `","device":"desktop","browser":"Firefox","ip":"192.0.2.1","expires_at":1772366400}`, "browser session started for user u1 (Firefox on desktop)"},
		{"session/s1", "session.ended", `{"reason":"logout"}`, "browser session ended (logout)"},
	}
	for _, tc := range cases {
		e := AuditEntryOf(rawEnvelope(tc.agg, tc.typ, []byte(tc.data)))
		if e.Summary != tc.summary {
			t.Errorf("%s: summary %q, want %q", tc.typ, e.Summary, tc.summary)
		}
		requireClean(t, e)
		if s := entryJSON(t, e); strings.Contains(s, "code_challenge") || strings.Contains(s, "cookie_hash") || strings.Contains(s, "refresh_hash") {
			t.Errorf("%s: entry shows a hash field:\n%s", tc.typ, s)
		}
	}

	m := AuditEntryOf(rawEnvelope("user/u1", "user.memberships_changed", []byte(cases[3].data)))
	if len(m.Changes) != 1 || !m.Changes[0].Privilege || string(m.Changes[0].Before) != `[{"node":"sales","role":"viewer"}]` ||
		string(m.Changes[0].After) != `[{"node":"sales","role":"admin"}]` || len(m.Changes[0].Added) != 1 || len(m.Changes[0].Removed) != 1 {
		t.Errorf("memberships change: %s", entryJSON(t, m))
	}
}
