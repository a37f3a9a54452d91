package realms

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// snapshotBucket is the object store holding each realm's latest read-model
// snapshot, so that a restart applies only the events after it.
const snapshotBucket = "LK_SNAPSHOTS"

// snapshotEvery is how many stream messages pass between two snapshots; a
// crash replays at most this many (a clean stop snapshots first).
const snapshotEvery = 50_000

// SnapshotStore keeps one snapshot per realm. Snapshots hold no secret the
// events do not (client secret hashes as in client.created, never keys).
type SnapshotStore struct {
	obj jetstream.ObjectStore
}

// OpenSnapshotStore opens (creating if needed) the snapshot bucket.
func OpenSnapshotStore(ctx context.Context, js jetstream.JetStream, replicas int) (*SnapshotStore, error) {
	obj, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: snapshotBucket, Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	return &SnapshotStore{obj: obj}, nil
}

// FindSnapshotStore opens the snapshot bucket if it exists, without
// creating it (for tools that only read, such as replay).
func FindSnapshotStore(ctx context.Context, js jetstream.JetStream) (*SnapshotStore, bool) {
	obj, err := js.ObjectStore(ctx, snapshotBucket)
	if err != nil {
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
