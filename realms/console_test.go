package realms

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
)

// replicaOn is a registry on srv's store, as another replica would run,
// publishing under publicURL.
func replicaOn(t *testing.T, srv *estest.Server, publicURL string) *Registry {
	t.Helper()
	ctx := context.Background()
	keys, err := OpenKeyStore(ctx, srv.Store, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	passwords, err := OpenPasswordStore(ctx, srv.Store, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(srv.Store, keys, passwords, publicURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := reg.SetAudit(AuditConfig{CheckpointEvery: -1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	if err := reg.LoadAll(ctx); err != nil {
		t.Fatal(err)
	}
	return reg
}

// consoleEvents counts the console client's own events in realm's stream.
func consoleEvents(t *testing.T, store *eventstore.Store, realm string) []string {
	t.Helper()
	envs, err := store.ReadRealm(context.Background(), realm, 0, eventstore.MaxPage)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, env := range envs {
		if env.Aggregate == domain.ClientRef(domain.ConsoleClientID).String() {
			out = append(out, env.Type)
		}
	}
	return out
}

func TestRealmIsCreatedWithItsConsole(t *testing.T) {
	rl := testRealm(t)
	c, err := rl.Clients().Get(domain.ConsoleClientID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.RedirectURIs, []string{"https://id.example.test/console/acme/callback"}) || !c.Allows(domain.GrantRefreshToken) {
		t.Fatalf("console client: %+v", c)
	}
	if got := consoleEvents(t, rl.reg.store, "acme"); !slices.Equal(got, []string{domain.TypeClientCreated}) {
		t.Fatalf("console client events %v", got)
	}
	// Ensuring it again changes nothing.
	if err := rl.reg.EnsureConsoles(context.Background(), testMeta()); err != nil {
		t.Fatal(err)
	}
	if got := consoleEvents(t, rl.reg.store, "acme"); len(got) != 1 {
		t.Fatalf("after EnsureConsoles: %v", got)
	}
}

func TestReplicasEnsureOneConsoleClient(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	ctx := context.Background()
	// A realm created where the console could not be (plain http to
	// another host): no console client.
	old := replicaOn(t, srv, "http://id.example.test")
	if _, err := old.Create(ctx, "acme", testMeta()); err != nil {
		t.Fatal(err)
	}
	if got := consoleEvents(t, srv.Store, "acme"); len(got) != 0 {
		t.Fatalf("a realm under a plain-http public URL got a console: %v", got)
	}
	replicas := []*Registry{replicaOn(t, srv, "https://id.example.test"), replicaOn(t, srv, "https://id.example.test"), replicaOn(t, srv, "https://id.example.test")}
	var wg sync.WaitGroup
	errs := make([]error, len(replicas))
	for i, r := range replicas {
		wg.Go(func() { errs[i] = r.EnsureConsoles(ctx, testMeta()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	if got := consoleEvents(t, srv.Store, "acme"); !slices.Equal(got, []string{domain.TypeClientCreated}) {
		t.Fatalf("replicas racing wrote %v, want one client.created", got)
	}
	// A new public URL moves the callback, once.
	moved := []*Registry{replicaOn(t, srv, "https://login.example.test"), replicaOn(t, srv, "https://login.example.test")}
	for i, r := range moved {
		wg.Go(func() { errs[i] = r.EnsureConsoles(ctx, testMeta()) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs[:2])
	}
	if got := consoleEvents(t, srv.Store, "acme"); !slices.Equal(got, []string{domain.TypeClientCreated, domain.TypeClientUpdated}) {
		t.Fatalf("after the public URL moved: %v", got)
	}
	rl, _ := moved[0].Get(ctx, "acme")
	if c, _ := rl.Clients().Get(domain.ConsoleClientID); !slices.Equal(c.RedirectURIs, []string{"https://login.example.test/console/acme/callback"}) {
		t.Fatalf("callback %v", c.RedirectURIs)
	}
}
