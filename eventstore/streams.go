package eventstore

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
)

// EnsureRealmStream creates the realm's stream if it does not exist, every
// message of it to carry a MAC (its MAC boundary is 1). It is safe to call
// again: an existing stream is left as it is.
func (s *Store) EnsureRealmStream(ctx context.Context, realm string) error {
	if err := validateTarget(realm, domain.RealmRef(realm)); err != nil {
		return err
	}
	cfg := s.streamConfig(realm)
	if s.macs != nil {
		cfg.Metadata = map[string]string{metaMACBoundary: s.macs.boundaryValue(realm, 1)}
	}
	_, err := s.js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil
	}
	return err
}

func (s *Store) streamConfig(realm string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:               StreamName(realm),
		Subjects:           []string{RealmSubjects(realm)},
		Storage:            jetstream.FileStorage,
		Replicas:           s.replicas,
		AllowDirect:        true,
		AllowAtomicPublish: true,
		// Token events may carry a per-message TTL (realm retention).
		AllowMsgTTL: true,
		// Every message carries a dedupe id (an event's id, or one per
		// group-committed token message), so that a write retried after its
		// answer was lost is stored once. A retry comes within
		// writePatience; the server keeps each id (about 100 bytes) this
		// long.
		Duplicates: dedupeWindow,
	}
}

// dedupeWindow is how long the stream remembers message ids.
const dedupeWindow = 30 * time.Second

// Realms lists the realms that have a stream.
func (s *Store) Realms(ctx context.Context) ([]string, error) {
	var out []string
	names := s.js.StreamNames(ctx)
	for name := range names.Name() {
		if realm, ok := realmFromStream(name); ok {
			out = append(out, realm)
		}
	}
	if err := names.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// HasRealmStream reports whether the realm's stream exists.
func (s *Store) HasRealmStream(ctx context.Context, realm string) (bool, error) {
	_, err := s.js.Stream(ctx, StreamName(realm))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, nil
	}
	return err == nil, err
}

// LastSeq is the sequence of the realm's last stored message, as its
// stream leader has it (0 when empty). Messages removed at the tail (a
// per-message TTL) do not count, so a reader waiting for it can reach it.
func (s *Store) LastSeq(ctx context.Context, realm string) (uint64, error) {
	return s.leaderLastSeq(ctx, realm, []string{RealmSubjects(realm)})
}
