package realms

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/eventstore"
)

// A realm's models are snapshotted when snapshotEvery stream messages or
// snapshotPeriod have passed since the last snapshot, whichever comes
// first, but never sooner than snapshotCostShare times what the last one
// cost: a crash replays at most that much history (a clean stop snapshots
// first).
const (
	snapshotEvery     = 50_000
	snapshotPeriod    = 5 * time.Second
	snapshotCostShare = 20
)

// SnapshotStore keeps each realm's latest read-model snapshot, so that a
// restart applies only the events after it (eventstore opens its bucket).
// Snapshots hold no secret the events do not (client secret hashes as in
// client.created, never keys).
type SnapshotStore struct {
	obj jetstream.ObjectStore
}

// OpenSnapshotStore opens (creating if needed) the snapshot bucket.
func OpenSnapshotStore(ctx context.Context, store *eventstore.Store) (*SnapshotStore, error) {
	obj, err := store.OpenSnapshotBucket(ctx)
	if err != nil {
		return nil, err
	}
	return &SnapshotStore{obj: obj}, nil
}

// FindSnapshotStore opens the snapshot bucket if it exists, without
// creating it (for tools that only read, such as replay).
func FindSnapshotStore(ctx context.Context, store *eventstore.Store) (*SnapshotStore, bool) {
	obj, ok := store.FindSnapshotBucket(ctx)
	if !ok {
		return nil, false
	}
	return &SnapshotStore{obj: obj}, true
}

// Save replaces a realm's snapshot.
func (s *SnapshotStore) Save(ctx context.Context, realm string, data []byte) error {
	_, err := s.obj.PutBytes(ctx, realm, data)
	return err
}

// Load returns a realm's snapshot, or nil when it has none.
func (s *SnapshotStore) Load(ctx context.Context, realm string) ([]byte, error) {
	data, err := s.obj.GetBytes(ctx, realm)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, nil
	}
	return data, err
}
