package realms_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
	"github.com/latchkeyhq/latchkey/realms"
)

// secretHashes lists, in stream order, the secret hashes the events of a
// client store: created, rotated, rehashed.
func secretHashes(t *testing.T, st *eventstore.Store, id string) (types, hashes []string) {
	t.Helper()
	envs, err := st.ReadAggregate(context.Background(), "acme", domain.ClientRef(id))
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range envs {
		p, err := env.Payload()
		if err != nil {
			t.Fatal(err)
		}
		switch e := p.(type) {
		case domain.ClientCreated:
			types, hashes = append(types, env.Type), append(hashes, e.SecretHash)
		case domain.ClientSecretRotated:
			types, hashes = append(types, env.Type), append(hashes, e.SecretHash)
		case domain.ClientSecretRehashed:
			types, hashes = append(types, env.Type), append(hashes, e.SecretHash+e.PreviousSecretHash)
		}
	}
	return types, hashes
}

func basic(id, secret string) realms.ClientAuth {
	return realms.ClientAuth{Method: domain.AuthSecretBasic, ClientID: id, Secret: secret}
}

// A client secret is stored as an HMAC under a key derived from the master
// key: neither the secret nor its plain SHA-256 is in the stream, so a copy
// of it allows no offline guessing.
func TestClientSecretsAreStoredAsHMACs(t *testing.T) {
	srv, _, rl := acmeRealm(t, realms.AuditConfig{CheckpointEvery: -1})
	ctx := context.Background()
	c, err := rl.Clients().Create(ctx, "", domain.ClientSettings{Name: "svc", Scopes: []string{"read"}}, false, sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := rl.Clients().RotateSecret(ctx, c.Client.ID, realms.Condition{}, 60, sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	types, hashes := secretHashes(t, srv.Store, c.Client.ID)
	if len(hashes) != 2 {
		t.Fatalf("events %v", types)
	}
	for i, secret := range []string{c.Secret, rotated} {
		h := hashes[i]
		if !strings.HasPrefix(h, "hmac-sha256:") || strings.Contains(h, secret) || strings.Contains(h, domain.HashSecret(secret)) || domain.IsLegacySecretHash(h) {
			t.Errorf("%s stores %q", types[i], h)
		}
	}
	now := time.Now()
	for _, secret := range []string{c.Secret, rotated} {
		if _, err := rl.Clients().Authenticate(context.Background(), basic(c.Client.ID, secret), now); err != nil {
			t.Errorf("authenticating with a secret in its overlap: %v", err)
		}
	}
	if _, err := rl.Clients().Authenticate(context.Background(), basic(c.Client.ID, domain.HashSecret(rotated)), now); err == nil {
		t.Error("the secret's SHA-256 authenticates")
	}
}

// A secret stored as an unsalted SHA-256 (before HMACs) keeps working and
// is replaced by its HMAC on its next successful use, by one
// client.secret_rehashed event however many requests and replicas race;
// a failed authentication replaces nothing.
func TestLegacySecretHashIsReplacedOnUse(t *testing.T) {
	srv, _, rl := acmeRealm(t, realms.AuditConfig{CheckpointEvery: -1})
	replica := auditRegistry(t, srv, realms.AuditConfig{CheckpointEvery: -1})
	t.Cleanup(replica.Close)
	ctx := context.Background()
	const current, previous = "the current secret, from an older install", "the previous one, still in its overlap"
	id := uuid.NewString()
	settings := domain.ClientSettings{Name: "old", Kind: domain.KindService, GrantTypes: []string{domain.GrantClientCredentials}, Scopes: []string{"read"}}
	created, err := srv.Store.Append(ctx, "acme", domain.ClientRef(id), 0, sysMeta(),
		domain.ClientCreated{ClientID: id, ClientSettings: settings, SecretHash: domain.HashSecret(previous)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Store.Append(ctx, "acme", domain.ClientRef(id), created, sysMeta(),
		domain.ClientSecretRotated{SecretHash: domain.HashSecret(current), PreviousExpiresAt: time.Now().Add(time.Hour).Unix()}); err != nil {
		t.Fatal(err)
	}
	other, err := replica.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*realms.Realm{rl, other} {
		if err := r.WaitFor(ctx, created+1); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := rl.Clients().Authenticate(context.Background(), basic(id, "a wrong secret"), time.Now()); err == nil {
		t.Fatal("a wrong secret authenticates")
	}
	// Many requests on two replicas at once.
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			r := []*realms.Realm{rl, other}[i%2]
			if _, err := r.Clients().Authenticate(context.Background(), basic(id, current), time.Now()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	var types, hashes []string
	for time.Now().Before(deadline) {
		if types, hashes = secretHashes(t, srv.Store, id); len(types) >= 3 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a second rehash, were there one, has landed
	types, hashes = secretHashes(t, srv.Store, id)
	if len(types) != 3 || types[2] != domain.TypeClientSecretRehashed || !strings.HasPrefix(hashes[2], "hmac-sha256:") {
		t.Fatalf("events %v with hashes %v; want one client.secret_rehashed with an HMAC", types, hashes)
	}
	c, _ := rl.Clients().Get(id)
	if c.SecretHash != hashes[2] || c.PreviousSecretHash != domain.HashSecret(previous) {
		t.Fatalf("after the rehash: current %q, previous %q", c.SecretHash, c.PreviousSecretHash)
	}

	// The previous secret, used during its overlap, is replaced too; then
	// both verify in their new form and nothing more is written.
	if _, err := other.Clients().Authenticate(context.Background(), basic(id, previous), time.Now()); err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(deadline) {
		if types, _ = secretHashes(t, srv.Store, id); len(types) >= 4 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, secret := range []string{current, previous} {
		if _, err := rl.Clients().Authenticate(context.Background(), basic(id, secret), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	types, hashes = secretHashes(t, srv.Store, id)
	if len(types) != 4 || types[3] != domain.TypeClientSecretRehashed || !strings.HasPrefix(hashes[3], "hmac-sha256:") {
		t.Fatalf("events %v; want a second client.secret_rehashed, for the previous secret, and nothing after", types)
	}
	if c, _ := rl.Clients().Get(id); domain.IsLegacySecretHash(c.SecretHash) || domain.IsLegacySecretHash(c.PreviousSecretHash) {
		t.Fatalf("hashes left in the old form: %+v", c)
	}
}

// A bootstrap secret from the environment shorter than 32 characters is
// refused before anything is created.
func TestBootstrapRefusesAShortSecret(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	reg := auditRegistry(t, srv, realms.AuditConfig{CheckpointEvery: -1})
	t.Cleanup(reg.Close)
	ctx := context.Background()
	for _, tc := range []struct {
		secret string
		ok     bool
	}{{"", true}, {strings.Repeat("x", 31), false}, {strings.Repeat("é", 31), false}, {strings.Repeat("x", 32), true}} {
		if err := realms.CheckBootstrapSecret(tc.secret); (err == nil) != tc.ok {
			t.Errorf("CheckBootstrapSecret(%d characters) = %v", len([]rune(tc.secret)), err)
		}
	}
	_, err := realms.Bootstrap(ctx, reg, t.TempDir(), realms.BootstrapSecrets{ClientSecret: "admin-secret-too-short"}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("Bootstrap with a 22-character secret: %v", err)
	}
	if _, err := reg.Get(ctx, domain.MasterRealm); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("realm master after a refused bootstrap: %v", err)
	}
}
