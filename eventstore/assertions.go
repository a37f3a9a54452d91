package eventstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The spent-once stores: a jti is spent by creating its key, which
// exactly one writer can do, on buckets every replica shares. Keys expire
// after the bucket's MaxAge, longer than anything they guard is accepted.
//
// Client assertions (private_key_jwt) are kept on disk. DPoP proofs are
// kept in memory (replicated like every bucket in a cluster): a proof
// lives a minute, only a restart of every NATS server within that minute
// would forget one, and a replayed proof only obtains a token bound to
// its signer's key, useless without that key. On disk each spend would be
// a write of its own to sync (token events share theirs), five times the
// cost of a bound token's issuance.
const (
	assertionBucket = "LK_ASSERTIONS"
	proofBucket     = "LK_DPOP_PROOFS"
)

// ErrAssertionReplayed: the assertion's jti was spent before.
var ErrAssertionReplayed = errors.New("eventstore: the client assertion was used before")

// ErrProofReplayed: the DPoP proof's jti was spent before.
var ErrProofReplayed = errors.New("eventstore: the DPoP proof was used before")

// spentStore is one spent-once bucket, opened on first use.
type spentStore struct {
	bucket  string
	storage jetstream.StorageType
	window  time.Duration

	mu sync.Mutex
	kv jetstream.KeyValue
}

func (b *spentStore) open(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kv != nil {
		return b.kv, nil
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: b.bucket, Storage: b.storage, Replicas: replicas, History: 1, TTL: b.window,
	})
	if err != nil {
		return nil, fmt.Errorf("spent-once store %s: %w", b.bucket, err)
	}
	b.kv = kv
	return kv, nil
}

// spend creates key on b: nil the first time, replayed after.
func (s *Store) spend(ctx context.Context, b *spentStore, key string, replayed error) error {
	kv, err := b.open(ctx, s.js, s.replicas)
	if err != nil {
		return err
	}
	_, err = kv.Create(ctx, key, nil)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return replayed
	}
	return err
}

// SpendAssertion records a client assertion of realm's client as used, once
// across every replica: a second call with the same client and jti within
// domain.AssertionReplayWindow fails with ErrAssertionReplayed.
func (s *Store) SpendAssertion(ctx context.Context, realm, clientID, jti string) error {
	sum := sha256.Sum256([]byte(realm + "\x00" + clientID + "\x00" + jti))
	return s.spend(ctx, &s.assertions, realm+"."+hex.EncodeToString(sum[:]), ErrAssertionReplayed)
}

// SpendDPoPProof records a DPoP proof of realm (RFC 9449 §11.1) as used,
// once across every replica: a second call with the same key thumbprint
// and jti within domain.DPoPReplayWindow fails with ErrProofReplayed.
func (s *Store) SpendDPoPProof(ctx context.Context, realm, jkt, jti string) error {
	sum := sha256.Sum256([]byte(realm + "\x00" + jkt + "\x00" + jti))
	return s.spend(ctx, &s.proofs, realm+"."+hex.EncodeToString(sum[:]), ErrProofReplayed)
}
