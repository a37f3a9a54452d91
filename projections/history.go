package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// HistoryScan narrows a read of a realm's events in stream order, as
// stored (`latchkey replay`).
type HistoryScan struct {
	// FromSeq is the first sequence to read.
	FromSeq uint64
	// Filter selects events as the audit API does; Since and Until bound
	// the read with AuditClockSkew to spare (a message is stored a little
	// after its events happened, on another replica's clock, or coalesced).
	Filter AuditFilter
	// Heads decodes each event's head even when no filter needs it.
	Heads bool
	// JSON prepares each event's JSON line (StoredEvent.JSON).
	JSON bool
	// OnStart is told how many messages the read expects; OnMessage, after
	// each message, how many events it held (for progress reports).
	OnStart   func(expected uint64)
	OnMessage func(events int)
}

// StoredEvent is one event of a history scan. It is only valid during the
// call it is passed to.
type StoredEvent struct {
	Seq     uint64
	Subject string
	// Head is what the filters read: set when a filter is, or Heads.
	Head EventHead
	// JSON, when asked for, is the stored envelope without its secret
	// fields (domain.AppendRedactedJSON), with its "seq": the bytes
	// json.Marshal gives for the redacted envelope with Seq set.
	JSON []byte
	// Undecodable says the stored body is not an envelope; Raw is the body.
	Undecodable bool
	Raw         []byte
	// Foreign says the message has no valid MAC: someone else wrote it.
	// Only where it is stored is passed on (Seq, Subject): nothing of what
	// it holds, which is no event of the realm's.
	Foreign bool
}

// EventHead is the part of an envelope the filters and a table need.
type EventHead struct {
	Type       string    `json:"type"`
	Aggregate  string    `json:"aggregate"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor"`
	OnBehalfOf string    `json:"on_behalf_of"`
	ClientID   string    `json:"client_id"`
}

// HistoryStats say what a history scan read and passed on.
type HistoryStats struct {
	Messages, Events, Matched uint64
}

// ScanHistory reads a realm's events in stream order and calls fn with each
// one the scan selects. A stored body that is not an envelope is passed on
// as Undecodable, and a foreign message (eventstore.RawMsg.Foreign) as
// Foreign, unless a filter on what events say is set (they match none); a
// time window alone still shows them, since they may be what an auditor
// looks for. An error from fn ends the scan.
func ScanHistory(ctx context.Context, store *eventstore.Store, realm string, opts HistoryScan, fn func(ev *StoredEvent) error) (HistoryStats, error) {
	h := historyReader{opts: opts, fn: fn, decode: opts.Filter != AuditFilter{} || opts.Heads}
	f := &h.opts.Filter
	scan := eventstore.ScanOptions{FromSeq: opts.FromSeq, OnStart: opts.OnStart}
	if !f.Since.IsZero() {
		scan.Since = f.Since.Add(-AuditClockSkew)
	}
	_, err := store.Scan(ctx, realm, scan, func(m *eventstore.RawMsg) error {
		h.stats.Messages++
		if !f.Until.IsZero() && m.Time.After(f.Until.Add(AuditClockSkew)) {
			return eventstore.ErrStopScan
		}
		if m.NoEvents() {
			h.onMessage(0)
			return nil
		}
		if m.Foreign {
			h.onMessage(0)
			h.ev = StoredEvent{Seq: m.Seq, Subject: m.Subject, Foreign: true}
			return h.notAnEvent()
		}
		n, err := h.message(m)
		h.stats.Events += uint64(n)
		h.onMessage(n)
		return err
	})
	return h.stats, err
}

type historyReader struct {
	opts   HistoryScan
	fn     func(*StoredEvent) error
	decode bool
	stats  HistoryStats
	ev     StoredEvent
	buf    []byte
}

func (h *historyReader) onMessage(events int) {
	if h.opts.OnMessage != nil {
		h.opts.OnMessage(events)
	}
}

// message passes on the message's events the scan selects and returns how
// many it held.
func (h *historyReader) message(m *eventstore.RawMsg) (int, error) {
	n := 0
	for data := m.Data; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if err := h.event(m, line); err != nil {
			return n + 1, err
		}
	}
	return n, nil
}

func (h *historyReader) event(m *eventstore.RawMsg, line []byte) error {
	h.ev = StoredEvent{Seq: m.Seq, Subject: m.Subject, Raw: line}
	if h.decode {
		// A value absent from the raw bytes cannot match: skip without
		// decoding.
		f := &h.opts.Filter
		for _, want := range []string{f.ClientID, f.Actor, f.OnBehalfOf, f.Target, f.Type} {
			if want != "" && !bytes.Contains(line, []byte(want)) {
				return nil
			}
		}
		if err := json.Unmarshal(line, &h.ev.Head); err != nil {
			h.ev.Undecodable = true
			return h.notAnEvent()
		}
		v := &h.ev.Head
		env := eventstore.Envelope{Type: v.Type, Aggregate: v.Aggregate, Time: v.Time, Actor: v.Actor, OnBehalfOf: v.OnBehalfOf, ClientID: v.ClientID}
		if !f.Match(&env) {
			return nil
		}
	}
	if h.opts.JSON {
		ok := false
		if h.buf, ok = domain.AppendRedactedJSON(h.buf[:0], line); !ok || len(h.buf) < 2 || h.buf[0] != '{' {
			h.ev.Undecodable = true
			return h.notAnEvent()
		}
		h.buf = h.buf[:len(h.buf)-1] // the closing '}'
		if len(h.buf) > 1 {
			h.buf = append(h.buf, ',')
		}
		h.buf = append(h.buf, `"seq":`...)
		h.buf = strconv.AppendUint(h.buf, m.Seq, 10)
		h.ev.JSON = append(h.buf, '}')
	}
	h.stats.Matched++
	return h.fn(&h.ev)
}

// notAnEvent passes on a message that holds no event (undecodable, or
// foreign), unless a filter on what events say is set.
func (h *historyReader) notAnEvent() error {
	f := h.opts.Filter
	f.Since, f.Until = time.Time{}, time.Time{}
	if f != (AuditFilter{}) {
		return nil
	}
	h.ev.Head = EventHead{}
	h.stats.Matched++
	return h.fn(&h.ev)
}
