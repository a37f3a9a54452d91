package projections

import (
	"testing"

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
