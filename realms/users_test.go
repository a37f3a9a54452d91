package realms_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
	"github.com/latchkeyhq/latchkey/realms"
)

// TestSignInLockSurvivesARestart: ten failed sign-ins lock the username
// for 15 minutes; a restarted server (or another replica) honours the lock
// from the user's history, even for the right password.
func TestSignInLockSurvivesARestart(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	ctx := context.Background()
	off := realms.AuditConfig{CheckpointEvery: -1}
	first := auditRegistry(t, srv, off)
	rl, err := first.Create(ctx, "acme", sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	const password = "correct horse battery"
	if _, err := rl.Users().Create(ctx, realms.NewUser{UserProfile: domain.UserProfile{Username: "bob"}, Password: password}, sysMeta()); err != nil {
		t.Fatal(err)
	}
	var locked realms.LoginResult
	for range 10 {
		locked = rl.Users().SignIn(ctx, "bob", "wrong password", sysMeta())
	}
	if locked.LockedUntil.IsZero() {
		t.Fatal("ten failed sign-ins did not lock the username")
	}
	first.Close()

	second := auditRegistry(t, srv, off)
	defer second.Close()
	rl, err = second.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	res := rl.Users().SignIn(ctx, "bob", password, sysMeta())
	if res.User != nil || !res.LockedUntil.Equal(locked.LockedUntil) {
		t.Fatalf("after a restart, the right password while locked: user %v, locked until %v; want no user, locked until %v",
			res.User, res.LockedUntil, locked.LockedUntil)
	}
	if until := locked.LockedUntil; time.Until(until) < 14*time.Minute {
		t.Errorf("locked until %v, want about 15 minutes from now", until)
	}
}

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
