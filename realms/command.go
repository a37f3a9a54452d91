package realms

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// Every write of a realm is a command run by execute, whatever it changes:
//
//	decide (reads the read models, asks domain) → plan
//	→ one append of the plan, each event at its aggregate's expected version
//	→ a lost race: catch up, pause, decide again (under retry, below)
//	→ wait until this process's read models have applied the write.
//
// The caller then reads the new state from the read models. Token
// issuance is a command too: its decision requires the client (and for a
// user's token the user and grant) at the versions it read, so a decision
// taken on a model that missed a change made on another replica fails at
// the stream and is taken again; a lone token event is group-committed
// with concurrent ones and does not wait for the read models.

// plan is what a decision writes: events of one or more aggregates, each at
// the version its decision saw, the versions of other aggregates the
// decision read and relied on, and the revocation rules published with
// them, all or nothing. An empty plan writes nothing.
type plan struct {
	changes  []eventstore.Change
	rules    []domain.RevocationRule
	requires []eventstore.Requirement
	// at, when set, is the time of the plan's events instead of the
	// command's (a token held past a revocation's cut-off is issued then).
	at time.Time
	// onBehalfOf, when set, names the user for whom the plan's events are
	// written (a user-delegated token and its grant).
	onBehalfOf string
}

// write is a plan of events of one aggregate, the first at expected.
func write(agg domain.AggregateRef, expected uint64, events ...domain.Payload) plan {
	var p plan
	for _, ev := range events {
		p.add(agg, expected, ev)
		expected = eventstore.AnyVersion // one append: only the first is checked
	}
	return p
}

// add appends an event of agg, expected at a version, to the plan.
func (p *plan) add(agg domain.AggregateRef, expected uint64, ev domain.Payload) {
	p.changes = append(p.changes, eventstore.Change{Aggregate: agg, Expected: expected, Payload: ev})
}

// revoke publishes a revocation rule with the plan's events.
func (p *plan) revoke(rule domain.RevocationRule) { p.rules = append(p.rules, rule) }

// require makes the plan's write conditional on an aggregate it does not
// change: the decision read agg at version.
func (p *plan) require(agg domain.AggregateRef, version uint64) {
	p.requires = append(p.requires, eventstore.Requirement{Aggregate: agg, Version: version})
}

// command is one write.
type command struct {
	// decide reads the current state and returns what to write, or a typed
	// error (then nothing is written). After a lost race it runs again, on
	// fresh state. It must not return eventstore.ErrConflict.
	decide func() (plan, error)
	// lostRace, when set, ends the command with this error when another
	// writer got in first, instead of deciding again: for a code redeemed
	// twice at once the loser's answer is invalid_grant; for a create with
	// a chosen id, "already exists".
	lostRace error
	// issuance: the write is a token being issued, handed out once
	// acknowledged without waiting for the read models (a lookup that
	// misses a fresh token waits for them then; see Tokens.lookupFresh).
	issuance bool
	// unconditionalLast makes the last attempt append without version
	// checks: for a revocation, where a duplicate is harmless and a missing
	// one is not, an aggregate that keeps changing must not escape it.
	unconditionalLast bool
}

// retry is the one policy for deciding again after a lost race: bounded
// attempts, with a pause before each new one that doubles from first up to
// most and is jittered, so that the losers of one race do not meet again.
var retry = retryPolicy{attempts: 32, first: time.Millisecond, most: 32 * time.Millisecond}

type retryPolicy struct {
	attempts    int
	first, most time.Duration
}

// pause is how long to wait before attempt n+1 (n counts from 0): half the
// step, plus up to as much again at random.
func (p retryPolicy) pause(n int) time.Duration {
	step := p.most
	if n < 16 {
		step = min(p.first<<n, p.most)
	}
	return step/2 + rand.N(step/2+1)
}

// execute runs a command: decide, append, decide again after a lost race
// under the retry policy, wait for the read models. A decision that
// refuses on the state it read (not found, already exists, a conflict, an
// invalid reference) is taken once more after a catch-up with the stream:
// the state may have changed on another replica a moment ago.
func (rl *Realm) execute(ctx context.Context, meta eventstore.Meta, cmd command) error {
	caughtUp := false
	for n := 0; ; n++ {
		last := n == retry.attempts-1
		err := rl.attempt(ctx, meta, cmd, last && cmd.unconditionalLast)
		if refusedOnState(err) && !caughtUp {
			caughtUp = true
			if rl.catchUp(ctx) == nil {
				n--
				continue
			}
		}
		if !errors.Is(err, eventstore.ErrConflict) {
			return err
		}
		if cmd.lostRace != nil {
			return cmd.lostRace
		}
		if last {
			return err
		}
		t := time.NewTimer(retry.pause(n))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		// The winner's event may not be applied here yet (or was written
		// by another replica): the next decision must see it.
		_ = rl.catchUp(ctx)
	}
}

// refusedOnState reports a decision's refusal that a model behind the
// stream could have caused.
func refusedOnState(err error) bool {
	var conflict *domain.ConflictError
	var invalid *domain.ValidationError
	return errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrAlreadyExists) ||
		errors.As(err, &conflict) || errors.As(err, &invalid)
}

// attempt decides once, appends the plan and waits until it is applied.
func (rl *Realm) attempt(ctx context.Context, meta eventstore.Meta, cmd command, unconditional bool) error {
	p, err := cmd.decide()
	if err != nil || len(p.changes) == 0 {
		return err
	}
	if unconditional {
		for i := range p.changes {
			p.changes[i].Expected = eventstore.AnyVersion
		}
		p.requires = nil
	}
	if !p.at.IsZero() {
		meta.Time = p.at
	}
	if p.onBehalfOf != "" {
		meta.OnBehalfOf = p.onBehalfOf
	}
	seq, err := rl.appendPlan(ctx, meta, p)
	if err != nil || cmd.issuance {
		return err
	}
	return rl.WaitFor(ctx, seq)
}

// appendPlan writes a plan in one append: a lone token event (with at most
// one requirement) group-committed, the events of one aggregate with no
// rule or requirement as one publish (a single event needs no batch),
// anything else as an atomic batch.
func (rl *Realm) appendPlan(ctx context.Context, meta eventstore.Meta, p plan) (uint64, error) {
	agg := p.changes[0].Aggregate
	if t, ok := p.changes[0].Payload.(domain.TokenIssued); ok && len(p.changes) == 1 && len(p.rules) == 0 && len(p.requires) <= 1 &&
		p.changes[0].Expected == eventstore.AnyVersion {
		var req eventstore.Requirement
		if len(p.requires) == 1 {
			req = p.requires[0]
		}
		return rl.reg.store.AppendToken(ctx, rl.Name, agg, meta, t, req)
	}
	single := len(p.rules) == 0 && len(p.requires) == 0
	for _, c := range p.changes[1:] {
		single = single && c.Aggregate == agg && c.Expected == eventstore.AnyVersion
	}
	if !single {
		rules, err := rl.signRules(ctx, p.rules)
		if err != nil {
			return 0, err
		}
		return rl.reg.store.AppendChanges(ctx, rl.Name, meta, p.changes, rules, p.requires)
	}
	events := make([]domain.Payload, len(p.changes))
	for i, c := range p.changes {
		events[i] = c.Payload
	}
	return rl.reg.store.Append(ctx, rl.Name, agg, p.changes[0].Expected, meta, events...)
}

// Condition is what a caller requires of an aggregate's version for a
// write to go ahead: an If-Match header (RFC 9110 §13.1.1), or the version
// of a view sent back in a body. Zero is no condition.
type Condition struct {
	// IfMatch not met: domain.ErrPreconditionFailed (412).
	IfMatch uint64
	// Version not met: a conflict of state (409).
	Version uint64
}

// check tests the condition against the version the decision sees.
func (c Condition) check(version uint64) error {
	if c.IfMatch != 0 && c.IfMatch != version {
		return domain.ErrPreconditionFailed
	}
	if c.Version != 0 && c.Version != version {
		return &domain.ConflictError{Message: "changed since the version sent; reload and retry"}
	}
	return nil
}
