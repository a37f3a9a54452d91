package realms

import (
	"context"
	"errors"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// The write helpers from before the command pipeline (command.go), kept
// until every capability runs on it.

const maxDecideAttempts = 64

func (rl *Realm) commit(ctx context.Context, agg domain.AggregateRef, expected uint64, meta eventstore.Meta, events ...domain.Payload) error {
	seq, err := rl.reg.store.Append(ctx, rl.Name, agg, expected, meta, events...)
	if err != nil {
		return err
	}
	return rl.WaitFor(ctx, seq)
}

func (rl *Realm) commitRevoking(ctx context.Context, clientID string, expected uint64, meta eventstore.Meta, ev domain.Payload, rule domain.RevocationRule) error {
	seq, err := rl.reg.store.AppendRevocation(ctx, rl.Name, domain.ClientRef(clientID), expected, meta, ev, rule)
	if err != nil {
		return err
	}
	return rl.WaitFor(ctx, seq)
}

func (rl *Realm) retryConflicts(ctx context.Context, attempt func() error) error {
	for range maxDecideAttempts {
		err := attempt()
		if !errors.Is(err, eventstore.ErrConflict) {
			return err
		}
		rl.awaitNewer(ctx)
	}
	return eventstore.ErrConflict
}

func (rl *Realm) awaitNewer(ctx context.Context) { _ = rl.catchUp(ctx) }
