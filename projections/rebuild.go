package projections

import (
	"context"
	"runtime"
	"sync"

	"github.com/latchkeyhq/latchkey/eventstore"
)

// RebuildOptions vary a Rebuild.
type RebuildOptions struct {
	// Copies is how many independent sets of models to fold (default 1):
	// each from its own decoding of every message, so no two share a
	// payload.
	Copies int
	// Into are the models to fold into (default: new, empty ones); After is
	// the sequence they already reflect (a restored snapshot).
	Into  []*Models
	After uint64
	// ToSeq bounds the read (0: the stream's last sequence at the start).
	ToSeq uint64
	// OnStart is told how many messages the read expects; OnBatch, after
	// each batch the first set of models folded, how many messages and
	// events it held (for progress reports).
	OnStart func(expected uint64)
	OnBatch func(msgs, events int)
}

// RebuildResult says what a rebuild folded.
type RebuildResult struct {
	Messages, Events, LastSeq uint64
}

// rebuildBatch is how many messages are decoded together.
const rebuildBatch = 512

// Rebuild folds the realm's history into models, decoding every message as
// the runner does: one goroutine reads, decoding runs on every core, one
// goroutine per set of models folds in stream order.
func Rebuild(ctx context.Context, store *eventstore.Store, realm string, opts RebuildOptions) ([]*Models, RebuildResult, error) {
	models := opts.Into
	for len(models) < max(opts.Copies, 1) {
		models = append(models, NewModels())
	}
	copies := len(models)
	var res RebuildResult
	type batch struct {
		msgs   []eventstore.RawMsg
		events [][]Event // per copy
		done   chan struct{}
	}
	workers := max(runtime.GOMAXPROCS(0), 1)
	todo := make(chan *batch, workers*2)
	ordered := make([]chan *batch, copies)
	for c := range ordered {
		ordered[c] = make(chan *batch, workers*4)
	}
	var decoders, folders sync.WaitGroup
	for range workers {
		decoders.Go(func() {
			for b := range todo {
				for c := range b.events {
					b.events[c] = decodeBatch(b.msgs)
				}
				close(b.done)
			}
		})
	}
	events := make([]uint64, copies)
	for c := range copies {
		folds := models[c].Folds()
		folders.Go(func() {
			for b := range ordered[c] {
				<-b.done
				for _, ev := range b.events[c] {
					for _, f := range folds {
						f.Apply(ev)
					}
				}
				events[c] += uint64(len(b.events[c]))
				if c == 0 && opts.OnBatch != nil {
					opts.OnBatch(len(b.msgs), len(b.events[c]))
				}
			}
		})
	}
	cur := &batch{events: make([][]Event, copies), done: make(chan struct{})}
	flush := func() {
		todo <- cur
		for c := range ordered {
			ordered[c] <- cur
		}
		cur = &batch{msgs: make([]eventstore.RawMsg, 0, rebuildBatch), events: make([][]Event, copies), done: make(chan struct{})}
	}
	scan := eventstore.ScanOptions{FromSeq: opts.After + 1, ToSeq: opts.ToSeq, OnStart: opts.OnStart}
	stats, err := store.Scan(ctx, realm, scan, func(m *eventstore.RawMsg) error {
		cur.msgs = append(cur.msgs, *m) // m.Data is the message's own
		if len(cur.msgs) == rebuildBatch {
			flush()
		}
		return nil
	})
	if len(cur.msgs) > 0 {
		flush()
	}
	close(todo)
	for c := range ordered {
		close(ordered[c])
	}
	decoders.Wait()
	folders.Wait()
	if err != nil {
		return nil, res, err
	}
	res.Messages, res.LastSeq, res.Events = stats.Messages, stats.LastSeq, events[0]
	return models, res, nil
}

// decodeBatch decodes messages into the events they fold into; a message
// that is not envelopes gives none.
func decodeBatch(msgs []eventstore.RawMsg) []Event {
	out := make([]Event, 0, len(msgs))
	for i := range msgs {
		out, _ = AppendMessageEvents(out, &msgs[i], nil)
	}
	return out
}
