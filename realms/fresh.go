package realms

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Every replica folds the realm's stream into its own read models, a
// little behind the stream: idle by a millisecond, under load by hundreds.
// freshness bounds what that lag can hide. A catch-up asks the stream's
// leader for its last sequence and waits until the models have applied
// it: once it completes, every event acknowledged before it started is in
// the models. Readers that decide on security state (client
// authentication, introspection) require a catch-up that started at most
// StaleBound before them; a caller about to answer "unknown" or "wrong"
// requires one that started after its request arrived, so a change
// acknowledged on another replica before the request is never missed.
//
// Catch-ups are shared: every reader waiting for one waits for the same,
// one runs at a time per realm, and two start at least catchUpSpacing
// apart. However many requests miss (a flood of unknown client ids), the
// stream's leader answers at most one question per realm per spacing.

// StaleBound is how far behind the stream a security decision may read:
// introspection and client authentication on any replica reflect every
// change acknowledged on another more than this long before.
const StaleBound = time.Second

// catchUpSpacing is the least time between the starts of two catch-ups.
const catchUpSpacing = 10 * time.Millisecond

// catchUpLimit bounds one catch-up (the question and the wait).
const catchUpLimit = 2 * time.Second

type freshness struct {
	catchUp func(ctx context.Context) error // runner.CaughtUp against the store

	asOf atomic.Int64 // start (Unix ns) of the last catch-up that completed

	mu      sync.Mutex
	running *catchUpRun // nil when none is in flight
	lastAt  time.Time   // when the last catch-up started
}

// catchUpRun is one catch-up, shared by everyone waiting for it.
type catchUpRun struct {
	started time.Time // set before done is closed
	done    chan struct{}
	err     error
}

// within waits until the models reflect every change acknowledged more
// than bound ago, and starts a catch-up in the background once they are
// half that behind, so that a busy realm rarely makes a reader wait.
func (f *freshness) within(ctx context.Context, bound time.Duration) error {
	now := time.Now()
	asOf := time.Unix(0, f.asOf.Load())
	if now.Sub(asOf) > bound/2 {
		f.start()
	}
	if now.Sub(asOf) <= bound {
		return nil
	}
	return f.since(ctx, now.Add(-bound))
}

// since waits until the models reflect every change acknowledged before t.
func (f *freshness) since(ctx context.Context, t time.Time) error {
	for {
		if f.asOf.Load() >= t.UnixNano() {
			return nil
		}
		run := f.start()
		select {
		case <-run.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if run.err != nil {
			return run.err
		}
		// A catch-up that started before t does not answer for t: wait
		// for the next one (the loop starts it).
	}
}

// start returns the catch-up in flight, or begins one.
func (f *freshness) start() *catchUpRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running != nil {
		return f.running
	}
	run := &catchUpRun{done: make(chan struct{})}
	f.running = run
	go f.run(run, time.Until(f.lastAt.Add(catchUpSpacing)))
	return run
}

func (f *freshness) run(run *catchUpRun, wait time.Duration) {
	if wait > 0 {
		time.Sleep(wait)
	}
	f.mu.Lock()
	run.started = time.Now()
	f.lastAt = run.started
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), catchUpLimit)
	run.err = f.catchUp(ctx)
	cancel()
	if run.err == nil {
		raiseInt(&f.asOf, run.started.UnixNano())
	}
	f.mu.Lock()
	f.running = nil
	f.mu.Unlock()
	close(run.done)
}

func raiseInt(v *atomic.Int64, to int64) {
	for {
		cur := v.Load()
		if to <= cur || v.CompareAndSwap(cur, to) {
			return
		}
	}
}
