package eventstore

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
)

// Token events are the high-volume part of a realm's history. Each one must
// be acknowledged before its token is handed out, and with fsync on every
// write each JetStream message costs one fsync. A tokenBatcher group-commits:
// the token events of concurrent requests that share a subject (their client
// or grant) go out as one message holding one envelope per line, and the
// messages of one round are published pipelined, so a round costs one fsync
// per subject rather than one per token.
//
// JetStream's atomic batch publish would also coalesce the fsync, but it
// stages every batch in a new file store whose metadata is itself synced,
// which costs several fsyncs per batch on a file-backed stream.
const (
	tokenBatchMax     = 512
	tokenBatchWorkers = 2 // rounds in flight per realm
	tokenQueueDepth   = 8192
	// tokenCommitTimeout bounds one round; after a stream leader dies,
	// publishes sent to it are never answered and fail after this.
	tokenCommitTimeout = 3 * time.Second
)

type tokenReq struct {
	ctx     context.Context
	subject string
	body    []byte
	done    chan tokenResult
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
	ttl  atomic.Int64 // Nats-TTL of each token message (ns); 0 keeps them
	// acked is the highest sequence acknowledged to this process for the
	// realm's token events.
	acked atomic.Uint64
}

// SetTokenRetention is the realm's token-event retention: each message of
// token events written from now on carries it as its Nats-TTL, and
// JetStream removes the message once it has passed. 0 keeps them for good.
// It must exceed the longest lifetime of a token the events describe.
func (s *Store) SetTokenRetention(realm string, ttl time.Duration) {
	s.batcher(realm).ttl.Store(int64(ttl))
}

// AppendToken writes one high-volume token event under its aggregate (a
// client or grant), without a version check or message id, group-committed
// with concurrent ones. It returns, once JetStream has acknowledged it, the
// sequence of the message that holds it.
func (s *Store) AppendToken(ctx context.Context, realm string, agg domain.AggregateRef, meta Meta, p domain.Payload) (uint64, error) {
	if err := validateTarget(realm, agg); err != nil {
		return 0, err
	}
	env, err := newEnvelope(realm, agg, meta, p)
	if err != nil {
		return 0, err
	}
	body, err := encodeEnvelope(env)
	if err != nil {
		return 0, err
	}
	req := tokenReq{ctx: ctx, subject: Subject(realm, agg, env.Type), body: body, done: make(chan tokenResult, 1)}
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

// TokensAcked is the highest sequence of a token event this process has
// had acknowledged in realm: a reader that misses a token this process
// issued waits until its read models reach it, without asking the server.
func (s *Store) TokensAcked(realm string) uint64 {
	s.mu.Lock()
	b, ok := s.batchers[realm]
	s.mu.Unlock()
	if !ok {
		return 0
	}
	return b.acked.Load()
}

func raiseTo(v *atomic.Uint64, seq uint64) {
	for {
		cur := v.Load()
		if seq <= cur || v.CompareAndSwap(cur, seq) {
			return
		}
	}
}

func (b *tokenBatcher) stop() {
	close(b.quit)
	b.wg.Wait()
}

// run takes the first waiting event, then everything else already queued,
// and commits them as one round.
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

// tokenGroup is the events of one round that share a subject.
type tokenGroup struct {
	reqs []tokenReq
	ack  jetstream.PubAckFuture
	err  error
}

// commit publishes one message per subject, pipelined, and answers every
// request with its message's sequence or the error.
func (b *tokenBatcher) commit(batch []tokenReq) {
	// A caller that gave up gets no token, so its event is not written.
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- tokenResult{err: err}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	groups := groupBySubject(live)
	var opts []jetstream.PublishOpt
	if ttl := b.ttl.Load(); ttl > 0 {
		opts = append(opts, jetstream.WithMsgTTL(time.Duration(ttl)))
	}
	for _, g := range groups {
		m := nats.NewMsg(g.reqs[0].subject)
		m.Data = joinBodies(g.reqs)
		b.s.signMsg(m.Subject, m.Data, m.Header.Set)
		g.ack, g.err = b.s.js.PublishMsgAsync(m, opts...)
	}
	// One deadline for the whole round: every group still waiting when it
	// passes fails (a timer channel would fire for one group only).
	deadline, cancel := context.WithTimeout(context.Background(), tokenCommitTimeout)
	defer cancel()
	for _, g := range groups {
		var seq uint64
		err := g.err
		if err == nil {
			select {
			case ack := <-g.ack.Ok():
				seq = ack.Sequence
			case err = <-g.ack.Err():
			case <-deadline.Done():
				err = fmt.Errorf("eventstore: token events not acknowledged within %s", tokenCommitTimeout)
			}
		}
		if err == nil {
			raiseTo(&b.acked, seq)
		}
		for _, r := range g.reqs {
			r.done <- tokenResult{seq: seq, err: err}
		}
	}
}

func groupBySubject(batch []tokenReq) []*tokenGroup {
	var groups []*tokenGroup
	index := map[string]*tokenGroup{}
	for _, r := range batch {
		g, ok := index[r.subject]
		if !ok {
			g = &tokenGroup{}
			index[r.subject] = g
			groups = append(groups, g)
		}
		g.reqs = append(g.reqs, r)
	}
	return groups
}

func joinBodies(reqs []tokenReq) []byte {
	if len(reqs) == 1 {
		return reqs[0].body
	}
	var buf bytes.Buffer
	for i, r := range reqs {
		if i > 0 {
			buf.WriteByte('\n')
		}
		buf.Write(r.body)
	}
	return buf.Bytes()
}
