package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// counterBucket holds the abuse counters (failed sign-ins and client
// authentications per key) that every replica shares and that outlive a
// restart. Each key holds one small value written with a compare-and-set
// on its revision and a TTL of its own: a counter is gone once its window
// is over, without anybody deleting it.
const counterBucket = "LK_LIMITS"

// counterMarkerTTL is how long JetStream keeps the marker it leaves where
// a counter's TTL ran out (it must keep one for some time to allow
// per-key TTLs at all).
const counterMarkerTTL = time.Second

// Counters is the bucket of abuse counters.
type Counters struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	prefix string // subject prefix of the bucket's keys
}

// OpenCounters opens (creating if needed) the bucket of abuse counters.
func (s *Store) OpenCounters(ctx context.Context) (*Counters, error) {
	_, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         counterBucket,
		Description:    "latchkey: failed sign-ins and client authentications per key",
		Storage:        jetstream.FileStorage,
		Replicas:       s.replicas,
		History:        1,
		LimitMarkerTTL: counterMarkerTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("counter store %s: %w", counterBucket, err)
	}
	stream, err := s.js.Stream(ctx, "KV_"+counterBucket)
	if err != nil {
		return nil, fmt.Errorf("counter store %s: %w", counterBucket, err)
	}
	return &Counters{js: s.js, stream: stream, prefix: "$KV." + counterBucket + "."}, nil
}

// Get returns a counter's value and revision. A key never written, or
// whose TTL ran out, has no value; its revision (0, or the marker's) is
// what Set expects next.
func (c *Counters) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	msg, err := c.stream.GetLastMsgForSubject(ctx, c.prefix+key)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("counter %s: %w", key, err)
	}
	if isMarker(msg.Header) {
		return nil, msg.Sequence, nil
	}
	return msg.Data, msg.Sequence, nil
}

// isMarker reports whether a stored message marks a key as gone (its TTL
// ran out, or it was deleted) rather than holding a value.
func isMarker(h nats.Header) bool {
	return h.Get("Nats-Marker-Reason") != "" || h.Get("KV-Operation") != ""
}

// Set writes a counter if its revision is still the one read, to be kept
// for ttl; another writer in between is ErrConflict (read again and
// decide again).
func (c *Counters) Set(ctx context.Context, key string, value []byte, revision uint64, ttl time.Duration) error {
	msg := &nats.Msg{Subject: c.prefix + key, Data: value, Header: nats.Header{}}
	_, err := c.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(revision), jetstream.WithMsgTTL(max(ttl, time.Second)))
	if err != nil {
		if err := asConflict(err); errors.Is(err, ErrConflict) || errors.Is(err, errInFlight) {
			return ErrConflict
		}
		return fmt.Errorf("counter %s: %w", key, err)
	}
	return nil
}

// Delete forgets a counter at once (an administrator unlocked it).
func (c *Counters) Delete(ctx context.Context, key string) error {
	err := c.stream.Purge(ctx, jetstream.WithPurgeSubject(c.prefix+key))
	if err != nil {
		return fmt.Errorf("counter %s: %w", key, err)
	}
	return nil
}
