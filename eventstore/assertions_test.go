package eventstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// A client assertion's jti is spent once across replicas: two stores on
// their own connections (two replicas) race for it and exactly one wins;
// the same jti of another client, or of another realm, is another key.
func TestSpendAssertionOnceAcrossReplicas(t *testing.T) {
	ts := startTestServer(t, t.TempDir())
	ctx := context.Background()
	replica2, _ := secondReplica(t, ts.NS)
	stores := []*eventstore.Store{ts.Store, replica2}

	wins, replays := race(t, 8, func(i int) error {
		return stores[i%2].SpendAssertion(ctx, "acme", "svc", "jti-1")
	}, eventstore.ErrAssertionReplayed)
	if wins != 1 || replays != 7 {
		t.Fatalf("%d spends won and %d were replays; want 1 and 7", wins, replays)
	}
	for _, other := range [][2]string{{"acme", "other-client"}, {"beta", "svc"}} {
		if err := replica2.SpendAssertion(ctx, other[0], other[1], "jti-1"); err != nil {
			t.Errorf("%v: the same jti elsewhere: %v", other, err)
		}
	}
}

// A DPoP proof's jti is spent once across replicas too, per key; an
// assertion with the same jti is another thing.
func TestSpendDPoPProofOnceAcrossReplicas(t *testing.T) {
	ts := startTestServer(t, t.TempDir())
	ctx := context.Background()
	replica2, nc2 := secondReplica(t, ts.NS)
	stores := []*eventstore.Store{ts.Store, replica2}
	wins, replays := race(t, 6, func(i int) error {
		return stores[i%2].SpendDPoPProof(ctx, "acme", "jkt-1", "jti-1")
	}, eventstore.ErrProofReplayed)
	if wins != 1 || replays != 5 {
		t.Fatalf("%d spends won and %d were replays; want 1 and 5", wins, replays)
	}
	if err := replica2.SpendDPoPProof(ctx, "acme", "jkt-2", "jti-1"); err != nil {
		t.Errorf("the same jti of another key: %v", err)
	}
	if err := replica2.SpendAssertion(ctx, "acme", "jkt-1", "jti-1"); err != nil {
		t.Errorf("an assertion with the same names: %v", err)
	}
	// Assertions are kept on disk, proofs in memory (their cost: see
	// assertions.go), each for longer than what it guards is accepted.
	js, err := jetstream.New(nc2)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		stream  string
		storage jetstream.StorageType
		atLeast time.Duration
	}{
		{"KV_LK_ASSERTIONS", jetstream.FileStorage, domain.AssertionReplayWindow},
		{"KV_LK_DPOP_PROOFS", jetstream.MemoryStorage, domain.DPoPReplayWindow},
	} {
		st, err := js.Stream(ctx, want.stream)
		if err != nil {
			t.Fatal(err)
		}
		if cfg := st.CachedInfo().Config; cfg.Storage != want.storage || cfg.MaxAge < want.atLeast {
			t.Errorf("%s: storage %v, max age %v; want %v, at least %v", want.stream, cfg.Storage, cfg.MaxAge, want.storage, want.atLeast)
		}
	}
}

// secondReplica is another store on its own connection to the same
// server, as a second replica has.
func secondReplica(t *testing.T, ns *server.Server) (*eventstore.Store, *nats.Conn) {
	t.Helper()
	nc, err := eventstore.ConnectInProcess(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	st, err := eventstore.New(nc, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st, nc
}

// race runs spend(0..n-1) at once and counts the spends that won and
// those refused as replayed; any other outcome fails the test.
func race(t *testing.T, n int, spend func(i int) error, replayed error) (wins, replays int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := spend(i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, replayed):
				replays++
			default:
				t.Errorf("spend: %v", err)
			}
		})
	}
	wg.Wait()
	return wins, replays
}
