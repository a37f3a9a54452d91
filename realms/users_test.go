package realms_test

import (
	"context"
	"testing"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// TestRefusedUserLeavesNoPasswordHash: a creation refused for a taken
// username stores nothing, not even the new password's hash.
func TestRefusedUserLeavesNoPasswordHash(t *testing.T) {
	srv, _, rl := acmeRealm(t, realms.AuditConfig{CheckpointEvery: -1})
	ctx := context.Background()
	if _, err := rl.Users().Create(ctx, realms.NewUser{UserProfile: domain.UserProfile{Username: "alice"}, Password: "first long password"}, sysMeta()); err != nil {
		t.Fatal(err)
	}
	if _, err := rl.Users().Create(ctx, realms.NewUser{UserProfile: domain.UserProfile{Username: "ALICE"}, Password: "second long password"}, sysMeta()); err == nil {
		t.Fatal("a second ALICE was created")
	}
	kv, err := srv.Store.JetStream().KeyValue(ctx, "LK_PASSWORDS")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for range keys.Keys() {
		n++
	}
	if n != 1 {
		t.Errorf("%d password hashes stored, want alice's only", n)
	}
}
