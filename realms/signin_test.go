package realms_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
	"github.com/latchkeyhq/latchkey/realms"
)

const bobPassword = "correct horse battery"

// limitedRegistry is a registry on srv with small limits, acme loaded or
// created, and user bob.
func limitedRegistry(t *testing.T, srv *estest.Server, l realms.Limits) (*realms.Registry, *realms.Realm) {
	t.Helper()
	ctx := context.Background()
	reg := auditRegistry(t, srv, realms.AuditConfig{CheckpointEvery: -1})
	t.Cleanup(reg.Close)
	if err := reg.SetLimits(ctx, l); err != nil {
		t.Fatal(err)
	}
	rl, err := reg.Get(ctx, "acme")
	if errors.Is(err, domain.ErrNotFound) {
		if rl, err = reg.Create(ctx, "acme", sysMeta()); err == nil {
			_, err = rl.Users().Create(ctx, realms.NewUser{UserProfile: domain.UserProfile{Username: "bob"}, Password: bobPassword}, sysMeta())
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return reg, rl
}

func smallLimits() realms.Limits {
	l := realms.DefaultLimits()
	l.SignInUser = domain.Limit{Max: 4, Window: 900}
	return l
}

func signIn(t *testing.T, rl *realms.Realm, user, password, source, device string) (realms.LoginResult, error) {
	t.Helper()
	return rl.Users().SignIn(context.Background(), realms.SignInRequest{Username: user, Password: password, Source: source, Device: device}, sysMeta())
}

func mustSignIn(t *testing.T, rl *realms.Realm, user, password, source, device string) realms.LoginResult {
	t.Helper()
	res, err := signIn(t, rl, user, password, source, device)
	if err != nil {
		t.Fatalf("sign-in of %s from %s: %v", user, source, err)
	}
	return res
}

// A username's failed sign-ins count across replicas (two registries on
// one store) and across a restart of the whole server: the lock holds on
// both, even for the right password.
func TestSignInLockIsSharedAndSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	srv := estest.Start(t, dir)
	_, one := limitedRegistry(t, srv, smallLimits())
	_, two := limitedRegistry(t, srv, smallLimits())
	// Two failures on each replica: four, the limit.
	for i := range 4 {
		rl := one
		if i%2 == 1 {
			rl = two
		}
		res := mustSignIn(t, rl, "bob", "wrong password", fmt.Sprint("192.0.2.", i), "")
		if (i < 3) != res.LockedUntil.IsZero() {
			t.Fatalf("failure %d: locked until %v", i+1, res.LockedUntil)
		}
	}
	for _, rl := range []*realms.Realm{one, two} {
		if res := mustSignIn(t, rl, "BOB", bobPassword, "198.51.100.1", ""); res.User != nil || res.LockedUntil.IsZero() {
			t.Fatalf("the right password on a replica while locked: %+v", res)
		}
	}
	// The lock is in the user's history too, for the audit log.
	if u, _ := two.Users().Get(userID(t, two, "bob")); u.LockedUntil == 0 {
		t.Errorf("no user.locked in bob's history")
	}

	srv.Stop()
	srv = estest.Start(t, dir)
	_, again := limitedRegistry(t, srv, smallLimits())
	res := mustSignIn(t, again, "bob", bobPassword, "198.51.100.1", "")
	if res.User != nil || time.Until(res.LockedUntil) < 14*time.Minute {
		t.Fatalf("after a restart, the right password while locked: %+v; want locked for about 15 minutes", res)
	}
}

// A locked username stays usable in the browser its user last signed in
// with (the device cookie), so locking someone out takes more than their
// username. Elsewhere it stays locked; the device cookie of another user
// or realm does not open it.
func TestDeviceCookieExemptsItsUserFromTheLock(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	_, rl := limitedRegistry(t, srv, smallLimits())
	ok := mustSignIn(t, rl, "bob", bobPassword, "198.51.100.1", "")
	if ok.User == nil || ok.Device == "" {
		t.Fatalf("a successful sign-in: %+v, want the user and a device cookie", ok)
	}
	// The attacker locks bob from elsewhere.
	for range 4 {
		mustSignIn(t, rl, "bob", "guess", "203.0.113.9", "")
	}
	if res := mustSignIn(t, rl, "bob", bobPassword, "203.0.113.9", ""); res.User != nil || res.LockedUntil.IsZero() {
		t.Fatalf("locked, without the device cookie: %+v", res)
	}
	// Bob, in his own browser, still signs in; a typo there is not a lock.
	if res := mustSignIn(t, rl, "bob", "typo", "198.51.100.1", ok.Device); res.User != nil || !res.LockedUntil.IsZero() {
		t.Fatalf("a typo in bob's browser: %+v, want a plain failure", res)
	}
	if res := mustSignIn(t, rl, "bob", bobPassword, "198.51.100.1", ok.Device); res.User == nil {
		t.Fatalf("bob in his own browser while locked: %+v", res)
	}
	// A device cookie of another user does not open bob's lock.
	if _, err := rl.Users().Create(context.Background(), realms.NewUser{UserProfile: domain.UserProfile{Username: "eve"}, Password: "eve's long password"}, sysMeta()); err != nil {
		t.Fatal(err)
	}
	eve := mustSignIn(t, rl, "eve", "eve's long password", "203.0.113.9", "")
	if res := mustSignIn(t, rl, "bob", bobPassword, "203.0.113.9", eve.Device); res.User != nil {
		t.Fatal("eve's device cookie opened bob's lock")
	}
	// Nor does bob's cookie altered, or taken to another realm.
	if res := mustSignIn(t, rl, "bob", bobPassword, "203.0.113.9", ok.Device[:len(ok.Device)-2]+"AA"); res.User != nil {
		t.Fatal("an altered device cookie opened bob's lock")
	}
}

// Spraying one password over many usernames from one address is stopped
// by the address's limit (429 with a wait), not only by each username's;
// other addresses are not affected. IPv6 addresses count by /64.
func TestSprayFromOneAddressIsLimited(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	l := smallLimits()
	l.SignInSource = domain.Limit{Max: 5, Window: 900}
	_, rl := limitedRegistry(t, srv, l)
	for i := range 5 {
		res := mustSignIn(t, rl, fmt.Sprint("user", i), "Summer2024!", "2001:db8:1:2::1", "")
		if res.User != nil || !res.LockedUntil.IsZero() {
			t.Fatalf("spray %d: %+v", i, res)
		}
	}
	_, err := signIn(t, rl, "user9", "Summer2024!", "2001:db8:1:2:ffff::7", "") // same /64
	var lerr *domain.LimitError
	if !errors.As(err, &lerr) || lerr.Busy || lerr.RetryAfter < 800 {
		t.Fatalf("the 6th guess from the /64: %v, want a 429 LimitError with about 15 minutes to wait", err)
	}
	// The right password from there is refused too: the address is over
	// its limit, whoever it is.
	if _, err := signIn(t, rl, "bob", bobPassword, "2001:db8:1:2::1", ""); !errors.As(err, &lerr) {
		t.Fatalf("bob from the blocked /64: %v", err)
	}
	if res := mustSignIn(t, rl, "bob", bobPassword, "2001:db8:1:3::1", ""); res.User == nil {
		t.Fatalf("bob from another /64: %+v", res)
	}
}

// The realm's own limit holds against a spray from many addresses; the
// browser its user signed in with before is exempt.
func TestRealmWideLimit(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	l := smallLimits()
	l.SignInRealm = domain.Limit{Max: 3, Window: 60}
	_, rl := limitedRegistry(t, srv, l)
	bob := mustSignIn(t, rl, "bob", bobPassword, "198.51.100.1", "")
	for i := range 3 {
		mustSignIn(t, rl, fmt.Sprint("user", i), "guess", fmt.Sprint("203.0.113.", i), "")
	}
	var lerr *domain.LimitError
	if _, err := signIn(t, rl, "bob", bobPassword, "198.51.100.2", ""); !errors.As(err, &lerr) || lerr.RetryAfter > 60 {
		t.Fatalf("a sign-in with the realm over its limit: %v, want a 429 LimitError", err)
	}
	if res := mustSignIn(t, rl, "bob", bobPassword, "198.51.100.2", bob.Device); res.User == nil {
		t.Fatalf("bob's own browser with the realm over its limit: %+v", res)
	}
}

// An administrator's unlock lifts the lock at once, everywhere, and is a
// user.unlocked event.
func TestUnlock(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	_, one := limitedRegistry(t, srv, smallLimits())
	_, two := limitedRegistry(t, srv, smallLimits())
	for range 4 {
		mustSignIn(t, one, "bob", "guess", "203.0.113.9", "")
	}
	id := userID(t, one, "bob")
	u, err := one.Users().Unlock(context.Background(), id, sysMeta())
	if err != nil || u.LockedUntil != 0 {
		t.Fatalf("unlock: %+v, %v", u, err)
	}
	if res := mustSignIn(t, two, "bob", bobPassword, "203.0.113.9", ""); res.User == nil {
		t.Fatalf("after the unlock, on the other replica: %+v", res)
	}
	if _, err := one.Users().Unlock(context.Background(), "no-such-user", sysMeta()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unlocking nobody: %v", err)
	}
}

// Password checks beyond the configured argon2id slots wait a moment for
// one, then are refused (busy, retry in a second) instead of queueing; a
// slot freed in that moment serves them. Setting a password needs a slot
// too.
func TestPasswordChecksAreBounded(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	l := smallLimits()
	l.Hashes = 2
	reg, rl := limitedRegistry(t, srv, l)
	release := reg.TakeHashSlots()
	start := time.Now()
	_, err := signIn(t, rl, "bob", bobPassword, "203.0.113.9", "")
	var lerr *domain.LimitError
	if !errors.As(err, &lerr) || !lerr.Busy || lerr.RetryAfter != 1 {
		t.Fatalf("a sign-in with every slot taken: %v, want a busy LimitError", err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("the refusal took %v: queued rather than refused", waited)
	}
	if err := rl.Users().SetPassword(context.Background(), userID(t, rl, "bob"), "another long password", sysMeta()); !errors.As(err, &lerr) || !lerr.Busy {
		t.Fatalf("setting a password with every slot taken: %v, want a busy LimitError", err)
	}
	go func() { time.Sleep(50 * time.Millisecond); release() }()
	if res := mustSignIn(t, rl, "bob", bobPassword, "203.0.113.9", ""); res.User == nil {
		t.Fatalf("a sign-in as a slot frees up: %+v", res)
	}
}

// Failed client authentications are counted per client id and address;
// past the limit they are 429, while the right secret still works.
func TestClientAuthFailuresAreLimited(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	l := smallLimits()
	l.ClientAuth = domain.Limit{Max: 3, Window: 300}
	_, rl := limitedRegistry(t, srv, l)
	ctx := context.Background()
	now := time.Now()
	for i := range 2 {
		if err := rl.Clients().CountAuthFailure(ctx, "svc", "203.0.113.9", now); err != nil {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	err := rl.Clients().CountAuthFailure(ctx, "svc", "203.0.113.9", now)
	var lerr *domain.LimitError
	if !errors.As(err, &lerr) || lerr.Code != domain.ErrInvalidClient || lerr.RetryAfter != 300 {
		t.Fatalf("the third failure: %v, want a 429 invalid_client LimitError, 300 s", err)
	}
	if err := rl.Clients().CountAuthFailure(ctx, "other", "198.51.100.1", now); err != nil {
		t.Fatalf("another client from another address: %v", err)
	}
}

func userID(t *testing.T, rl *realms.Realm, username string) string {
	t.Helper()
	p := rl.Users().Page(username, "", 1)
	if len(p.Users) != 1 {
		t.Fatalf("no user %s", username)
	}
	return p.Users[0].ID
}
