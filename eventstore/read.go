package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
)

// MaxPage bounds one read of a realm's stream.
const MaxPage = 1000

// fetchWait bounds one wait for messages the stream already holds.
const fetchWait = 5 * time.Second

// ReadAggregate returns an aggregate's own events in order: its history.
func (s *Store) ReadAggregate(ctx context.Context, realm string, agg domain.AggregateRef) ([]Envelope, error) {
	if err := validateTarget(realm, agg); err != nil {
		return nil, err
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{OwnEventsSubject(realm, agg)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	return s.read(ctx, realm, cfg, 0)
}

// ReadRealm returns up to limit events of a realm after sequence afterSeq,
// in stream order.
func (s *Store) ReadRealm(ctx context.Context, realm string, afterSeq uint64, limit int) ([]Envelope, error) {
	if err := domain.ValidateName("realm name", realm); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	cfg := jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   afterSeq + 1,
	}
	return s.read(ctx, realm, cfg, limit)
}

// read drains an ordered consumer until nothing is pending or limit (0 for
// no limit) events were read.
func (s *Store) read(ctx context.Context, realm string, cfg jetstream.OrderedConsumerConfig, limit int) ([]Envelope, error) {
	cons, err := s.js.OrderedConsumer(ctx, StreamName(realm), cfg)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, ErrNoRealm
		}
		return nil, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, err
	}
	pending := info.NumPending
	if limit > 0 && pending > uint64(limit) {
		pending = uint64(limit)
	}
	out := make([]Envelope, 0, pending)
	for read := uint64(0); read < pending; {
		batch, err := cons.Fetch(int(min(pending-read, MaxPage)), jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			envs, _, err := decodeMsg(m)
			if err != nil {
				return nil, err
			}
			out = append(out, envs...)
			got++
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if got == 0 {
			return nil, fmt.Errorf("eventstore: stream %s returned no message while %d were pending", StreamName(realm), pending-read)
		}
		read += uint64(got)
	}
	return out, nil
}

// decodeMsg returns a message's envelopes and its stream sequence.
func decodeMsg(m jetstream.Msg) ([]Envelope, uint64, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, 0, err
	}
	seq := md.Sequence.Stream
	if isRevocationsSubject(m.Subject()) {
		// A rule restates an event stored beside it; readers of events skip it.
		return nil, seq, nil
	}
	envs, err := DecodeMessage(m.Data(), seq)
	if err != nil {
		return nil, seq, fmt.Errorf("eventstore: message %d: %w", seq, err)
	}
	return envs, seq, nil
}

// Subscription is a live feed of a realm's events.
type Subscription interface {
	// Stop ends the feed; once Closed is closed, no callback runs any more.
	Stop()
	Closed() <-chan struct{}
}

// Subscribe calls fn, one message at a time and in stream order, with the
// events of every message of the realm from sequence fromSeq on, then of
// each new one as it arrives. A message that cannot be decoded is reported
// to onErr and passed to fn with no events, so the reader still advances.
func (s *Store) Subscribe(ctx context.Context, realm string, fromSeq uint64, fn func(seq uint64, events []Envelope), onErr func(error)) (Subscription, error) {
	if fromSeq == 0 {
		fromSeq = 1
	}
	cons, err := s.js.OrderedConsumer(ctx, StreamName(realm), jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   fromSeq,
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, ErrNoRealm
		}
		return nil, err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		envs, seq, err := decodeMsg(m)
		if err != nil {
			onErr(err)
		}
		fn(seq, envs)
	})
	if err != nil {
		return nil, err
	}
	return cc, nil
}
