package projections

import (
	"context"
	"log/slog"
	"sync"
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

	mu      sync.Mutex
	applied uint64
	notify  chan struct{} // closed when applied advances; nil if nobody waits

	sub       eventstore.Subscription
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
	r := &Runner{realm: realm, folds: folds, log: log, applied: opts.After, onApplied: opts.OnApplied}
	sub, err := store.Subscribe(ctx, realm, opts.After+1, r.apply, func(err error) {
		log.Error("undecodable event", "realm", realm, "err", err)
	})
	if err != nil {
		return nil, err
	}
	r.sub = sub
	return r, nil
}

// apply folds the events of one message (DecodeEvents), then marks its
// sequence applied.
func (r *Runner) apply(seq uint64, envs []eventstore.Envelope) {
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
	r.applied = seq
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
// been applied.
func (r *Runner) CaughtUp(ctx context.Context, store *eventstore.Store) error {
	last, err := store.LastSeq(ctx, r.realm)
	if err != nil {
		return err
	}
	return r.WaitFor(ctx, last)
}

// Stop ends the subscription and returns once no event is being applied,
// so the models can be read as of Applied.
func (r *Runner) Stop() {
	r.sub.Stop()
	select {
	case <-r.sub.Closed():
	case <-time.After(10 * time.Second):
		r.log.Warn("runner did not stop in time", "realm", r.realm)
	}
}
