package eventstore

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

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
)

type tokenReq struct {
	ctx     context.Context
	subject string
	// check, when set, is the own-events subject of the aggregate the
	// token's decision read, at version: the message is refused if the
	// aggregate has moved on.
	check   string
	version uint64
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
// client or grant), group-committed with concurrent ones. When req names
// an aggregate, the event is written only if that aggregate is still at
// req.Version (else ErrConflict: the decision was taken on stale state).
// It returns, once JetStream has acknowledged it, the sequence of the
// message that holds it.
func (s *Store) AppendToken(ctx context.Context, realm string, agg domain.AggregateRef, meta Meta, p domain.Payload, req Requirement) (uint64, error) {
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
	r := tokenReq{ctx: ctx, subject: Subject(realm, agg, env.Type), body: body, done: make(chan tokenResult, 1)}
	if req.Aggregate != (domain.AggregateRef{}) {
		if err := validateTarget(realm, req.Aggregate); err != nil {
			return 0, err
		}
		r.check, r.version = OwnEventsSubject(realm, req.Aggregate), req.Version
	}
	b := s.batcher(realm)
	select {
	case b.in <- r:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case res := <-r.done:
		return res.seq, res.err
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

// tokenGroup is the events of one round that share a subject and a
// check: they go out as one message, all or none.
type tokenGroup struct {
	reqs []tokenReq
	msg  *nats.Msg
	ack  jetstream.PubAckFuture
	seq  uint64
	err  error
}

// commit publishes one message per group, pipelined, and answers every
// request with its message's sequence or the error. A message that gets
// no answer (its stream leader died, or none is elected yet) is sent again
// with the same message id, which JetStream deduplicates, until
// writePatience has passed; one refused because a write checked against
// the same aggregate is in flight (10164) is sent again for at most
// inFlightPatience. A failed check is ErrConflict for each of its
// requests, whose callers decide again on fresh state.
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
	var opts []jetstream.PublishOpt
	if ttl := b.ttl.Load(); ttl > 0 {
		opts = append(opts, jetstream.WithMsgTTL(time.Duration(ttl)))
	}
	groups := groupTokens(live)
	for _, g := range groups {
		g.msg = nats.NewMsg(g.reqs[0].subject)
		g.msg.Data = joinBodies(g.reqs)
		// One dedupe id per message, not per token: a retry of the message
		// is stored once.
		g.msg.Header.Set(jetstream.MsgIDHeader, nuid.Next())
		b.s.signMsg(g.msg.Subject, g.msg.Data, g.msg.Header.Set)
		if r := g.reqs[0]; r.check != "" {
			g.msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(r.version, 10))
			g.msg.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, r.check)
		}
	}
	began := time.Now()
	var inFlightSince time.Time
	pause := time.Millisecond
	for pending := groups; ; {
		for _, g := range pending {
			g.ack, g.err = b.s.js.PublishMsgAsync(g.msg, opts...)
		}
		again := pending[:0:0]
		for _, g := range pending {
			b.await(g)
			switch {
			case errors.Is(g.err, errInFlight):
				if inFlightSince.IsZero() {
					inFlightSince = time.Now()
				}
				if time.Since(inFlightSince)+pause > inFlightPatience {
					g.err = ErrConflict
					break
				}
				again = append(again, g)
			case g.err != nil && unanswered(g.err):
				if time.Since(began)+pause > writePatience {
					g.err = ErrUnavailable
					break
				}
				again = append(again, g)
			}
			if !slices.Contains(again, g) {
				b.answer(g)
			}
		}
		if len(again) == 0 {
			return
		}
		time.Sleep(pause)
		pause = min(2*pause, 32*time.Millisecond)
		pending = again
	}
}

// await waits for a group's acknowledgement, for at most attemptTimeout.
func (b *tokenBatcher) await(g *tokenGroup) {
	if g.err != nil {
		g.err = asConflict(g.err)
		return
	}
	t := time.NewTimer(attemptTimeout)
	defer t.Stop()
	select {
	case ack := <-g.ack.Ok():
		g.seq = ack.Sequence
	case err := <-g.ack.Err():
		g.err = asConflict(err)
	case <-t.C:
		g.err = jetstream.ErrAsyncPublishTimeout
	}
}

// answer tells each request of a group how its message ended.
func (b *tokenBatcher) answer(g *tokenGroup) {
	if g.err == nil {
		raiseTo(&b.acked, g.seq)
	}
	for _, r := range g.reqs {
		r.done <- tokenResult{seq: g.seq, err: g.err}
	}
}

// groupTokens puts the requests of one round that share a subject and a
// check (aggregate and version) together.
func groupTokens(batch []tokenReq) []*tokenGroup {
	type key struct {
		subject, check string
		version        uint64
	}
	var groups []*tokenGroup
	index := map[key]*tokenGroup{}
	for _, r := range batch {
		k := key{r.subject, r.check, r.version}
		g, ok := index[k]
		if !ok {
			g = &tokenGroup{}
			index[k] = g
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
