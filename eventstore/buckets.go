package eventstore

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Beside the realms' streams, the store keeps buckets that every replica
// shares: three of sealed secrets (realms' private signing keys, users'
// password hashes, the console's sessions with their tokens; the values
// are sealed by their owner before they get here) and one of read-model
// snapshots.
const (
	keyBucket            = "LK_KEYS"
	passwordBucket       = "LK_PASSWORDS"
	consoleSessionBucket = "LK_CONSOLE_SESSIONS"
	snapshotBucket       = "LK_SNAPSHOTS"
)

// OpenConsoleSessionBucket opens (creating if needed) the bucket of sealed
// console sessions. An entry not written again within maxAge goes by
// itself: a session ends by then anyway.
func (s *Store) OpenConsoleSessionBucket(ctx context.Context, maxAge time.Duration) (jetstream.KeyValue, error) {
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   consoleSessionBucket,
		Storage:  jetstream.FileStorage,
		Replicas: s.replicas,
		History:  1,
		TTL:      maxAge,
	})
	if err != nil {
		return nil, fmt.Errorf("sealed store %s: %w", consoleSessionBucket, err)
	}
	return kv, nil
}

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
