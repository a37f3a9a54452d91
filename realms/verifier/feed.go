package verifier

import (
	"context"
	"crypto/ecdsa"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
)

// feed follows a realm's revocation rules on NATS and knows how current
// they are.
//
// That the rules are current is proven, not assumed from a connection that
// looks up: every staleAfter/3 the feed asks the server for its consumer's
// state (one small request its permissions allow). An answer saying that
// nothing is pending and that every delivered rule has been applied proves
// the rules complete as of the moment of asking. Without such a proof for
// staleAfter the rules are stale, whatever the cause: the connection is
// down, the server or the stream has no leader, the consumer is being
// recreated, or the feed lags behind.
//
// A rule is applied only once its signature verifies with a key of the
// realm's JWKS (domain.VerifyRule): anyone who may publish on the rules
// subject could otherwise revoke whatever they like, or flood the set.
// A refused rule is logged and counted, never applied.
type feed struct {
	rules      *ruleSet
	keys       ruleKeys
	log        *slog.Logger
	staleAfter time.Duration
	syncedAt   atomic.Int64  // unix nanoseconds of the last proof
	applied    atomic.Uint64 // stream sequence of the last rule read
	refused    atomic.Uint64 // rules whose signature did not verify
	stop       func()
}

// ruleKeys looks up the realm's ES256 keys by kid, for a rule stored at
// stored.
type ruleKeys func(kid string, stored time.Time) (*ecdsa.PublicKey, bool)

// follow replays the realm's rules published since `since` and keeps
// applying new ones. It returns once the replay has caught up. The realm's
// stream is LK_<REALM> and its rules are on lk.<realm>.revocations (see
// README: "Revocation events for downstream services").
func follow(ctx context.Context, nc *nats.Conn, realm string, since time.Time, rules *ruleSet, keys ruleKeys, log *slog.Logger, staleAfter time.Duration) (*feed, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	cons, err := js.OrderedConsumer(ctx, "LK_"+strings.ToUpper(realm), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"lk." + realm + ".revocations"},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &since,
	})
	if err != nil {
		return nil, err
	}
	f := &feed{rules: rules, keys: keys, log: log, staleAfter: staleAfter}
	caughtUp := make(chan struct{})
	var once sync.Once
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.NumPending == 0 {
		once.Do(func() { close(caughtUp) })
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, mdErr := m.Metadata()
		f.apply(m, md)
		if mdErr == nil {
			f.applied.Store(md.Sequence.Stream)
			if md.NumPending == 0 {
				once.Do(func() { close(caughtUp) })
			}
		}
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-caughtUp:
	case <-ctx.Done():
		cc.Stop()
		return nil, ctx.Err()
	}
	f.syncedAt.Store(time.Now().UnixNano())
	watchCtx, cancel := context.WithCancel(context.Background())
	go f.watch(watchCtx, cons)
	f.stop = func() { cancel(); cc.Stop() }
	return f, nil
}

// apply adds a rule whose signature verifies, and refuses any other.
func (f *feed) apply(m jetstream.Msg, md *jetstream.MsgMetadata) {
	var seq uint64
	stored := time.Now()
	if md != nil {
		seq, stored = md.Sequence.Stream, md.Timestamp
	}
	key := func(kid string) (*ecdsa.PublicKey, bool) { return f.keys(kid, stored) }
	r, err := domain.VerifyRule(m.Subject(), m.Data(), m.Headers().Get(domain.RuleJWSHeader), key)
	if err != nil {
		f.refused.Add(1)
		f.log.Warn("revocation rule refused", "subject", m.Subject(), "seq", seq, "err", err)
		return
	}
	f.rules.add(r)
}

// watch proves the rules current every staleAfter/3 and forgets expired
// rules every minute.
func (f *feed) watch(ctx context.Context, cons jetstream.Consumer) {
	every := f.staleAfter / 3
	check := time.NewTicker(every)
	defer check.Stop()
	gc := time.NewTicker(time.Minute)
	defer gc.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-gc.C:
			f.rules.forget(now.Unix())
		case <-check.C:
			f.check(ctx, cons, every)
		}
	}
}

// check asks the server how far the consumer is and records a proof when
// every rule the stream holds has been applied.
func (f *feed) check(ctx context.Context, cons jetstream.Consumer, timeout time.Duration) {
	askedAt := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	info, err := cons.Info(ctx)
	if err != nil {
		return
	}
	// A consumer that has delivered nothing yet starts after everything
	// this feed applied (it was created, or recreated, from there).
	if info.NumPending == 0 && (info.Delivered.Consumer == 0 || info.Delivered.Stream <= f.applied.Load()) {
		f.syncedAt.Store(askedAt.UnixNano())
	}
}

// syncedAtTime is when the rules were last proven current.
func (f *feed) syncedAtTime() time.Time { return time.Unix(0, f.syncedAt.Load()) }

// live reports whether the rules were proven current within staleAfter.
func (f *feed) live(now time.Time) bool { return now.Sub(f.syncedAtTime()) <= f.staleAfter }
