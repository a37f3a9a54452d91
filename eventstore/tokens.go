package eventstore

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
)

// Token events are the high-volume part of a realm's history. Each one must
// be acknowledged before its token is handed out, and each acknowledgement
// costs an fsync. A tokenBatcher group-commits the token events of
// concurrent requests: whatever has queued while the previous batch was being
// written goes out as one atomic batch, one fsync for all of them.
const (
	tokenBatchMax     = 256 // well under the server's 1000-message batch cap
	tokenBatchWorkers = 4   // batches in flight per realm
	tokenQueueDepth   = 4096
	// tokenCommitTimeout bounds one commit; a request waiting on it also
	// gives up with its own context.
	tokenCommitTimeout = 10 * time.Second
)

type tokenReq struct {
	msg  *nats.Msg
	done chan tokenResult
}

type tokenResult struct {
	seq uint64
	err error
}

type tokenBatcher struct {
	s    *Store
	in   chan tokenReq
	quit chan struct{}
	wg   sync.WaitGroup
}

// AppendToken writes one high-volume token event under its aggregate (a
// client or grant), without a version check or message id, group-committed
// with concurrent ones. It returns once JetStream has acknowledged it.
func (s *Store) AppendToken(ctx context.Context, realm string, agg domain.AggregateRef, meta Meta, p domain.Payload) (uint64, error) {
	if err := validateTarget(realm, agg); err != nil {
		return 0, err
	}
	m, err := buildMsg(realm, agg, meta, p)
	if err != nil {
		return 0, err
	}
	req := tokenReq{msg: m, done: make(chan tokenResult, 1)}
	b := s.batcher(realm)
	select {
	case b.in <- req:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case r := <-req.done:
		return r.seq, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (s *Store) batcher(realm string) *tokenBatcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.batchers[realm]; ok {
		return b
	}
	b := &tokenBatcher{s: s, in: make(chan tokenReq, tokenQueueDepth), quit: make(chan struct{})}
	for range tokenBatchWorkers {
		b.wg.Add(1)
		go b.run()
	}
	s.batchers[realm] = b
	return b
}

func (b *tokenBatcher) stop() {
	close(b.quit)
	b.wg.Wait()
}

// run takes the first waiting event, then everything else already queued,
// and commits them together.
func (b *tokenBatcher) run() {
	defer b.wg.Done()
	batch := make([]tokenReq, 0, tokenBatchMax)
	for {
		select {
		case <-b.quit:
			return
		case first := <-b.in:
			batch = append(batch[:0], first)
		}
	drain:
		for len(batch) < tokenBatchMax {
			select {
			case r := <-b.in:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		b.commit(batch)
	}
}

func (b *tokenBatcher) commit(batch []tokenReq) {
	ctx, cancel := context.WithTimeout(context.Background(), tokenCommitTimeout)
	defer cancel()
	var last uint64
	var err error
	if len(batch) == 1 {
		var ack *jetstream.PubAck
		if ack, err = b.s.js.PublishMsg(ctx, batch[0].msg); err == nil {
			last = ack.Sequence
		}
	} else {
		msgs := make([]*nats.Msg, len(batch))
		for i, r := range batch {
			msgs[i] = r.msg
		}
		last, err = b.s.publishAtomic(ctx, msgs)
	}
	first := last - uint64(len(batch)) + 1
	for i, r := range batch {
		if err != nil {
			r.done <- tokenResult{err: err}
			continue
		}
		r.done <- tokenResult{seq: first + uint64(i)}
	}
}
