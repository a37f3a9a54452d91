package projections

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// Event is one stored event with its decoded payload. Events whose payload
// cannot be decoded are logged and not folded; the runner still advances.
type Event struct {
	eventstore.Envelope
	Payload domain.Payload
}

// Fold is a read model: Apply folds one event, in stream order. A fold must
// be deterministic: the same events always give the same model.
type Fold interface {
	Apply(ev Event)
}

// Runner feeds one realm's events to its folds.
type Runner struct {
	realm string
	folds []Fold
	log   *slog.Logger

	mu        sync.Mutex
	applied   uint64
	appliedAt time.Time     // when applied last advanced
	notify    chan struct{} // closed when applied advances; nil if nobody waits

	// applyMu serialises applying: a subscription that replaced a stalled
	// one may overlap it for a moment. Only the current generation's
	// messages are applied.
	applyMu   sync.Mutex
	gen       atomic.Uint64
	subMu     sync.Mutex // held while the subscription is replaced or stopped
	sub       eventstore.Subscription
	replacing atomic.Bool
	store     *eventstore.Store
	onApplied func(seq uint64)
}

// RunnerOptions say where a runner starts and what it tells after each
// message.
type RunnerOptions struct {
	// After is the sequence the folds already reflect (a restored
	// snapshot); the runner starts with the next one.
	After uint64
	// OnApplied, if set, runs on the runner's goroutine after each message:
	// the folds are consistent at seq while it runs.
	OnApplied func(seq uint64)
}

// StartRunner subscribes to the realm's stream after opts.After and applies
// every event to the folds. It returns at once; CaughtUp or WaitFor tell
// when the models are current.
func StartRunner(ctx context.Context, store *eventstore.Store, realm string, log *slog.Logger, opts RunnerOptions, folds ...Fold) (*Runner, error) {
	r := &Runner{realm: realm, folds: folds, log: log, applied: opts.After, appliedAt: time.Now(), onApplied: opts.OnApplied, store: store}
	sub, err := r.subscribe(ctx, opts.After+1)
	if err != nil {
		return nil, err
	}
	r.sub = sub
	return r, nil
}

// subscribe starts a new generation of subscription from a sequence:
// messages of older ones are no longer applied.
func (r *Runner) subscribe(ctx context.Context, from uint64) (eventstore.Subscription, error) {
	gen := r.gen.Add(1)
	return r.store.Subscribe(ctx, r.realm, from, func(seq uint64, envs []eventstore.Envelope) {
		r.applyMu.Lock()
		defer r.applyMu.Unlock()
		if r.gen.Load() == gen {
			r.apply(seq, envs)
		}
	}, func(err error) {
		r.log.Error("undecodable event", "realm", r.realm, "err", err)
	})
}

// apply folds the events of one message (DecodeEvents), then marks its
// sequence applied. A message already applied (delivered again by a
// subscription that replaced a stalled one) is skipped.
func (r *Runner) apply(seq uint64, envs []eventstore.Envelope) {
	if seq <= r.Applied() {
		return
	}
	for ev := range DecodeEvents(envs, r.skipped) {
		for _, f := range r.folds {
			f.Apply(ev)
		}
	}
	r.advance(seq)
	if r.onApplied != nil {
		r.onApplied(seq)
	}
}

func (r *Runner) skipped(env *eventstore.Envelope, err error) {
	r.log.Error("undecodable payload", "realm", r.realm, "seq", env.Seq, "type", env.Type, "err", err)
}

func (r *Runner) advance(seq uint64) {
	r.mu.Lock()
	r.applied, r.appliedAt = seq, time.Now()
	if r.notify != nil {
		close(r.notify)
		r.notify = nil
	}
	r.mu.Unlock()
}

// Applied is the sequence of the last event applied.
func (r *Runner) Applied() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied
}

// WaitFor blocks until the event at seq has been applied, or ctx ends.
func (r *Runner) WaitFor(ctx context.Context, seq uint64) error {
	for {
		r.mu.Lock()
		if r.applied >= seq {
			r.mu.Unlock()
			return nil
		}
		if r.notify == nil {
			r.notify = make(chan struct{})
		}
		ch := r.notify
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CaughtUp waits until every event the stream held when it was called has
// been applied. A subscription that delivers nothing for stallAfter while
// the models are behind is replaced, in the background, by one from the
// next sequence: its consumer may have lived on a server that is gone,
// and the client library takes many seconds to notice.
func (r *Runner) CaughtUp(ctx context.Context, store *eventstore.Store) error {
	last, err := store.LastSeq(ctx, r.realm)
	if err != nil {
		return err
	}
	for {
		waitCtx, cancel := context.WithTimeout(ctx, stallAfter)
		err := r.WaitFor(waitCtx, last)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		r.mu.Lock()
		stalled := time.Since(r.appliedAt) >= stallAfter
		r.mu.Unlock()
		if stalled && r.replacing.CompareAndSwap(false, true) {
			go r.resubscribe()
		}
	}
}

// stallAfter is how long a subscription may deliver nothing while the
// models are behind before it is replaced.
const stallAfter = time.Second

// resubscribe replaces the subscription with one that starts after the
// last message applied; the old one is stopped in the background (its
// server may not answer), its messages ignored from now on.
func (r *Runner) resubscribe() {
	defer r.replacing.Store(false)
	r.subMu.Lock()
	defer r.subMu.Unlock()
	from := r.Applied() + 1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	old := r.sub
	sub, err := r.subscribe(ctx, from)
	if err != nil {
		r.log.Warn("read models' subscription stalled and could not be replaced", "realm", r.realm, "err", err)
		return
	}
	r.sub = sub
	r.mu.Lock()
	r.appliedAt = time.Now() // give the new one its time
	r.mu.Unlock()
	go old.Stop()
	r.log.Warn("read models' subscription stalled; subscribed again", "realm", r.realm, "from", from)
}

// Stop ends the subscription and returns once no event is being applied,
// so the models can be read as of Applied.
func (r *Runner) Stop() {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	r.gen.Add(1) // nothing is applied any more
	r.sub.Stop()
	select {
	case <-r.sub.Closed():
	case <-time.After(10 * time.Second):
		r.log.Warn("runner did not stop in time", "realm", r.realm)
	}
	// A callback that began before the generation changed has returned
	// once applyMu is free.
	r.applyMu.Lock()
	r.applyMu.Unlock() //nolint:staticcheck // a barrier, not a critical section
}
