package projections

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey/eventstore"
)

// AuditClockSkew is how far out of order, by their time, events may sit in
// the stream (writers on several replicas, each with its own clock). A
// scan for Since=T stops at the first event older than T minus this; one
// for Until=T starts at the first message newer than T plus this.
const AuditClockSkew = 5 * time.Minute

// AuditFilter selects audit entries; empty fields select all.
type AuditFilter struct {
	ClientID string
	Actor    string
	// OnBehalfOf: the user a user-delegated token acted for.
	OnBehalfOf string
	// Type is an event type, or a prefix of one when TypePrefix is set.
	Type       string
	TypePrefix bool
	// Target is an aggregate ("client/<id>"), or a prefix of one.
	Target       string
	TargetPrefix bool
	// Since and Until bound the event time, both inclusive.
	Since, Until time.Time
}

// Match reports whether the filter selects an event.
func (f *AuditFilter) Match(env *eventstore.Envelope) bool {
	switch {
	case f.ClientID != "" && env.ClientID != f.ClientID,
		f.Actor != "" && env.Actor != f.Actor,
		f.OnBehalfOf != "" && env.OnBehalfOf != f.OnBehalfOf,
		f.Type != "" && !matchValue(env.Type, f.Type, f.TypePrefix),
		f.Target != "" && !matchValue(env.Aggregate, f.Target, f.TargetPrefix),
		!f.Since.IsZero() && env.Time.Before(f.Since),
		!f.Until.IsZero() && env.Time.After(f.Until):
		return false
	}
	return true
}

// AuditPattern reads a filter value: one ending in "*", or in sep, is a prefix.
func AuditPattern(v, sep string) (string, bool) {
	if s, ok := strings.CutSuffix(v, "*"); ok {
		return s, true
	}
	return v, v != "" && strings.HasSuffix(v, sep)
}

func matchValue(v, want string, prefix bool) bool {
	if prefix {
		return strings.HasPrefix(v, want)
	}
	return v == want
}

// beforeSince reports whether a backwards scan may stop at env: it is
// older than Since by more than the clock skew allowed between writers.
func (f *AuditFilter) beforeSince(env *eventstore.Envelope) bool {
	return !f.Since.IsZero() && env.Time.Before(f.Since.Add(-AuditClockSkew))
}

// AuditPos is a place in a realm's history, between two entries: a scan
// from it returns the entries strictly before it, newest first. An entry
// sits at its message's sequence and its index within the message (one
// message may hold several group-committed token events); Idx 0 means
// "before message Seq".
type AuditPos struct {
	Seq uint64
	Idx int
}

// AtStart reports whether nothing lies before the position.
func (p AuditPos) AtStart() bool { return p.Seq <= 1 && p.Idx == 0 }

// Before reports whether p comes strictly before q in the history.
func (p AuditPos) Before(q AuditPos) bool {
	return p.Seq < q.Seq || (p.Seq == q.Seq && p.Idx < q.Idx)
}

const auditCursorVersion = "a1"

// Cursor encodes the position as an opaque token.
func (p AuditPos) Cursor() string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s.%d.%d", auditCursorVersion, p.Seq, p.Idx))
}

// ParseAuditCursor reads a token made by Cursor.
func ParseAuditCursor(s string) (AuditPos, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return AuditPos{}, false
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 || parts[0] != auditCursorVersion {
		return AuditPos{}, false
	}
	seq, err1 := strconv.ParseUint(parts[1], 10, 64)
	idx, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || seq == 0 || idx < 0 {
		return AuditPos{}, false
	}
	return AuditPos{seq, idx}, true
}
