package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
)

// AnyVersion appends without an optimistic-concurrency check.
const AnyVersion uint64 = math.MaxUint64

// Store appends and reads Latchkey events on JetStream.
type Store struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	replicas int
	macs     *macs // nil: no MAC written or checked

	mu       sync.Mutex
	batchers map[string]*tokenBatcher

	assertions, proofs spentStore // spent-once jtis (assertions.go)
}

// Options tune a Store.
type Options struct {
	// Replicas of each realm stream: 1 for a single server, 3 on a cluster.
	Replicas int
	// EventKey is the key of the MAC on every message (DeriveKey with
	// PurposeEventMAC; see eventmac.go). Without it the store writes no
	// MAC and checks none: only tools that hold no master key run so.
	EventKey []byte
	// OnForeign is told of every message read without a valid MAC, once
	// per message.
	OnForeign func(ForeignMessage)
}

// New wraps a NATS connection.
func New(nc *nats.Conn, opts Options) (*Store, error) {
	// Async publishes (token rounds) that are never answered — sent to a
	// stream leader that died — are sent again after this.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(attemptTimeout))
	if err != nil {
		return nil, err
	}
	if opts.Replicas < 1 {
		opts.Replicas = 1
	}
	s := &Store{nc: nc, js: js, replicas: opts.Replicas, batchers: map[string]*tokenBatcher{},
		assertions: spentStore{bucket: assertionBucket, storage: jetstream.FileStorage, window: domain.AssertionReplayWindow},
		proofs:     spentStore{bucket: proofBucket, storage: jetstream.MemoryStorage, window: domain.DPoPReplayWindow},
	}
	if opts.EventKey != nil {
		s.macs = newMACs(opts.EventKey, opts.OnForeign)
	}
	return s, nil
}

// JetStream exposes the JetStream context to tests that reach a stream
// directly (to tamper with it on purpose). Everything else goes through the
// Store: only this package opens streams, consumers and buckets.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Close stops the token batchers; the connection is the caller's.
func (s *Store) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for realm, b := range s.batchers {
		b.stop()
		delete(s.batchers, realm)
	}
}

// Append writes events of one aggregate, all or none. expected is the
// aggregate's version (the sequence of its last own event; 0 for a new
// aggregate) or AnyVersion. A stale version returns ErrConflict and writes
// nothing. It returns the sequence of the last event written.
func (s *Store) Append(ctx context.Context, realm string, agg domain.AggregateRef, expected uint64, meta Meta, payloads ...domain.Payload) (uint64, error) {
	if len(payloads) == 0 {
		return 0, errors.New("eventstore: nothing to append")
	}
	if err := validateTarget(realm, agg); err != nil {
		return 0, err
	}
	msgs := make([]*nats.Msg, len(payloads))
	for i, p := range payloads {
		m, err := s.buildMsg(realm, agg, meta, p)
		if err != nil {
			return 0, err
		}
		msgs[i] = m
	}
	if expected != AnyVersion {
		expect(msgs[0], realm, agg, expected)
	}
	return s.retryAppend(ctx, realm, func(ctx context.Context) (uint64, error) {
		if len(msgs) == 1 {
			ack, err := s.js.PublishMsg(ctx, msgs[0])
			if err != nil {
				return 0, asConflict(err)
			}
			return ack.Sequence, nil
		}
		return s.publishAtomic(ctx, realm, msgs)
	})
}

// inFlightPatience bounds how long an append waits for a write in flight to
// settle. The leader acknowledges a write before it clears the write's
// in-flight mark, so on a loaded leader the mark can outlive the ack by
// more than a few milliseconds; a write that really conflicts pays this
// wait only until the other write is applied and the answer becomes 10071.
const inFlightPatience = 250 * time.Millisecond

// An append that gets no answer (its stream leader died with it, or there
// is none while a new one is elected) is sent again, with the same message
// ids, until writePatience has passed since its first attempt; each
// attempt waits at most attemptTimeout for its answer. The ids make
// JetStream store it once however many attempts reach it.
const (
	writePatience  = 10 * time.Second
	attemptTimeout = time.Second
)

// retryAppend runs an append until it has an answer: again while it fails
// with errInFlight (for at most inFlightPatience; a real conflict then
// shows as ErrConflict) and while it is unanswered (for at most
// writePatience, then ErrUnavailable, or ErrNoRealm when the stream is
// gone). appendOnce must send the same messages, ids included, each time.
func (s *Store) retryAppend(ctx context.Context, realm string, appendOnce func(ctx context.Context) (uint64, error)) (uint64, error) {
	began := time.Now()
	var inFlightSince time.Time
	checked := false // whether the stream's existence was checked
	pause := time.Millisecond
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, attemptTimeout)
		seq, err := appendOnce(attemptCtx)
		cancel()
		unavailable := false
		switch {
		case err == nil:
			return seq, nil
		case errors.Is(err, errInFlight):
			if inFlightSince.IsZero() {
				inFlightSince = time.Now()
			}
			if time.Since(inFlightSince)+pause > inFlightPatience {
				return 0, ErrConflict
			}
		case unanswered(err):
			unavailable = true
			if time.Since(began)+pause > writePatience {
				return 0, s.noResponse(ctx, realm)
			}
			noResponders := errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders)
			if noResponders && !checked {
				checked = true
				if s.streamGone(ctx, realm) {
					return 0, ErrNoRealm
				}
			}
		default:
			return 0, err
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			if unavailable {
				// The caller gave up while the stream could not answer.
				return 0, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
			}
			return 0, ctx.Err()
		}
		pause = min(2*pause, 32*time.Millisecond)
	}
}

// noResponse explains a write nobody answered: the realm has no stream, or
// its stream cannot take writes right now.
func (s *Store) noResponse(ctx context.Context, realm string) error {
	if s.streamGone(ctx, realm) {
		return ErrNoRealm
	}
	return ErrUnavailable
}

// streamGone reports a realm whose stream is known not to exist (not one
// whose stream merely does not answer now).
func (s *Store) streamGone(ctx context.Context, realm string) bool {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	exists, err := s.HasRealmStream(ctx, realm)
	return err == nil && !exists
}

// expect makes a message conditional on the aggregate's version: the
// sequence of its last own event.
func expect(m *nats.Msg, realm string, agg domain.AggregateRef, version uint64) {
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(version, 10))
	m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, OwnEventsSubject(realm, agg))
}

// headerEventID carries the envelope id so a message can be deduplicated
// without decoding its body.
const headerEventID = "Lk-Event-Id"

// buildMsg encodes one event as a JetStream message on its subject, with
// its MAC.
func (s *Store) buildMsg(realm string, agg domain.AggregateRef, meta Meta, p domain.Payload) (*nats.Msg, error) {
	env, err := newEnvelope(realm, agg, meta, p)
	if err != nil {
		return nil, err
	}
	body, err := encodeEnvelope(env)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(Subject(realm, agg, env.Type))
	m.Data = body
	m.Header.Set(headerEventID, env.ID)
	s.signMsg(m.Subject, m.Data, m.Header.Set)
	// A retried publish is stored once: JetStream deduplicates by event id.
	m.Header.Set(jetstream.MsgIDHeader, env.ID)
	return m, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("listen address %q: bad port", addr)
	}
	return host, port, nil
}
