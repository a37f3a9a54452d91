package eventstore

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/latchkeyhq/latchkey/domain"
)

// RevocationsSubject is the stable subject on which a realm publishes its
// revocation rules (domain.RevocationRule as JSON) for downstream services.
// It lies inside the realm's stream, so a subscriber can replay the rules
// it missed while it was down.
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

// AppendRevocation writes a revocation event of an aggregate together with
// its rule on the realm's revocations subject, both or neither, and returns
// the last sequence.
func (s *Store) AppendRevocation(ctx context.Context, realm string, agg domain.AggregateRef, meta Meta, event domain.Payload, rule domain.RevocationRule) (uint64, error) {
	if err := validateTarget(realm, agg); err != nil {
		return 0, err
	}
	evMsg, err := buildMsg(realm, agg, meta, event)
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(rule)
	if err != nil {
		return 0, err
	}
	ruleMsg := nats.NewMsg(RevocationsSubject(realm))
	ruleMsg.Data = body
	return s.publishAtomic(ctx, []*nats.Msg{evMsg, ruleMsg})
}
