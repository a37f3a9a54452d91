package eventstore

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/latchkeyhq/latchkey/domain"
)

// RevocationsSubject is the stable subject on which a realm publishes its
// revocation rules (domain.RevocationRule as JSON) for downstream services.
// It lies inside the realm's stream, so a subscriber can replay the rules
// it missed while it was down. Each rule message carries its signature
// (domain.SignedRule) in header domain.RuleJWSHeader, besides the MAC every
// message carries.
func RevocationsSubject(realm string) string { return subjectPrefix + realm + ".revocations" }

// isRevocationsSubject reports whether subj is some realm's rule subject:
// its messages are rules, not event envelopes.
func isRevocationsSubject(subj string) bool {
	rest, ok := strings.CutPrefix(subj, subjectPrefix)
	if !ok {
		return false
	}
	_, name, ok := strings.Cut(rest, ".")
	return ok && name == "revocations"
}

// Change is one event for one aggregate, appended at an expected version
// (AnyVersion for none).
type Change struct {
	Aggregate domain.AggregateRef
	Expected  uint64
	Payload   domain.Payload
}

// AppendChanges writes events of several aggregates and revocation rules
// all-or-nothing: a stale version anywhere is ErrConflict and nothing is
// written. It returns the last sequence.
func (s *Store) AppendChanges(ctx context.Context, realm string, meta Meta, changes []Change, rules []domain.SignedRule) (uint64, error) {
	msgs := make([]*nats.Msg, 0, len(changes)+len(rules))
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
		}
		msgs = append(msgs, m)
	}
	for _, r := range rules {
		m := nats.NewMsg(RevocationsSubject(realm))
		m.Data = r.Body
		if r.JWS != "" {
			m.Header.Set(domain.RuleJWSHeader, r.JWS)
		}
		s.signMsg(m.Subject, m.Data, m.Header.Set)
		msgs = append(msgs, m)
	}
	return retryInFlight(ctx, func() (uint64, error) { return s.publishAtomic(ctx, realm, msgs) })
}

// AppendRevocation writes one revocation event together with its rule.
func (s *Store) AppendRevocation(ctx context.Context, realm string, agg domain.AggregateRef, expected uint64, meta Meta, event domain.Payload, rule domain.SignedRule) (uint64, error) {
	return s.AppendChanges(ctx, realm, meta, []Change{{Aggregate: agg, Expected: expected, Payload: event}}, []domain.SignedRule{rule})
}
