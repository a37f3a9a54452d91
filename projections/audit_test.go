package projections

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
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
		{"realm/acme", domain.RealmSettingsChanged{Before: domain.RealmSettings{CheckpointEvery: 1000}, After: domain.RealmSettings{CheckpointEvery: 5}}, "realm settings changed: checkpoint_every"},
		{"usernames/directory", domain.UsernameClaimed{Username: "alice", UserID: "u1"}, `username "alice" claimed by user u1`},
		{"usernames/directory", domain.UsernameReleased{Username: "alice"}, `username "alice" released`},
		{"node/sales", domain.NodeCreated{Slug: "sales", Name: "Sales", Kind: domain.NodeTeam, Parent: "acme-org"}, `team "sales" created (Sales) under acme-org`},
		{"node/sales", domain.NodeRenamed{Name: "Sales EU"}, `node "sales" renamed to "Sales EU"`},
		{"node/sales", domain.NodeDeleted{}, `node "sales" deleted`},
		{"node/sales", domain.NodeReferenced{By: "client/c1"}, `node "sales" referred to by client/c1`},
		{"scope/0a1b", domain.ScopeReferenced{Scope: "read", By: "client/c1"}, `scope "read" referred to by client/c1`},
		{"scope/0a1b", domain.ScopeRetired{Scope: "read"}, `scope "read" retired: nothing may refer to it any more`},
		{client, domain.ClientCreated{ClientID: "3f9c", ClientSettings: settings("backend", "read", "write"), SecretHash: hash}, `client "backend" created (service, scopes read write)`},
		{client, domain.ClientSecretRotated{SecretHash: hash, PreviousExpiresAt: auditTime.Unix() + 3600}, "secret rotated (previous valid until 2026-03-01T13:00:00Z)"},
		{client, domain.ClientSecretRotated{SecretHash: hash}, "secret rotated (previous invalid at once)"},
		{client, domain.ClientSecretRehashed{SecretHash: hash}, "secret hash replaced by its HMAC (the secret is unchanged)"},
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

// Every event type reads as a sentence, not as its type name.
func TestAuditSummaryForEveryKnownType(t *testing.T) {
	for _, typ := range domain.EventTypes() {
		e := AuditEntryOf(rawEnvelope("realm/acme", typ, []byte(`{}`)))
		if e.Summary == typ || e.Summary == "" {
			t.Errorf("%s: summary %q, want a readable line", typ, e.Summary)
		}
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
		{"user/u1", "user.realm_roles_changed", `{"before":[],"after":["realm-admin","auditor"]}`, "realm roles changed from none to realm-admin auditor"},
		{"user/u1", "user.disabled", `{"tokens_revoked_before":1772366401}`, "user disabled; every token issued before 2026-03-01T12:00:01Z revoked"},
		{"user/u1", "user.locked", `{"until":1772366400}`, "sign-in locked until 2026-03-01T12:00:00Z after repeated failures"},
		{"user/u1", "user.consent_granted", `{"client_id":"c1","scopes":["openid","read"],"teams":[]}`, "consent granted to client c1 (scopes openid read)"},
		{"grant/g1", "code.issued", `{"code_hash":"` + h + `","client_id":"c1","user_id":"u1","redirect_uri":"https://app.example.test/cb","scope":"openid","code_challenge":"` + h + `","sid":"s1","exp":1772366400}`, "authorization code issued to client c1 for user u1 (scope openid, expires 2026-03-01T12:00:00Z)"},
		{"grant/g1", "grant.created", `{"grant_id":"g1","client_id":"c1","user_id":"u1","scope":"openid","refresh_hash":"` + h + `","refresh_exp":1772366400}`, "grant created: client c1 for user u1 (scope openid)"},
		{"grant/g1", "grant.refreshed", `{"refresh_hash":"` + h + `","refresh_exp":1772366400,"scope":"openid"}`, "refresh token rotated (scope openid, expires 2026-03-01T12:00:00Z)"},
		{"grant/g1", "grant.revoked", `{"reason":"refresh token reused","jtis":["j1","j2"]}`, "grant revoked with its refresh token and 2 access tokens (refresh token reused)"},
		{"session/s1", "session.created", `{"session_id":"s1","user_id":"u1","cookie_hash":"` + h + `","device":"desktop","browser":"Firefox","ip":"192.0.2.1","expires_at":1772366400}`, "browser session started for user u1 (Firefox on desktop)"},
		{"session/s1", "session.ended", `{"reason":"logout"}`, "browser session ended (logout)"},
		{"audit/acme", "audit.checkpoint", `{"v":1,"realm":"acme","from_seq":10,"to_seq":99,"messages":88,"gaps":[[40,41]],"prev":"` + h + `","prev_seq":9,"head":"` + h + `","fp":"` + h + `","exp":"` + h + `","at":1772366400,"jws":"` + h + `"}`,
			"tamper-evidence checkpoint over messages 10 to 99 (88 chained, 1 gap(s)), signed"},
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

// ---- reading the audit log from a real stream ----

// auditFixture is a realm stream holding messages of every shape: single
// events a minute apart, group-committed token events (several in one
// message), revocation rules, and the same history read forwards with
// eventstore.ReadRealm to compare against.
type auditFixture struct {
	srv    *estest.Server
	t0     time.Time
	events []eventstore.Envelope // newest first
}

func newAuditFixture(t *testing.T) *auditFixture {
	t.Helper()
	srv := estest.Start(t, t.TempDir())
	ctx := context.Background()
	st := srv.Store
	if err := st.EnsureRealmStream(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	client := domain.ClientRef("3f9c0000-0000-4000-8000-000000000001")
	for i := range 1200 {
		at := t0.Add(time.Duration(i) * time.Minute)
		meta := eventstore.Meta{Actor: fmt.Sprintf("client:a%d", i%3), ClientID: fmt.Sprintf("a%d", i%3), Time: at}
		var err error
		switch {
		case i%100 == 50:
			var wg sync.WaitGroup
			for j := range 20 {
				wg.Go(func() {
					if _, err := st.AppendToken(ctx, "acme", client, meta, domain.TokenIssued{JTI: fmt.Sprint(i, "-", j), Hash: plantedHash(), ExpiresAt: at.Unix()}, eventstore.Requirement{}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		case i%250 == 7:
			_, err = st.AppendRevocation(ctx, "acme", client, eventstore.AnyVersion, meta,
				domain.ClientTokensRevoked{IssuedBefore: at.Unix()}, unsignedRule(domain.RevocationRule{ClientID: client.ID, IssuedBefore: at.Unix()}))
		default:
			_, err = st.Append(ctx, "acme", domain.RealmRef("acme"), eventstore.AnyVersion, meta, domain.ScopeDefined{Name: fmt.Sprint("s", i)})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	f := &auditFixture{srv: srv, t0: t0}
	last, err := st.LastSeq(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for after := uint64(0); after < last; {
		envs, err := st.ReadRealm(ctx, "acme", after, eventstore.MaxPage)
		if err != nil {
			t.Fatal(err)
		}
		if len(envs) == 0 {
			break
		}
		f.events = append(f.events, envs...)
		after = envs[len(envs)-1].Seq
	}
	slices.Reverse(f.events)
	return f
}

func (f *auditFixture) consumers(t *testing.T) int {
	t.Helper()
	s, err := f.srv.Store.JetStream().Stream(context.Background(), eventstore.StreamName("acme"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Consumers
}

// pages reads the selection a page at a time as the admin API does, and
// returns the ids of the entries and the number of pages.
func (f *auditFixture) pages(t *testing.T, filter *AuditFilter, limit int, budget uint64) ([]string, int) {
	t.Helper()
	ctx := context.Background()
	var got []string
	from, err := AuditTop(ctx, f.srv.Store, "acme", filter)
	if err != nil {
		t.Fatal(err)
	}
	for pages := 1; ; pages++ {
		n := 0
		var last AuditPos
		end, more, err := ScanAudit(ctx, f.srv.Store, "acme", filter, from, budget, func(e AuditEntry, at AuditPos) bool {
			if n == limit {
				return false
			}
			n++
			got = append(got, e.ID)
			last = at
			return true
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			return got, pages
		}
		if n < limit {
			last = end
		}
		next, ok := ParseAuditCursor(last.Cursor())
		if !ok || next != last {
			t.Fatalf("cursor %v does not round-trip: %v", last, next)
		}
		from = next
		if pages > 100000 {
			t.Fatal("pagination does not end")
		}
	}
}

func TestScanAuditMatchesTheStream(t *testing.T) {
	t.Parallel()
	f := newAuditFixture(t)
	consumers := f.consumers(t) // eventstore.ReadRealm leaves its own behind
	shared := 0
	for i := 1; i < len(f.events); i++ {
		if f.events[i].Seq == f.events[i-1].Seq {
			shared++
		}
	}
	if shared == 0 {
		t.Fatal("no message holds several token events; the fixture does not test positions within a message")
	}
	at := func(min int) time.Time { return f.t0.Add(time.Duration(min) * time.Minute) }
	filters := map[string]*AuditFilter{
		"all":            {},
		"actor":          {Actor: "client:a1"},
		"client_id":      {ClientID: "a2"},
		"type prefix":    {Type: "token.", TypePrefix: true},
		"exact type":     {Type: domain.TypeClientTokensRevoked},
		"target":         {Target: "realm/acme"},
		"target prefix":  {Target: "client/", TargetPrefix: true},
		"since":          {Since: at(1100)},
		"until":          {Until: at(120)},
		"range":          {Since: at(600), Until: at(700)},
		"until and type": {Until: at(900), Type: domain.TypeTokenIssued},
		"nothing":        {Type: "nothing.such"},
	}
	type run struct {
		limit  int
		budget uint64
	}
	// Every filter in one big page; then small pages where they cross
	// messages that hold several events, and a scan budget smaller than the
	// history, where pages come back short.
	runs := map[string][]run{
		"all":         {{37, 0}},
		"type prefix": {{7, 0}},
		"exact type":  {{1, 0}, {1, 60}},
		"range":       {{4, 0}},
		"until":       {{5, 0}},
		"nothing":     {{5, 100}},
	}
	for name, filter := range filters {
		var want []string
		for i := range f.events {
			if filter.Match(&f.events[i]) {
				want = append(want, f.events[i].ID)
			}
		}
		for _, tc := range append([]run{{1000, 0}}, runs[name]...) {
			got, pages := f.pages(t, filter, tc.limit, tc.budget)
			if !slices.Equal(got, want) {
				t.Errorf("%s, limit %d, budget %d: %d entries over %d pages, want %d", name, tc.limit, tc.budget, len(got), pages, len(want))
			}
			if tc.budget > 0 && pages < 5 {
				t.Errorf("%s, budget %d: only %d pages; the budget did not bind", name, tc.budget, pages)
			}
		}
	}
	if n := f.consumers(t); n != consumers {
		t.Errorf("%d consumers left on the stream after the scans, want the %d there before", n, consumers)
	}
}

func TestScanAuditTimeRangesReadLittle(t *testing.T) {
	t.Parallel()
	f := newAuditFixture(t)
	ctx := context.Background()
	last, _ := f.srv.Store.LastSeq(ctx, "acme")
	// until: the scan starts near the range, not at the end of the stream.
	until := &AuditFilter{Until: f.t0.Add(100 * time.Minute)}
	top, err := AuditTop(ctx, f.srv.Store, "acme", until)
	if err != nil {
		t.Fatal(err)
	}
	if top.Seq > last/2 {
		t.Errorf("AuditTop for an early until = %v of %d messages: the scan would read most of the stream", top, last)
	}
	// since: the scan stops soon after the range.
	windows := 0
	_, more, err := ScanAudit(ctx, f.srv.Store, "acme", &AuditFilter{Since: f.t0.Add(1190 * time.Minute)}, AuditPos{Seq: last + 1}, 0,
		func(AuditEntry, AuditPos) bool { return true }, func() error { windows++; return nil })
	if err != nil || more {
		t.Fatalf("since scan: more %v err %v", more, err)
	}
	if windows > 3 {
		t.Errorf("a scan for the last minutes read %d windows", windows)
	}
}

func TestReadAuditWindowAndTail(t *testing.T) {
	t.Parallel()
	f := newAuditFixture(t)
	ctx := context.Background()
	st := f.srv.Store
	last, _ := st.LastSeq(ctx, "acme")
	consumers := f.consumers(t)

	// A window holds exactly its messages' events, in order, rules skipped.
	envs, err := ReadAuditWindow(ctx, st, "acme", 100, 400)
	if err != nil {
		t.Fatal(err)
	}
	var want []eventstore.Envelope
	for _, e := range slices.Backward(f.events) {
		if e.Seq >= 100 && e.Seq <= 400 {
			want = append(want, e)
		}
	}
	if len(envs) != len(want) {
		t.Fatalf("window 100..400: %d events, want %d", len(envs), len(want))
	}
	for i := range envs {
		if envs[i].ID != want[i].ID || envs[i].Seq != want[i].Seq {
			t.Fatalf("window event %d = %s@%d, want %s@%d", i, envs[i].ID, envs[i].Seq, want[i].ID, want[i].Seq)
		}
	}

	// The tail sees new messages; one published by someone else (no valid
	// MAC) as a foreign message, nothing of its body shown.
	got := make(chan []eventstore.Envelope, 16)
	tail, err := TailAudit(ctx, st, "acme", last+1, func(_ uint64, envs []eventstore.Envelope) { got <- envs })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, "acme", domain.RealmRef("acme"), eventstore.AnyVersion, eventstore.Meta{Actor: "system", Time: time.Now()}, domain.ScopeRemoved{Name: "s1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.JetStream().Publish(ctx, "lk.acme.client.3f9c0000-0000-4000-8000-000000000001.created", []byte("not json "+plantedSecret)); err != nil {
		t.Fatal(err)
	}
	for i, wantType := range []string{domain.TypeRealmScopeRemoved, TypeForeign} {
		select {
		case envs := <-got:
			if len(envs) != 1 || envs[0].Type != wantType {
				t.Fatalf("tail message %d = %+v, want one %s", i, envs, wantType)
			}
			if wantType == TypeForeign {
				e := AuditEntryOf(envs[0])
				requireClean(t, e)
				if e.Target != "client/3f9c0000-0000-4000-8000-000000000001" || e.Actor != "" || !strings.Contains(e.Summary, "without a valid MAC") {
					t.Errorf("foreign entry = %+v", e)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("tail message %d not delivered", i)
		}
	}
	tail.Stop()

	// The newest entry of a scan is the foreign message, not an error.
	newest := func(st *eventstore.Store) AuditEntry {
		var first AuditEntry
		if _, _, err := ScanAudit(ctx, st, "acme", &AuditFilter{}, AuditPos{Seq: last + 3}, 0, func(e AuditEntry, _ AuditPos) bool {
			first = e
			return false
		}, nil); err != nil {
			t.Fatal(err)
		}
		return first
	}
	if first := newest(st); first.Type != TypeForeign || first.Seq != last+2 {
		t.Errorf("newest entry = %+v", first)
	}
	// A reader without the MAC key cannot tell: to it, the message is
	// undecodable, and shown as such.
	keyless, err := eventstore.New(f.srv.NC, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer keyless.Close()
	if first := newest(keyless); first.Type != TypeUndecodable || first.Seq != last+2 || !strings.Contains(first.Summary, "could not be decoded") {
		t.Errorf("newest entry without the MAC key = %+v", first)
	}
	requireClean(t, newest(keyless))
	if n := f.consumers(t); n != consumers {
		t.Errorf("%d consumers left on the stream, want the %d there before", n, consumers)
	}
	if _, err := ReadAuditWindow(ctx, st, "nope", 1, 10); !errors.Is(err, eventstore.ErrNoRealm) {
		t.Errorf("window of a realm without a stream: %v", err)
	}
}

// unsignedRule is a revocation rule as published, without the signature
// the realm adds: the store checks none (resource servers do).
func unsignedRule(r domain.RevocationRule) domain.SignedRule {
	body, _ := json.Marshal(r)
	return domain.SignedRule{Rule: r, Body: body}
}
