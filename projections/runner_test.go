package projections_test

import (
	"context"
	"fmt"
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

// A foreign message (no valid MAC) between real events is folded by no
// reader, neither the runner nor a rebuild; a history scan and the audit
// log (windows and tail) show where it is, as foreign, never what it
// holds; every reader moves past it.
func TestForeignMessagesAreNotFolded(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Store.EnsureRealmStream(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	models := projections.NewModels()
	r, err := projections.StartRunner(ctx, srv.Store, "acme", slog.Default(), projections.RunnerOptions{}, models.Folds()...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if _, err := srv.Store.Append(ctx, "acme", domain.RealmRef("acme"), 0, meta(), domain.RealmCreated{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	forged := []byte(`{"id":"f","type":"client.created","realm":"acme","aggregate":"client/evil","time":"2030-01-01T00:00:00Z","actor":"system","data":{"client_id":"evil","name":"evil","secret_hash":"00"}}`)
	ack, err := srv.Store.JetStream().Publish(ctx, "lk.acme.client.evil.created", forged)
	if err != nil {
		t.Fatal(err)
	}
	last, err := srv.Store.Append(ctx, "acme", domain.ClientRef("c1"), 0, meta(), domain.ClientCreated{ClientID: "c1", ClientSettings: domain.ClientSettings{Name: "real"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}
	if _, ok := models.Clients.Get("evil"); ok {
		t.Fatal("the runner folded the forged client")
	}
	if _, ok := models.Clients.Get("c1"); !ok {
		t.Fatal("the runner did not fold the real client after the forged one")
	}
	rebuilt, res, err := projections.Rebuild(ctx, srv.Store, "acme", projections.RebuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rebuilt[0].Clients.Get("evil"); ok || res.Events != 2 || res.LastSeq != last {
		t.Fatalf("rebuild: forged client folded %v, %d events up to %d", ok, res.Events, res.LastSeq)
	}
	var seen []string
	if _, err := projections.ScanHistory(ctx, srv.Store, "acme", projections.HistoryScan{JSON: true}, func(ev *projections.StoredEvent) error {
		switch {
		case ev.Foreign && (ev.JSON != nil || ev.Raw != nil || ev.Undecodable):
			t.Errorf("history scan passed on what the foreign message holds: %+v", ev)
		case ev.Foreign:
			seen = append(seen, fmt.Sprint(ev.Seq, " foreign on ", ev.Subject))
		default:
			seen = append(seen, fmt.Sprint(ev.Seq))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"1", fmt.Sprint(ack.Sequence, " foreign on lk.acme.client.evil.created"), fmt.Sprint(last)}; !reflect.DeepEqual(seen, want) {
		t.Fatalf("history scan passed on %q, want %q", seen, want)
	}
	// A filter on what events say selects no foreign message.
	if _, err := projections.ScanHistory(ctx, srv.Store, "acme", projections.HistoryScan{Filter: projections.AuditFilter{Type: domain.TypeClientCreated}}, func(ev *projections.StoredEvent) error {
		if ev.Foreign {
			t.Errorf("a type filter selected the foreign message")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	window, err := projections.ReadAuditWindow(ctx, srv.Store, "acme", 1, last)
	if err != nil {
		t.Fatal(err)
	}
	if len(window) != 3 || window[1].Seq != ack.Sequence || window[1].Type != projections.TypeForeign || window[1].Actor != "" {
		t.Fatalf("audit window: %+v", window)
	}
	tailed := make(chan []eventstore.Envelope, 4)
	tail, err := projections.TailAudit(ctx, srv.Store, "acme", ack.Sequence, func(_ uint64, envs []eventstore.Envelope) { tailed <- envs })
	if err != nil {
		t.Fatal(err)
	}
	defer tail.Stop()
	if envs := <-tailed; len(envs) != 1 || envs[0].Type != projections.TypeForeign || envs[0].Aggregate != "client/evil" {
		t.Fatalf("the audit tail passed on the forged message as %+v", envs)
	}
	if fs := srv.Foreign(); len(fs) != 1 || fs[0].Seq != ack.Sequence || fs[0].Subject != "lk.acme.client.evil.created" {
		t.Fatalf("foreign messages reported: %+v", fs)
	}
}
