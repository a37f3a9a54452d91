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

	"github.com/latchkeyhq/latchkey/domain"
)

// assertionBucket remembers the client assertions (private_key_jwt) and
// DPoP proofs already spent, shared by every replica: a jti is spent by
// creating its key, which exactly one writer can do. Keys expire after the
// bucket's MaxAge, longer than any accepted assertion or proof lives.
const assertionBucket = "LK_ASSERTIONS"

// ErrAssertionReplayed: the assertion's jti was spent before.
var ErrAssertionReplayed = errors.New("eventstore: the client assertion was used before")

// ErrProofReplayed: the DPoP proof's jti was spent before.
var ErrProofReplayed = errors.New("eventstore: the DPoP proof was used before")

type assertionStore struct {
	mu sync.Mutex
	kv jetstream.KeyValue // opened on first use
}

func (a *assertionStore) open(ctx context.Context, js jetstream.JetStream, replicas int, window time.Duration) (jetstream.KeyValue, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.kv != nil {
		return a.kv, nil
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: assertionBucket, Storage: jetstream.FileStorage, Replicas: replicas, History: 1, TTL: window,
	})
	if err != nil {
		return nil, fmt.Errorf("assertion store: %w", err)
	}
	a.kv = kv
	return kv, nil
}

// SpendAssertion records a client assertion of realm's client as used, once
// across every replica: a second call with the same client and jti within
// window fails with ErrAssertionReplayed. window must outlive the longest
// assertion accepted; it is the bucket's MaxAge, fixed when the bucket is
// first created.
func (s *Store) SpendAssertion(ctx context.Context, realm, clientID, jti string, window time.Duration) error {
	kv, err := s.assertions.open(ctx, s.js, s.replicas, window)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(realm + "\x00" + clientID + "\x00" + jti))
	_, err = kv.Create(ctx, realm+"."+hex.EncodeToString(sum[:]), nil)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return ErrAssertionReplayed
	}
	return err
}

// SpendDPoPProof records a DPoP proof of realm (RFC 9449 §11.1) as used,
// once across every replica: a second call with the same key thumbprint
// and jti fails with ErrProofReplayed. Proofs share the assertions'
// bucket, whose MaxAge (domain.AssertionReplayWindow) outlives the longest
// a proof is accepted.
func (s *Store) SpendDPoPProof(ctx context.Context, realm, jkt, jti string) error {
	kv, err := s.assertions.open(ctx, s.js, s.replicas, domain.AssertionReplayWindow)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte("dpop\x00" + realm + "\x00" + jkt + "\x00" + jti))
	_, err = kv.Create(ctx, realm+".dpop."+hex.EncodeToString(sum[:]), nil)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return ErrProofReplayed
	}
	return err
}
