package projections_test

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
	"github.com/latchkeyhq/latchkey/projections"
)

func meta() eventstore.Meta { return eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()} }

func TestRunnerReadsItsOwnWritesAndRebuildsIdentically(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Store.EnsureRealmStream(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	realm, clients := projections.NewRealm(), projections.NewClients()
	r, err := projections.StartRunner(ctx, srv.Store, "acme", slog.Default(), projections.RunnerOptions{}, realm, clients)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()

	if _, err := srv.Store.Append(ctx, "acme", domain.RealmRef("acme"), 0, meta(),
		domain.RealmCreated{Name: "acme"}, domain.KeyAdded{Kid: "k1", Alg: domain.AlgES256}); err != nil {
		t.Fatal(err)
	}
	seq, err := srv.Store.Append(ctx, "acme", domain.ClientRef("c1"), 0, meta(),
		domain.ClientCreated{ClientID: "c1", ClientSettings: domain.ClientSettings{Name: "backend", AccessTokenLifetime: 7200}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitFor(ctx, seq); err != nil {
		t.Fatal(err)
	}
	c, ok := clients.Get("c1")
	if !ok || c.Name != "backend" || c.Version != seq {
		t.Fatalf("client after WaitFor(%d) = %+v, %v", seq, c, ok)
	}
	if !realm.Exists() {
		t.Fatal("realm not applied")
	}
	if k, ok := realm.State().ActiveKey(domain.AlgES256); !ok || k.Kid != "k1" {
		t.Fatalf("active key = %+v, %v", k, ok)
	}

	// A second runner from scratch folds the same history into the same models.
	realm2, clients2 := projections.NewRealm(), projections.NewClients()
	r2, err := projections.StartRunner(ctx, srv.Store, "acme", slog.Default(), projections.RunnerOptions{}, realm2, clients2)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Stop()
	if err := r2.CaughtUp(ctx, srv.Store); err != nil {
		t.Fatal(err)
	}
	c2, _ := clients2.Get("c1")
	if !reflect.DeepEqual(c, c2) || !reflect.DeepEqual(realm.State(), realm2.State()) {
		t.Fatalf("rebuild differs:\n%+v\n%+v", c, c2)
	}
}

func TestWaitForGivesUpWithItsContext(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	ctx := context.Background()
	if err := srv.Store.EnsureRealmStream(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	r, err := projections.StartRunner(ctx, srv.Store, "acme", slog.Default(), projections.RunnerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := r.WaitFor(short, 99); err == nil {
		t.Fatal("WaitFor returned for a sequence that was never written")
	}
}
