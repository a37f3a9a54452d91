package eventstore

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Beside the realms' streams, the store keeps buckets that every replica
// shares: two of sealed secrets (realms' private signing keys, users'
// password hashes; the values are sealed by their owner before they get
// here), one of read-model snapshots, and the abuse counters
// (counters.go).
const (
	keyBucket      = "LK_KEYS"
	passwordBucket = "LK_PASSWORDS"
	snapshotBucket = "LK_SNAPSHOTS"
)

// OpenKeyBucket opens (creating if needed) the bucket of sealed signing
// keys.
func (s *Store) OpenKeyBucket(ctx context.Context) (jetstream.KeyValue, error) {
	return s.openSealedBucket(ctx, keyBucket)
}

// OpenPasswordBucket opens (creating if needed) the bucket of sealed
// password hashes.
func (s *Store) OpenPasswordBucket(ctx context.Context) (jetstream.KeyValue, error) {
	return s.openSealedBucket(ctx, passwordBucket)
}

// openSealedBucket keeps one value per key, on file, replicated as the
// streams are.
func (s *Store) openSealedBucket(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   bucket,
		Storage:  jetstream.FileStorage,
		Replicas: s.replicas,
		History:  1,
	})
	if err != nil {
		return nil, fmt.Errorf("sealed store %s: %w", bucket, err)
	}
	return kv, nil
}

// OpenSnapshotBucket opens (creating if needed) the object store that
// holds each realm's latest read-model snapshot.
func (s *Store) OpenSnapshotBucket(ctx context.Context) (jetstream.ObjectStore, error) {
	obj, err := s.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: snapshotBucket, Storage: jetstream.FileStorage, Replicas: s.replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	return obj, nil
}

// FindSnapshotBucket opens the snapshot object store if it exists, without
// creating it (for tools that only read, such as replay); ok is false when
// it does not, or cannot be opened.
func (s *Store) FindSnapshotBucket(ctx context.Context) (jetstream.ObjectStore, bool) {
	obj, err := s.js.ObjectStore(ctx, snapshotBucket)
	if err != nil {
		return nil, false
	}
	return obj, true
}
