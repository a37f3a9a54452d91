package projections

import (
	"testing"

	"github.com/latchkeyhq/latchkey/domain"
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
