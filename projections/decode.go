package projections

import (
	"iter"

	"github.com/latchkeyhq/latchkey/eventstore"
)

// How a stored message becomes the events the folds apply, for the runner
// and for every rebuild alike. A message holds one envelope, several
// group-committed token envelopes, or a revocation rule (no events: it
// restates an event stored beside it). A foreign message, one without a
// valid MAC, holds no events either: the store reports it and no reader
// folds it (eventstore/eventmac.go). A message that is not envelopes is
// skipped whole; an envelope whose payload does not decode is not folded.
// Either way the reader advances past the message, so every reader of the
// same history folds the same events.

// DecodeEvents yields the events of one message's envelopes, in order. An
// envelope whose payload does not decode is passed to skipped (when set)
// instead.
func DecodeEvents(envs []eventstore.Envelope, skipped func(env *eventstore.Envelope, err error)) iter.Seq[Event] {
	return func(yield func(Event) bool) {
		for i := range envs {
			p, err := envs[i].Payload()
			if err != nil {
				if skipped != nil {
					skipped(&envs[i], err)
				}
				continue
			}
			if !yield(Event{Envelope: envs[i], Payload: p}) {
				return
			}
		}
	}
}

// AppendMessageEvents appends the events of one stored message to dst.
// A message that is not envelopes gives an error, and appends none.
func AppendMessageEvents(dst []Event, m *eventstore.RawMsg, skipped func(env *eventstore.Envelope, err error)) ([]Event, error) {
	envs, err := m.Envelopes() // a rule: none
	if err != nil {
		return dst, err
	}
	for ev := range DecodeEvents(envs, skipped) {
		dst = append(dst, ev)
	}
	return dst, nil
}
