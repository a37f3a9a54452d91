package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
)

// MaxPage bounds one read of a realm's stream.
const MaxPage = 1000

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
	if afterSeq == math.MaxUint64 {
		return nil, nil // nothing follows the last possible sequence
	}
	cfg := jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   afterSeq + 1,
	}
	return s.read(ctx, realm, cfg, limit)
}

// read drains an ordered consumer up to the last message the stream's
// leader holds for the consumer's filter, or limit (0 for no limit)
// messages. The consumer may sit on a follower that has not yet applied
// what the leader acknowledged, so its own count of pending messages is not
// trusted: the leader's last sequence is the target.
func (s *Store) read(ctx context.Context, realm string, cfg jetstream.OrderedConsumerConfig, limit int) ([]Envelope, error) {
	target, err := s.leaderLastSeq(ctx, realm, cfg.FilterSubjects)
	if err != nil {
		return nil, err
	}
	start := cfg.OptStartSeq
	if target == 0 || (start > 0 && start > target) {
		return nil, nil
	}
	from, _, err := s.MACBoundary(ctx, realm)
	if err != nil {
		return nil, err
	}
	var cons jetstream.Consumer
	err = retryNoResponders(ctx, func() (err error) {
		cons, err = s.js.OrderedConsumer(ctx, StreamName(realm), cfg)
		return err
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, ErrNoRealm
		}
		return nil, err
	}
	defer s.dropConsumer(realm, cons)
	var out []Envelope
	read, idle := 0, 0
	for limit == 0 || read < limit {
		want := MaxPage
		if limit > 0 {
			want = min(limit-read, MaxPage)
		}
		var batch jetstream.MessageBatch
		if err := retryNoResponders(ctx, func() (err error) {
			batch, err = cons.FetchNoWait(want)
			return err
		}); err != nil {
			return nil, err
		}
		got, counted, last := 0, 0, uint64(0)
		for m := range batch.Messages() {
			envs, seq, foreign, err := s.decodeMsg(realm, from, m, DecodeMessage)
			if err != nil {
				return nil, err
			}
			out = append(out, envs...)
			got, last = got+1, seq
			if !foreign { // a flood of foreign messages cannot end a page early
				counted++
			}
		}
		// A pull that nobody answered (the consumer not yet known where it
		// landed) is an empty round, tried again below.
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, nats.ErrNoResponders) {
			return nil, err
		}
		read += counted
		if last >= target {
			break
		}
		if got == 0 {
			// Nothing yet: a lagging follower, or messages deleted up to the
			// target. Give the follower a moment, then stop.
			if idle++; idle == readIdleRounds {
				break
			}
			select {
			case <-time.After(readIdleWait):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		} else {
			idle = 0
		}
	}
	return out, nil
}

// readIdleRounds bounds empty fetches before a read stops short of the
// leader's last sequence (each waits readIdleWait).
const (
	readIdleRounds = 20
	readIdleWait   = 50 * time.Millisecond
)

// retryNoResponders runs a JetStream API call again while nobody answers
// it: on a cluster, a consumer just created may not yet be known to the
// server a request reaches.
func retryNoResponders(ctx context.Context, call func() error) error {
	for attempt := 0; ; attempt++ {
		err := call()
		if !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, jetstream.ErrNoStreamResponse) || attempt == 10 {
			return err
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// leaderLastSeq asks the stream's leader (not a direct get, which any
// replica may answer) for the sequence of the last message matching the
// filter, or of the stream's last message. 0: none.
func (s *Store) leaderLastSeq(ctx context.Context, realm string, filter []string) (uint64, error) {
	if len(filter) == 0 {
		filter = []string{RealmSubjects(realm)}
	}
	req, _ := json.Marshal(map[string]string{"last_by_subj": filter[0]})
	var resp *nats.Msg
	err := retryNoResponders(ctx, func() (err error) {
		// A stream that has no leader yet (just created, or electing one)
		// leaves the request unanswered: ask again rather than wait out the
		// caller's whole deadline.
		for {
			attemptCtx, cancel := context.WithTimeout(ctx, attemptTimeout)
			resp, err = s.nc.RequestWithContext(attemptCtx, "$JS.API.STREAM.MSG.GET."+StreamName(realm), req)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				return err
			}
		}
	})
	if err != nil {
		return 0, err
	}
	var r struct {
		Message *struct {
			Seq uint64 `json:"seq"`
		} `json:"message"`
		Error *struct {
			Code    int `json:"code"`
			ErrCode int `json:"err_code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return 0, err
	}
	switch {
	case r.Error != nil && r.Error.Code == 404 && r.Error.ErrCode == codeStreamNotFound:
		return 0, ErrNoRealm
	case r.Error != nil && r.Error.Code == 404:
		return 0, nil // no message matches
	case r.Error != nil:
		return 0, fmt.Errorf("eventstore: last message of %s: error %d", filter[0], r.Error.ErrCode)
	case r.Message == nil:
		return 0, nil
	}
	return r.Message.Seq, nil
}

// codeStreamNotFound is JetStream's "stream not found".
const codeStreamNotFound = 10059

// decodeMsg returns a message's envelopes, read with decode (DecodeMessage,
// or DecodeForFolds for the read models), and its stream sequence; from is
// the realm's MAC boundary. A foreign message holds none.
func (s *Store) decodeMsg(realm string, from uint64, m jetstream.Msg, decode func([]byte, uint64) ([]Envelope, error)) (envs []Envelope, seq uint64, foreign bool, err error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, 0, false, err
	}
	seq = md.Sequence.Stream
	if _, foreign = s.judge(realm, from, seq, m.Subject(), m.Data(), m.Headers().Get(headerMAC)); foreign {
		return nil, seq, true, nil
	}
	if carriesNoEvent(m.Subject()) {
		// A rule restates an event stored beside it, a guard stands for
		// none; readers of events skip both.
		return nil, seq, false, nil
	}
	envs, err = decode(m.Data(), seq)
	if err != nil {
		return nil, seq, false, fmt.Errorf("eventstore: message %d: %w", seq, err)
	}
	return envs, seq, false, nil
}

// Subscription is a live feed of a realm's events.
type Subscription interface {
	// Stop ends the feed; once Closed is closed, no callback runs any more.
	Stop()
	Closed() <-chan struct{}
}

// Subscribe calls fn, one message at a time and in stream order, with the
// events of every message of the realm from sequence fromSeq on, then of
// each new one as it arrives, read for folding (DecodeForFolds: token
// events without their raw data). A message that cannot be decoded is
// reported to onErr, and a foreign one to Options.OnForeign; either is
// passed to fn with no events, so the reader still advances.
func (s *Store) Subscribe(ctx context.Context, realm string, fromSeq uint64, fn func(seq uint64, events []Envelope), onErr func(error)) (Subscription, error) {
	if fromSeq == 0 {
		fromSeq = 1
	}
	from, _, err := s.MACBoundary(ctx, realm)
	if err != nil {
		return nil, err
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
		envs, seq, _, err := s.decodeMsg(realm, from, m, DecodeForFolds)
		if err != nil {
			onErr(err)
		}
		fn(seq, envs)
	})
	if err != nil {
		s.dropConsumer(realm, cons)
		return nil, err
	}
	return &subscription{ConsumeContext: cc, drop: func() { s.dropConsumer(realm, cons) }}, nil
}

// subscription deletes its server-side consumer when stopped: an ephemeral
// consumer would otherwise linger for minutes, and a stream holds at most
// 1,000 of them.
type subscription struct {
	jetstream.ConsumeContext
	drop func()
}

func (s *subscription) Stop() {
	s.ConsumeContext.Stop()
	s.drop()
}

// dropConsumer deletes a reader's consumer on the server (best effort).
func (s *Store) dropConsumer(realm string, cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.js.DeleteConsumer(ctx, StreamName(realm), info.Name)
}
