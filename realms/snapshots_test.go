package realms_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
	"github.com/latchkeyhq/latchkey/projections"
	"github.com/latchkeyhq/latchkey/realms"
)

// openRegistry opens a registry on a running server, with snapshots.
func openRegistry(t *testing.T, srv *estest.Server) *realms.Registry {
	t.Helper()
	ctx := context.Background()
	keys, err := realms.OpenKeyStore(ctx, srv.Store, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	passwords, err := realms.OpenPasswordStore(ctx, srv.Store, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := realms.OpenSnapshotStore(ctx, srv.Store)
	if err != nil {
		t.Fatal(err)
	}
	reg := realms.NewRegistry(srv.Store, keys, passwords, "https://id.example.test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	reg.UseSnapshots(snaps)
	if err := reg.LoadAll(ctx); err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestRestartFromSnapshotMatchesReplay: a registry restarted from the
// snapshot saved at shutdown holds the same read models as one that
// replays the whole history, and keeps applying new events after it.
func TestRestartFromSnapshotMatchesReplay(t *testing.T) {
	dir := t.TempDir()
	srv := estest.Start(t, dir)
	ctx := context.Background()
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	reg := openRegistry(t, srv)
	rl, err := reg.Create(ctx, "acme", meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rl.Structure().CreateNode(ctx, domain.CreateNode{Slug: "org", Kind: domain.NodeOrganization}, meta); err != nil {
		t.Fatal(err)
	}
	var clients []string
	for i := range 3 {
		c, err := rl.Clients().Create(ctx, "", domain.ClientSettings{Name: fmt.Sprint("c", i), Scopes: []string{"read"}}, false, meta)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c.Client.ID)
		tokenMeta := eventstore.Meta{Actor: eventstore.ClientActor(c.Client.ID), ClientID: c.Client.ID, Time: time.Now()}
		for range 20 {
			if _, err := rl.IssueAccessToken(ctx, domain.ClientRef(c.Client.ID), domain.GrantClientCredentials,
				realms.TokenRequest{ClientID: c.Client.ID, Subject: c.Client.ID, Scope: "read", Lifetime: 3600}, tokenMeta); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := rl.Users().Create(ctx, realms.NewUser{UserProfile: domain.UserProfile{Username: "alice"}, Password: "long enough password"}, meta); err != nil {
		t.Fatal(err)
	}
	if err := rl.Clients().RevokeTokens(ctx, clients[1], "test", meta); err != nil {
		t.Fatal(err)
	}
	reg.Close() // saves a snapshot at the last applied sequence

	// Restart from the snapshot, then write more.
	restored := openRegistry(t, srv)
	defer restored.Close()
	rl2, err := restored.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rl2.Clients().Create(ctx, "", domain.ClientSettings{Name: "after restart"}, false, meta); err != nil {
		t.Fatal(err)
	}

	// Replay everything from scratch, with no snapshot, for comparison.
	keys, _ := realms.OpenKeyStore(ctx, srv.Store, make([]byte, 32))
	passwords, _ := realms.OpenPasswordStore(ctx, srv.Store, make([]byte, 32))
	replay := realms.NewRegistry(srv.Store, keys, passwords, "https://id.example.test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := replay.LoadAll(ctx); err != nil {
		t.Fatal(err)
	}
	defer replay.Close()
	rl3, _ := replay.Get(ctx, "acme")
	now := time.Now().Unix()
	for _, id := range clients {
		a, _ := rl2.Models().Clients.Get(id)
		b, _ := rl3.Models().Clients.Get(id)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("client %s differs:\nsnapshot %+v\nreplay   %+v", id, a, b)
		}
		sa, _ := rl2.Models().Tokens.Sessions(projectionsFilter(id), nil, 100, now)
		sb, _ := rl3.Models().Tokens.Sessions(projectionsFilter(id), nil, 100, now)
		if !reflect.DeepEqual(sa, sb) || len(sa) != 20 {
			t.Fatalf("tokens of %s differ: %d vs %d", id, len(sa), len(sb))
		}
	}
	if !reflect.DeepEqual(rl2.State(), rl3.State()) || !reflect.DeepEqual(rl2.Models().Nodes.Tree(), rl3.Models().Nodes.Tree()) {
		t.Fatal("realm or nodes differ after restoring a snapshot")
	}
	if u, ok := rl2.Models().Users.ByUsername("alice"); !ok || !u.HasPassword {
		t.Fatal("user missing after restoring a snapshot")
	}
}

func projectionsFilter(client string) projections.SessionFilter {
	return projections.SessionFilter{ClientID: client}
}

// TestSnapshotsOnTime: models are snapshotted once the snapshot period has
// passed, long before snapshotEvery messages, so that a process killed
// without a clean stop restarts from recent state and not from the first
// event.
func TestSnapshotsOnTime(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	ctx := context.Background()
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	reg := openRegistry(t, srv)
	defer reg.Close()
	reg.SetSnapshotPeriod(100 * time.Millisecond)
	rl, err := reg.Create(ctx, "acme", meta)
	if err != nil {
		t.Fatal(err)
	}
	snaps, ok := realms.FindSnapshotStore(ctx, srv.Store)
	if !ok {
		t.Fatal("no snapshot bucket")
	}
	snapshotSeq := func() uint64 {
		data, err := snaps.Load(ctx, "acme")
		if err != nil || data == nil {
			return 0
		}
		seq, err := projections.NewModels().Restore(data)
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	var last uint64
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		if _, err := rl.Clients().Create(ctx, "", domain.ClientSettings{Name: fmt.Sprint("c", i)}, false, meta); err != nil {
			t.Fatal(err)
		}
		last = rl.Applied()
		if seq := snapshotSeq(); seq > 1 {
			if seq > last {
				t.Fatalf("snapshot at seq %d, past the last applied %d", seq, last)
			}
			t.Logf("snapshot at seq %d of %d, taken on time", seq, last)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot within 10 s at a period of 100 ms (last seq %d)", last)
		}
		time.Sleep(30 * time.Millisecond)
	}
}
