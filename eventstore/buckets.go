package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Beside the realms' streams, the store keeps buckets that every replica
// shares: three of sealed secrets (realms' private signing keys, users'
// password hashes, the console's sessions with their tokens; the values
// are sealed by their owner before they get here), one of read-model
// snapshots, and the abuse counters (counters.go).
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
// streams are. Several replicas may start at once: an existing bucket is
// opened as it is, and of two creations one wins and the other opens it.
// Any other failure (a cluster still electing) is the caller's to retry:
// calling again is safe.
func (s *Store) openSealedBucket(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	kv, err := openOrCreate(ctx,
		func(ctx context.Context) (jetstream.KeyValue, error) { return s.js.KeyValue(ctx, bucket) },
		func(ctx context.Context) (jetstream.KeyValue, error) {
			return s.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket: bucket, Storage: jetstream.FileStorage, Replicas: s.replicas, History: 1,
			})
		}, jetstream.ErrBucketNotFound, jetstream.ErrBucketExists)
	if err != nil {
		return nil, fmt.Errorf("sealed store %s: %w", bucket, err)
	}
	return kv, nil
}

// OpenSnapshotBucket opens (creating if needed) the object store that
// holds each realm's latest read-model snapshot; like openSealedBucket,
// safe to call again after a failure and from several replicas at once.
func (s *Store) OpenSnapshotBucket(ctx context.Context) (jetstream.ObjectStore, error) {
	obj, err := openOrCreate(ctx,
		func(ctx context.Context) (jetstream.ObjectStore, error) { return s.js.ObjectStore(ctx, snapshotBucket) },
		func(ctx context.Context) (jetstream.ObjectStore, error) {
			return s.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
				Bucket: snapshotBucket, Storage: jetstream.FileStorage, Replicas: s.replicas,
			})
		}, jetstream.ErrBucketNotFound, jetstream.ErrBucketExists)
	if err != nil {
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	return obj, nil
}

// openOrCreate opens a bucket, creates it when it is missing, and opens
// it again when another process created it first.
func openOrCreate[T any](ctx context.Context, open, create func(context.Context) (T, error), missing, exists error) (T, error) {
	b, err := open(ctx)
	if !errors.Is(err, missing) {
		return b, err
	}
	b, err = create(ctx)
	if errors.Is(err, exists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return open(ctx)
	}
	return b, err
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
