package projections

import (
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// TestSnapshotRestoreKeepsUsersWhole: a user restored from a snapshot is
// the user that was saved, consents included (a remembered consent's
// preset decides whether it is reused: losing it asked every user for
// consent again after a restart).
func TestSnapshotRestoreKeepsUsersWhole(t *testing.T) {
	saved := NewModels()
	saved.Users.byID["u1"] = &domain.User{
		ID: "u1", UserProfile: domain.UserProfile{Username: "alice", DisplayName: "Alice"}, Status: domain.StatusEnabled,
		Memberships: []domain.Membership{{Node: "team-a", Role: "editor"}},
		Consents: map[string]domain.Consent{
			"c1": {Scopes: []string{"openid", "read"}, Teams: []string{"team-a"}, Preset: "full"},
			"c2": {Scopes: []string{}, Teams: []string{}, Preset: "read_only"}, // gob drops empty lists
		},
		LockedUntil: 1_800_000_000,
	}
	saved.Users.byUsername["alice"] = "u1"
	data, err := saved.Snapshot(42)
	if err != nil {
		t.Fatal(err)
	}
	restored := NewModels()
	if seq, err := restored.Restore(data); err != nil || seq != 42 {
		t.Fatalf("Restore = %d, %v", seq, err)
	}
	u, ok := restored.Users.Get("u1")
	if !ok {
		t.Fatal("user u1 not restored")
	}
	if c := u.Consents["c1"]; c.Preset != "full" || len(c.Scopes) != 2 || len(c.Teams) != 1 {
		t.Errorf("consent c1 after restore = %+v, want preset full with its scopes and teams", c)
	}
	if c := u.Consents["c2"]; c.Preset != "read_only" || c.Scopes == nil || c.Teams == nil {
		t.Errorf("consent c2 after restore = %+v, want preset read_only and empty (not nil) lists", c)
	}
	if u.LockedUntil != 1_800_000_000 {
		t.Errorf("LockedUntil after restore = %d", u.LockedUntil)
	}
	if a, b := saved.Users.Digest(), restored.Users.Digest(); a != b {
		t.Errorf("users digest changed across snapshot and restore: %s → %s", a, b)
	}
}

// An event that reaches a user after its deletion (a sign-in lock racing
// the delete) makes no user: a nameless one could not be deleted again.
func TestUsersIgnoreEventsOfDeletedUsers(t *testing.T) {
	m := NewUsers()
	at := func(seq uint64, p domain.Payload) Event {
		return Event{Envelope: eventstore.Envelope{Seq: seq, Type: p.EventType(), Aggregate: "user/u1"}, Payload: p}
	}
	m.Apply(at(1, domain.UserCreated{UserID: "u1", UserProfile: domain.UserProfile{Username: "victim"}, Memberships: []domain.Membership{}}))
	m.Apply(at(2, domain.UserDeleted{}))
	m.Apply(at(3, domain.UserLocked{Until: 1_800_000_000}))
	if u, ok := m.Get("u1"); ok {
		t.Errorf("user.locked after user.deleted brought back a user: %+v", u)
	}
	if n := len(m.List()); n != 0 {
		t.Errorf("%d users listed, want none", n)
	}
}

// Device authorizations, pushed requests and DPoP-bound tokens survive a
// snapshot: a device approved before a restart is found by its user code,
// redeemed after it, and a bound token still names its key.
func TestSnapshotRestoreKeepsDevicesPushedRequestsAndBindings(t *testing.T) {
	saved := NewModels()
	now := time.Unix(1_700_000_000, 0).UTC()
	seq := uint64(0)
	apply := func(agg domain.AggregateRef, clientID string, p domain.Payload) {
		seq++
		saved.Authz.Apply(Event{Envelope: eventstore.Envelope{Seq: seq, Aggregate: agg.String(), Time: now, ClientID: clientID}, Payload: p})
		saved.Tokens.Apply(Event{Envelope: eventstore.Envelope{Seq: seq, Aggregate: agg.String(), Time: now, ClientID: clientID}, Payload: p})
	}
	apply(domain.DeviceRef("d1"), "cli", domain.DeviceRequested{ClientID: "cli", UserCodeHash: "uc1", DeviceCodeHash: "dc1", Scope: "openid",
		ExpiresAt: now.Unix() + 600, Interval: 5})
	apply(domain.DeviceRef("d1"), "", domain.DeviceApproved{UserID: "u1", Scope: "openid", Teams: []string{}})
	apply(domain.DeviceRef("d2"), "cli", domain.DeviceRequested{ClientID: "cli", UserCodeHash: "uc2", ExpiresAt: now.Unix() + 600})
	apply(domain.PushedRef("p1"), "app", domain.RequestPushed{ClientID: "app", RequestURIHash: "h", Params: map[string][]string{"scope": {"openid"}},
		ExpiresAt: now.Unix() + 60})
	apply(domain.GrantRef("g1"), "cli", domain.TokenIssued{JTI: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Subject: "u1", GrantType: domain.GrantDeviceCode,
		JKT: "jkt-1", IssuedAt: now.Unix(), ExpiresAt: now.Unix() + 3600})
	data, err := saved.Snapshot(seq)
	if err != nil {
		t.Fatal(err)
	}
	restored := NewModels()
	if _, err := restored.Restore(data); err != nil {
		t.Fatal(err)
	}
	d, ok := restored.Authz.DeviceByUserCode("uc1")
	if !ok || d.ID != "d1" || d.Status != domain.DeviceApproval || d.Approval.Teams == nil {
		t.Fatalf("device by user code after restore: %+v %v", d, ok)
	}
	if d, ok := restored.Authz.DeviceByUserCode("uc2"); !ok || d.Status != domain.DevicePending || d.Approval.Teams != nil {
		t.Fatalf("pending device after restore: %+v %v", d, ok)
	}
	if p, ok := restored.Authz.Pushed("p1"); !ok || p.Params["scope"][0] != "openid" {
		t.Fatalf("pushed request after restore: %+v %v", p, ok)
	}
	info, ok := restored.Tokens.ByJTI("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", now.Unix())
	if !ok || info.JKT != "jkt-1" || info.GrantType != domain.GrantDeviceCode {
		t.Fatalf("bound token after restore: %+v %v", info, ok)
	}
	for name, pair := range map[string][2]Digest{
		"authz":  {saved.Authz.Digest(), restored.Authz.Digest()},
		"tokens": {saved.Tokens.Digest(), restored.Tokens.Digest()},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s digest changed across snapshot and restore", name)
		}
	}
	// Expired entries leave with the sweep, user-code index included.
	later := now.Add(time.Hour)
	saved.Authz.Apply(Event{Envelope: eventstore.Envelope{Seq: seq + 1, Aggregate: domain.SessionRef("s").String(), Time: later},
		Payload: domain.SessionTouched{At: later.Unix()}})
	if _, ok := saved.Authz.DeviceByUserCode("uc1"); ok {
		t.Error("an expired device is still found by its user code")
	}
	if _, ok := saved.Authz.Pushed("p1"); ok {
		t.Error("an expired pushed request is still there")
	}
}
