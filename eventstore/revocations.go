package eventstore

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/latchkeyhq/latchkey/domain"
)

// RevocationsSubject is the stable subject on which a realm publishes its
// revocation rules (domain.RevocationRule as JSON) for downstream services.
// It lies inside the realm's stream, so a subscriber can replay the rules
// it missed while it was down. Each rule message carries its signature
// (domain.SignedRule) in header domain.RuleJWSHeader, besides the MAC every
// message carries.
func RevocationsSubject(realm string) string { return subjectPrefix + realm + ".revocations" }

// guardsSubject holds a realm's guard messages: version checks of a write
// that has more requirements than events to carry them. A guard has no
// body and stands for no event; readers skip it, as they skip rules.
func guardsSubject(realm string) string { return subjectPrefix + realm + ".guards" }

// headerGuard names the aggregate a guard message checks.
const headerGuard = "Lk-Guard"

// carriesNoEvent reports whether subj is some realm's rule or guard
// subject: its messages are not event envelopes.
func carriesNoEvent(subj string) bool {
	rest, ok := strings.CutPrefix(subj, subjectPrefix)
	if !ok {
		return false
	}
	_, name, ok := strings.Cut(rest, ".")
	return ok && (name == "revocations" || name == "guards")
}

// Change is one event for one aggregate, appended at an expected version
// (AnyVersion for none).
type Change struct {
	Aggregate domain.AggregateRef
	Expected  uint64
	Payload   domain.Payload
}

// Requirement makes a write conditional on an aggregate it does not
// change: the decision read Aggregate at Version, and the write is refused
// (ErrConflict) if the aggregate has moved on since.
type Requirement struct {
	Aggregate domain.AggregateRef
	Version   uint64
}

// AppendChanges writes events of several aggregates and revocation rules
// all-or-nothing, each requirement checked with them: a stale version
// anywhere is ErrConflict and nothing is written. It returns the last
// sequence.
//
// A JetStream message carries one version check. A requirement rides on a
// change that has none of its own; when every change has one, it gets a
// guard message of its own (guardsSubject), which carries no event.
func (s *Store) AppendChanges(ctx context.Context, realm string, meta Meta, changes []Change, rules []domain.SignedRule, requires []Requirement) (uint64, error) {
	msgs := make([]*nats.Msg, 0, len(changes)+len(rules))
	free := []*nats.Msg{} // event messages without a check of their own
	for _, c := range changes {
		if err := validateTarget(realm, c.Aggregate); err != nil {
			return 0, err
		}
		m, err := s.buildMsg(realm, c.Aggregate, meta, c.Payload)
		if err != nil {
			return 0, err
		}
		if c.Expected != AnyVersion {
			expect(m, realm, c.Aggregate, c.Expected)
		} else {
			free = append(free, m)
		}
		msgs = append(msgs, m)
	}
	for _, r := range requires {
		if err := validateTarget(realm, r.Aggregate); err != nil {
			return 0, err
		}
		if len(free) == 0 {
			g := nats.NewMsg(guardsSubject(realm))
			g.Header.Set(headerGuard, r.Aggregate.String())
			g.Header.Set(jetstream.MsgIDHeader, nuid.Next())
			s.signMsg(g.Subject, g.Data, g.Header.Set)
			free = append(free, g)
			msgs = append(msgs, g)
		}
		expect(free[0], realm, r.Aggregate, r.Version)
		free = free[1:]
	}
	for _, r := range rules {
		m := nats.NewMsg(RevocationsSubject(realm))
		m.Data = r.Body
		if r.JWS != "" {
			m.Header.Set(domain.RuleJWSHeader, r.JWS)
		}
		s.signMsg(m.Subject, m.Data, m.Header.Set)
		m.Header.Set(jetstream.MsgIDHeader, nuid.Next())
		msgs = append(msgs, m)
	}
	return s.retryAppend(ctx, realm, func(ctx context.Context) (uint64, error) { return s.publishAtomic(ctx, realm, msgs) })
}

// AppendRevocation writes one revocation event together with its rule.
func (s *Store) AppendRevocation(ctx context.Context, realm string, agg domain.AggregateRef, expected uint64, meta Meta, event domain.Payload, rule domain.SignedRule) (uint64, error) {
	return s.AppendChanges(ctx, realm, meta, []Change{{Aggregate: agg, Expected: expected, Payload: event}}, []domain.SignedRule{rule}, nil)
}
