package projections

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/latchkeyhq/latchkey/eventstore"
)

// The audit log is no read model held in memory: it is the realm's stream
// itself, read backwards a window of messages at a time (newest first), or
// tailed live (eventstore.ReadRange and TailRaw: neither leaves a consumer
// behind).

const (
	// auditMinWindow and auditWindowEnvelopes size the windows of a scan:
	// they grow towards eventstore.MaxPage messages, and shrink where
	// messages hold many group-committed token events.
	auditMinWindow       = 32
	auditWindowEnvelopes = 4096
	// TypeUndecodable is the type of the entry that stands for a stored
	// message that could not be decoded: the audit log shows it rather than
	// hide it.
	TypeUndecodable = "audit.undecodable"
	// TypeForeign is the type of the entry that stands for a foreign
	// message, one without a valid MAC: the audit log shows where it is
	// stored, never what it holds, and never as an event of the realm's.
	TypeForeign = "stream.foreign_message"
)

// AuditTop is where a scan of the newest entries starts: after the
// stream's last message or, with f.Until, after the last message that may
// hold an entry not newer than Until (a binary search on event times, with
// AuditClockSkew to spare).
func AuditTop(ctx context.Context, store *eventstore.Store, realm string, f *AuditFilter) (AuditPos, error) {
	last, err := store.LastSeq(ctx, realm)
	if err != nil {
		return AuditPos{}, err
	}
	top := last + 1
	if f.Until.IsZero() {
		return AuditPos{top, 0}, nil
	}
	limit := f.Until.Add(AuditClockSkew)
	// The first message whose events are newer than limit; a probe that
	// finds no event counts as not newer, which only starts the scan later.
	lo, hi := uint64(1), top
	for lo < hi {
		mid := lo + (hi-lo)/2
		envs, err := ReadAuditWindow(ctx, store, realm, mid, min(mid+3, last))
		if err != nil {
			return AuditPos{}, err
		}
		if len(envs) > 0 && envs[0].Time.After(limit) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return AuditPos{lo, 0}, nil
}

// ScanAudit walks a realm's history backwards from pos and calls visit
// with each entry f selects, newest first, and the entry's own position
// (a scan from it continues with the entries after it in this order). It
// stops when visit returns false, at the start of the history or of the
// Since range, or once budget messages were read (0: no bound); window,
// when set, runs after each window (to flush a stream). It returns the
// position to continue from and whether anything may be left there.
func ScanAudit(ctx context.Context, store *eventstore.Store, realm string, f *AuditFilter, pos AuditPos, budget uint64,
	visit func(AuditEntry, AuditPos) bool, window func() error) (AuditPos, bool, error) {
	// A position beyond the stream (a forged cursor) starts at its end; the
	// scan ends at the stream's first message (retention may have removed
	// the oldest ones).
	first, last, _, err := store.StreamBounds(ctx, realm)
	if err != nil {
		return pos, true, err
	}
	if pos.Seq > last+1 {
		pos = AuditPos{Seq: last + 1}
	}
	first = max(first, 1)
	size := uint64(auditMinWindow)
	var scanned uint64
	for !pos.AtStart() && (pos.Seq > first || pos.Idx > 0) {
		if budget > 0 && scanned >= budget {
			return pos, true, nil
		}
		hi := pos.Seq - 1 // the window's last message
		if pos.Idx > 0 {
			hi = pos.Seq
		}
		lo := first
		if hi >= first+size {
			lo = hi - size + 1
		}
		envs, err := ReadAuditWindow(ctx, store, realm, lo, hi)
		if err != nil {
			return pos, true, err
		}
		scanned += hi - lo + 1
		// A message's events share its sequence: number them.
		idxs := make([]int, len(envs))
		for i := 1; i < len(envs); i++ {
			if envs[i].Seq == envs[i-1].Seq {
				idxs[i] = idxs[i-1] + 1
			}
		}
		for i := len(envs) - 1; i >= 0; i-- {
			env := &envs[i]
			at := AuditPos{env.Seq, idxs[i]}
			if !at.Before(pos) {
				continue // already returned
			}
			if f.beforeSince(env) {
				return AuditPos{}, false, nil
			}
			if f.Match(env) && !visit(AuditEntryOf(*env), at) {
				return at, true, nil
			}
		}
		pos = AuditPos{lo, 0}
		if window != nil {
			if err := window(); err != nil {
				return pos, true, err
			}
		}
		// Grow towards full windows; shrink where messages are dense.
		size = min(size*4, eventstore.MaxPage)
		if n := uint64(len(envs)); n > auditWindowEnvelopes {
			size = max(auditMinWindow, (hi-lo+1)*auditWindowEnvelopes/n)
		}
	}
	return pos, false, nil
}

// ReadAuditWindow returns the events of the realm's messages lo..hi, in
// stream order, each stamped with its message's sequence. Revocation rules
// are skipped; a message that cannot be decoded gives one TypeUndecodable
// event, a foreign one a TypeForeign event.
func ReadAuditWindow(ctx context.Context, store *eventstore.Store, realm string, lo, hi uint64) ([]eventstore.Envelope, error) {
	msgs, err := store.ReadRange(ctx, realm, lo, hi)
	if err != nil {
		return nil, err
	}
	out := make([]eventstore.Envelope, 0, len(msgs))
	for i := range msgs {
		if !msgs[i].NoEvents() {
			out = append(out, auditEnvelopes(realm, &msgs[i])...)
		}
	}
	return out, nil
}

// auditEnvelopes are a message's events, or the one that stands for it
// when it is foreign or cannot be decoded.
func auditEnvelopes(realm string, m *eventstore.RawMsg) []eventstore.Envelope {
	if m.Foreign {
		return []eventstore.Envelope{standIn(TypeForeign, realm, m)}
	}
	envs, err := m.Envelopes()
	if err != nil {
		return []eventstore.Envelope{standIn(TypeUndecodable, realm, m)}
	}
	return envs
}

// standIn is the entry of type typ that stands for a stored message that
// holds no event: where it is stored and when, nothing of its body.
func standIn(typ, realm string, m *eventstore.RawMsg) eventstore.Envelope {
	target := ""
	// lk.<realm>.<type>.<id>.<name...>
	if parts := strings.SplitN(strings.TrimPrefix(m.Subject, "lk."+realm+"."), ".", 3); len(parts) >= 2 {
		target = parts[0] + "/" + parts[1]
	}
	data, _ := json.Marshal(map[string]any{"subject": m.Subject})
	return eventstore.Envelope{Seq: m.Seq, Type: typ, Realm: realm, Aggregate: target, Time: m.Time.UTC(), Data: data}
}

// AuditTail is a live feed of a realm's events for the audit log.
type AuditTail struct {
	sub eventstore.RawSubscription
}

// TailAudit calls fn, one message at a time and in stream order, with the
// events of every message of the realm from fromSeq on, then of each new
// one as it is stored (a rule with none; undecodable and foreign messages
// as for ReadAuditWindow). fn may block. Stop ends the feed and deletes its
// consumer at once.
func TailAudit(ctx context.Context, store *eventstore.Store, realm string, fromSeq uint64, fn func(seq uint64, events []eventstore.Envelope)) (*AuditTail, error) {
	sub, err := store.TailRaw(ctx, realm, fromSeq, func(m *eventstore.RawMsg) {
		if m.NoEvents() {
			fn(m.Seq, nil)
			return
		}
		fn(m.Seq, auditEnvelopes(realm, m))
	}, func(error) {}) // a delivery without its sequence cannot be placed: skipped
	if err != nil {
		return nil, err
	}
	return &AuditTail{sub: sub}, nil
}

// Stop ends the feed and deletes its consumer; a call of fn already in
// progress may still finish.
func (t *AuditTail) Stop() { t.sub.Stop() }
