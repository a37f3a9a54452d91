package projections

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// AuditEntry is one event as the audit log shows it: who did what, through
// which OAuth client, to what, from where, in one readable line, with the
// data it changed. It never holds a secret, a hash or a token.
type AuditEntry struct {
	Seq  uint64    `json:"seq"`
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	Type string    `json:"type"`
	// Actor is "user:<id>", "client:<id>" or "system".
	Actor string `json:"actor"`
	// OnBehalfOf is the user who authorized the client, for actions done
	// through a user-delegated token.
	OnBehalfOf string `json:"on_behalf_of"`
	// ClientID is the OAuth client the action came through; empty for
	// browser and system actions.
	ClientID string `json:"client_id"`
	// Target is the aggregate acted on: "client/<id>", "node/<slug>",
	// "realm/<name>".
	Target    string `json:"target"`
	IP        string `json:"ip"`
	RequestID string `json:"request_id"`
	Summary   string `json:"summary"`
	// Changes lists, for an update (an event carrying "before" and "after"),
	// every field that differs; for any other event, its data fields, each
	// with After only.
	Changes []FieldChange `json:"changes"`
}

// FieldChange is one field of an audit entry's data. Before and After are
// JSON; a field an update did not have before (or no longer has) is null.
// For a list, Added and Removed say what the update put in or took out;
// Before and After still show the whole list.
type FieldChange struct {
	Field string `json:"field"`
	// Privilege marks the fields that decide what a client may do.
	Privilege bool            `json:"privilege,omitempty"`
	Before    json.RawMessage `json:"before,omitempty"`
	After     json.RawMessage `json:"after,omitempty"`
	Added     []any           `json:"added,omitempty"`
	Removed   []any           `json:"removed,omitempty"`
}

// omittedFields are data fields left out of an event type's entry: the
// hash chain and signature of a checkpoint (bulky, and hashes; `latchkey
// replay --verify` checks them).
var omittedFields = map[string][]string{
	"audit.checkpoint": {"head", "prev", "fp", "exp", "jws"},
}

// privilegeFields are the client settings that decide what its tokens
// reach; their changes are always shown in full.
var privilegeFields = []string{
	"scopes", "access_preset", "roles", "team_restrictions", "team_selection", "owner_node",
	"grant_types", "redirect_uris", "type", "kind", "token_endpoint_auth_method",
	"access_token_lifetime", "issue_refresh_tokens", "refresh_token_lifetime", "refresh_reuse_grace",
	"post_logout_redirect_uris", "id_token_signed_response_alg", "memberships",
}

// AuditEntryOf turns any event into its audit entry. It is pure: the same
// envelope always gives the same entry. An event of an unknown type still
// gives an entry, whose summary is its type.
func AuditEntryOf(env eventstore.Envelope) AuditEntry {
	e := AuditEntry{
		Seq: env.Seq, ID: env.ID, Time: env.Time.UTC(), Type: env.Type,
		Actor: env.Actor, OnBehalfOf: env.OnBehalfOf, ClientID: env.ClientID,
		Target: env.Aggregate, IP: env.IP, RequestID: env.RequestID,
	}
	privileged := strings.HasPrefix(env.Type, "client.") || strings.HasPrefix(env.Type, "user.")
	e.Changes = auditChanges(env.Data, env.Type, privileged)
	e.Summary = auditSummary(env, e.Changes)
	if e.Changes == nil {
		e.Changes = []FieldChange{}
	}
	return e
}

// ---- secrets ----

// isSecretField reports whether a data field may hold a secret, a one-way
// hash of one, or a token: such fields are never copied into an entry.
func isSecretField(name string) bool {
	n := strings.ToLower(name)
	for _, part := range []string{"hash", "secret", "password", "private", "credential"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	switch n {
	case "token", "access_token", "refresh_token", "id_token", "code", "code_verifier", "code_challenge",
		"d", "p", "q", "dp", "dq", "qi", "k":
		return true
	}
	return false
}

// redact removes secret fields from a decoded JSON value, at any depth.
func redact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		domain.RedactSecrets(x)
		for k, val := range x {
			if isSecretField(k) {
				delete(x, k)
				continue
			}
			x[k] = redact(val)
		}
	case []any:
		for i := range x {
			x[i] = redact(x[i])
		}
	}
	return v
}

// ---- changes ----

// field is one top-level member of a JSON object, in document order.
type field struct {
	name  string
	value any
}

// objectFields decodes a JSON object into its members in document order,
// each redacted; secret members are left out. A value that is not an
// object gives nil.
func objectFields(raw []byte) ([]field, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var out []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		name, _ := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		if isSecretField(name) {
			continue
		}
		out = append(out, field{name, redact(v)})
	}
	return out, true
}

func lookup(fs []field, name string) (any, bool) {
	for _, f := range fs {
		if f.name == name {
			return f.value, true
		}
	}
	return nil, false
}

// auditChanges reads an event's data: an update ({"before": {...},
// "after": {...}}) gives the fields that differ, then any other member;
// an update of one list ({"before": [...], "after": [...]}) gives one
// change named after the event; anything else gives its fields.
// privileged says whether the fields that decide what a client or user may
// reach are marked.
func auditChanges(data json.RawMessage, eventType string, privileged bool) []FieldChange {
	top, ok := objectFields(data)
	if !ok {
		return nil
	}
	if omit := omittedFields[eventType]; omit != nil {
		top = slices.DeleteFunc(top, func(f field) bool { return slices.Contains(omit, f.name) })
	}
	mark := func(name string) bool { return privileged && slices.Contains(privilegeFields, name) }
	out := []FieldChange{}
	bv, hasB := lookup(top, "before")
	av, hasA := lookup(top, "after")
	bm, okB := bv.(map[string]any)
	am, okA := av.(map[string]any)
	bl, lB := asList(bv)
	al, lA := asList(av)
	isUpdate := hasB && hasA && (okB && okA || lB && lA)
	switch {
	case !isUpdate:
	case okB && okA:
		out = diff(data, bm, am, mark)
	case !sameValue(bv, av):
		_, name, _ := strings.Cut(eventType, ".")
		name = strings.TrimSuffix(name, "_changed")
		out = append(out, FieldChange{
			Field: name, Privilege: mark(name), Before: mustJSON(bv), After: mustJSON(av),
			Added: minus(al, bl), Removed: minus(bl, al),
		})
	}
	for _, f := range top {
		if isUpdate && (f.name == "before" || f.name == "after") {
			continue
		}
		out = append(out, FieldChange{Field: f.name, Privilege: mark(f.name), After: mustJSON(f.value)})
	}
	return out
}

// diff lists the fields of before and after that differ, in the order the
// payload holds them.
func diff(data json.RawMessage, before, after map[string]any, mark func(string) bool) []FieldChange {
	var order []string
	var shape struct {
		Before json.RawMessage `json:"before"`
		After  json.RawMessage `json:"after"`
	}
	if json.Unmarshal(data, &shape) == nil {
		for _, raw := range []json.RawMessage{shape.Before, shape.After} {
			fs, _ := objectFields(raw)
			for _, f := range fs {
				if !slices.Contains(order, f.name) {
					order = append(order, f.name)
				}
			}
		}
	}
	out := []FieldChange{}
	for _, name := range order {
		b, a := before[name], after[name]
		if sameValue(b, a) {
			continue
		}
		c := FieldChange{Field: name, Privilege: mark(name), Before: mustJSON(b), After: mustJSON(a)}
		bl, bIsList := asList(b)
		al, aIsList := asList(a)
		if bIsList && aIsList {
			c.Added = minus(al, bl)
			c.Removed = minus(bl, al)
		}
		out = append(out, c)
	}
	return out
}

// sameValue compares decoded JSON values; null, a missing value, an empty
// list and an empty object are all "nothing".
func sameValue(a, b any) bool {
	if empty(a) && empty(b) {
		return true
	}
	return bytes.Equal(mustJSON(a), mustJSON(b))
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case []any:
		return x, true
	}
	return nil, false
}

// minus is the members of a not in b, in a's order.
func minus(a, b []any) []any {
	var out []any
	for _, x := range a {
		jx := mustJSON(x)
		if !slices.ContainsFunc(b, func(y any) bool { return bytes.Equal(jx, mustJSON(y)) }) {
			out = append(out, x)
		}
	}
	return out
}

// mustJSON encodes a decoded JSON value (maps encode with sorted keys, so
// equal values give equal bytes).
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

// ---- summaries ----

// unixTime renders Unix seconds for a summary.
func unixTime(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }

func words(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

func withReason(s, reason string) string {
	if reason == "" {
		return s
	}
	return s + " (" + reason + ")"
}

// aggregateID is the id part of "type/id".
func aggregateID(agg string) string {
	if ref, ok := domain.ParseAggregateRef(agg); ok {
		return ref.ID
	}
	return agg
}

// auditSummary is the entry's one readable line.
func auditSummary(env eventstore.Envelope, changes []FieldChange) string {
	p, err := domain.DecodePayload(env.Type, env.Data)
	if err != nil {
		return fieldSummary(env, changes)
	}
	switch e := p.(type) {
	case domain.RealmCreated:
		return fmt.Sprintf("realm %q created", e.Name)
	case domain.KeyAdded:
		return fmt.Sprintf("signing key %s added (%s)", e.Kid, e.Alg)
	case domain.KeyDeactivated:
		return fmt.Sprintf("signing key %s deactivated (verifies tokens until %s)", e.Kid, unixTime(e.VerifyUntil))
	case domain.ScopeDefined:
		if e.Description == "" {
			return fmt.Sprintf("scope %q defined", e.Name)
		}
		return fmt.Sprintf("scope %q defined: %s", e.Name, e.Description)
	case domain.ScopeRemoved:
		return fmt.Sprintf("scope %q removed", e.Name)
	case domain.RealmSettingsChanged:
		if len(changes) == 0 {
			return "realm settings changed"
		}
		return "realm settings changed: " + fieldNames(changes)
	case domain.UsernameClaimed:
		return fmt.Sprintf("username %q claimed by user %s", e.Username, e.UserID)
	case domain.UsernameReleased:
		return fmt.Sprintf("username %q released", e.Username)
	case domain.NodeCreated:
		s := fmt.Sprintf("%s %q created (%s)", e.Kind, e.Slug, e.Name)
		if e.Parent != "" {
			s += " under " + e.Parent
		}
		return s
	case domain.NodeRenamed:
		return fmt.Sprintf("node %q renamed to %q", aggregateID(env.Aggregate), e.Name)
	case domain.NodeDeleted:
		return fmt.Sprintf("node %q deleted", aggregateID(env.Aggregate))
	case domain.ClientCreated:
		kind := e.Kind
		if kind == "" {
			kind = e.Type
		}
		return fmt.Sprintf("client %q created (%s, scopes %s)", e.Name, kind, words(e.Scopes))
	case domain.ClientUpdated:
		if len(changes) == 0 {
			return fmt.Sprintf("client %q updated (no change)", e.After.Name)
		}
		return fmt.Sprintf("client %q updated: %s", e.After.Name, fieldNames(changes))
	case domain.ClientSecretRotated:
		if e.PreviousExpiresAt <= 0 {
			return "secret rotated (previous invalid at once)"
		}
		return fmt.Sprintf("secret rotated (previous valid until %s)", unixTime(e.PreviousExpiresAt))
	case domain.ClientDisabled:
		return withReason(fmt.Sprintf("client disabled; every token issued before %s revoked", unixTime(e.TokensRevokedBefore)), e.Reason)
	case domain.ClientEnabled:
		return "client enabled"
	case domain.ClientDeleted:
		return fmt.Sprintf("client deleted; every token issued before %s revoked", unixTime(e.TokensRevokedBefore))
	case domain.ClientTokensRevoked:
		return withReason(fmt.Sprintf("every token of the client issued before %s revoked", unixTime(e.IssuedBefore)), e.Reason)
	case domain.TokenIssued:
		to := env.ClientID
		if to == "" {
			to = aggregateID(env.Aggregate)
		}
		s := "token issued to " + to
		if e.Subject != "" && e.Subject != to {
			s += " for " + e.Subject
		}
		scope := e.Scope
		if scope == "" {
			scope = "none"
		}
		return fmt.Sprintf("%s (scope %s, expires %s)", s, scope, unixTime(e.ExpiresAt))
	case domain.TokenRevoked:
		return withReason("token "+e.JTI+" revoked", e.Reason)
	case domain.TokenUsed:
		return "token " + e.JTI + " used"
	}
	return fieldSummary(env, changes)
}

// fieldSummaries describe events of users, authorization codes, grants and
// browser sessions from their (redacted) data fields.
var fieldSummaries = map[string]func(f fieldsOf, changes []FieldChange) string{
	"user.created": func(f fieldsOf, _ []FieldChange) string {
		return fmt.Sprintf("user %q created", f.str("username"))
	},
	"user.updated": func(f fieldsOf, changes []FieldChange) string {
		return "user profile updated: " + changedNames(changes)
	},
	"user.password_changed": func(fieldsOf, []FieldChange) string { return "password changed" },
	"user.memberships_changed": func(_ fieldsOf, changes []FieldChange) string {
		return "memberships changed: " + changedNames(changes)
	},
	"user.disabled": func(f fieldsOf, _ []FieldChange) string {
		return "user disabled; every token issued before " + f.time("tokens_revoked_before") + " revoked"
	},
	"user.enabled": func(fieldsOf, []FieldChange) string { return "user enabled" },
	"user.deleted": func(f fieldsOf, _ []FieldChange) string {
		return "user deleted; every token issued before " + f.time("tokens_revoked_before") + " revoked"
	},
	"user.locked": func(f fieldsOf, _ []FieldChange) string {
		return "sign-in locked until " + f.time("until") + " after repeated failures"
	},
	"user.consent_granted": func(f fieldsOf, _ []FieldChange) string {
		return fmt.Sprintf("consent granted to client %s (scopes %s)", f.str("client_id"), words(f.strs("scopes")))
	},
	"code.issued": func(f fieldsOf, _ []FieldChange) string {
		return fmt.Sprintf("authorization code issued to client %s for user %s (scope %s, expires %s)",
			f.str("client_id"), f.str("user_id"), orNone(f.str("scope")), f.time("exp"))
	},
	"code.redeemed": func(f fieldsOf, _ []FieldChange) string {
		return "authorization code redeemed (grant " + f.str("grant_id") + ")"
	},
	"grant.created": func(f fieldsOf, _ []FieldChange) string {
		return fmt.Sprintf("grant created: client %s for user %s (scope %s)", f.str("client_id"), f.str("user_id"), orNone(f.str("scope")))
	},
	"grant.refreshed": func(f fieldsOf, _ []FieldChange) string {
		return fmt.Sprintf("refresh token rotated (scope %s, expires %s)", orNone(f.str("scope")), f.time("refresh_exp"))
	},
	"grant.revoked": func(f fieldsOf, _ []FieldChange) string {
		return withReason(fmt.Sprintf("grant revoked with its refresh token and %d access tokens", len(f.strs("jtis"))), f.str("reason"))
	},
	"session.created": func(f fieldsOf, _ []FieldChange) string {
		return fmt.Sprintf("browser session started for user %s (%s on %s)", f.str("user_id"), orNone(f.str("browser")), orNone(f.str("device")))
	},
	"session.touched": func(fieldsOf, []FieldChange) string { return "browser session active" },
	"session.ended":   func(f fieldsOf, _ []FieldChange) string { return withReason("browser session ended", f.str("reason")) },
	"audit.checkpoint": func(f fieldsOf, _ []FieldChange) string {
		var gaps []any
		_ = json.Unmarshal(f["gaps"], &gaps)
		s := fmt.Sprintf("tamper-evidence checkpoint over messages %s to %s (%s chained", f.raw("from_seq"), f.raw("to_seq"), f.raw("messages"))
		if len(gaps) > 0 {
			s += fmt.Sprintf(", %d gap(s)", len(gaps))
		}
		return s + "), signed"
	},
	TypeUndecodable: func(f fieldsOf, _ []FieldChange) string {
		return "the message stored on " + f.str("subject") + " could not be decoded"
	},
}

// fieldSummary describes an event from its data fields; an event of an
// unknown type is described by its type.
func fieldSummary(env eventstore.Envelope, changes []FieldChange) string {
	fn, ok := fieldSummaries[env.Type]
	if !ok {
		return env.Type
	}
	f := fieldsOf{}
	for _, c := range changes {
		if c.Before == nil {
			f[c.Field] = c.After
		}
	}
	return fn(f, changes)
}

// fieldsOf are an event's data fields as JSON.
type fieldsOf map[string]json.RawMessage

func (f fieldsOf) str(name string) string {
	var s string
	_ = json.Unmarshal(f[name], &s)
	return s
}

// raw renders a scalar field as it is in the JSON ("?" when absent).
func (f fieldsOf) raw(name string) string {
	if v, ok := f[name]; ok {
		return string(v)
	}
	return "?"
}

func (f fieldsOf) strs(name string) []string {
	var s []string
	_ = json.Unmarshal(f[name], &s)
	return s
}

func (f fieldsOf) time(name string) string {
	var n int64
	if json.Unmarshal(f[name], &n) != nil || n == 0 {
		return "?"
	}
	return unixTime(n)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// fieldNames lists the fields of an update's changes.
func fieldNames(changes []FieldChange) string {
	names := make([]string, len(changes))
	for i, c := range changes {
		names[i] = c.Field
	}
	return strings.Join(names, ", ")
}

func changedNames(changes []FieldChange) string {
	var names []string
	for _, c := range changes {
		if c.Before != nil {
			names = append(names, c.Field)
		}
	}
	if len(names) == 0 {
		return "no change"
	}
	return strings.Join(names, ", ")
}

// ---- reading the audit log from the stream ----
//
// The audit log is no read model held in memory: it is the realm's stream
// itself, read backwards a window of messages at a time (newest first), or
// tailed live. Each window is read with a consumer of its own that is
// deleted as soon as the window is read, so paging through a long history
// leaves no consumer behind (a stream allows 1,000 by default).

const (
	// auditConsumerIdle: a consumer left behind (process killed mid-read)
	// is removed by the server after this.
	auditConsumerIdle = time.Minute
	// auditFetchWait bounds one wait for messages the stream already holds.
	auditFetchWait = 5 * time.Second
	// auditMinWindow and auditWindowEnvelopes size the windows of a scan:
	// they grow towards eventstore.MaxPage messages, and shrink where
	// messages hold many group-committed token events.
	auditMinWindow       = 32
	auditWindowEnvelopes = 4096
	// AuditClockSkew is how far out of order, by their time, events may sit
	// in the stream (writers on several replicas, each with its own clock).
	// A scan for Since=T stops at the first event older than T minus this;
	// one for Until=T starts at the first message newer than T plus this.
	AuditClockSkew = 5 * time.Minute
	// TypeUndecodable is the type of the entry that stands for a stored
	// message that could not be decoded: the audit log shows it rather than
	// hide it.
	TypeUndecodable = "audit.undecodable"
)

// AuditFilter selects audit entries; empty fields select all.
type AuditFilter struct {
	ClientID string
	Actor    string
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
// event. The consumer it reads with is deleted before it returns.
func ReadAuditWindow(ctx context.Context, store *eventstore.Store, realm string, lo, hi uint64) ([]eventstore.Envelope, error) {
	if lo == 0 {
		lo = 1
	}
	if hi < lo {
		return nil, nil
	}
	js, stream := store.JetStream(), eventstore.StreamName(realm)
	cons, err := js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       lo,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: auditConsumerIdle,
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, eventstore.ErrNoRealm
		}
		return nil, err
	}
	defer deleteConsumer(ctx, js, stream, cons.CachedInfo().Name)
	want := min(cons.CachedInfo().NumPending, hi-lo+1)
	rules := eventstore.RevocationsSubject(realm)
	out := make([]eventstore.Envelope, 0, want)
	for read := uint64(0); read < want; {
		batch, err := cons.Fetch(int(min(want-read, eventstore.MaxPage)), jetstream.FetchMaxWait(auditFetchWait))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			seq := md.Sequence.Stream
			if seq > hi || m.Subject() == rules {
				continue // beyond the window (messages in it were removed), or a rule
			}
			envs, err := eventstore.DecodeMessage(m.Data(), seq)
			if err != nil {
				envs = []eventstore.Envelope{undecodable(realm, m.Subject(), seq, md.Timestamp)}
			}
			out = append(out, envs...)
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if got == 0 {
			break // the rest expired while being read: the window ends here
		}
		read += uint64(got)
	}
	return out, nil
}

func deleteConsumer(ctx context.Context, js jetstream.JetStream, stream, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = js.DeleteConsumer(ctx, stream, name)
}

// undecodable stands for a stored message that could not be decoded.
func undecodable(realm, subject string, seq uint64, stored time.Time) eventstore.Envelope {
	target := ""
	// lk.<realm>.<type>.<id>.<name...>
	if parts := strings.SplitN(strings.TrimPrefix(subject, "lk."+realm+"."), ".", 3); len(parts) >= 2 {
		target = parts[0] + "/" + parts[1]
	}
	data, _ := json.Marshal(map[string]any{"subject": subject})
	return eventstore.Envelope{Seq: seq, Type: TypeUndecodable, Realm: realm, Aggregate: target, Time: stored.UTC(), Data: data}
}

// AuditTail is a live feed of a realm's events for the audit log.
type AuditTail struct {
	js     jetstream.JetStream
	stream string
	cons   jetstream.Consumer
	cc     jetstream.ConsumeContext
}

// TailAudit calls fn, one message at a time and in stream order, with the
// events of every message of the realm from fromSeq on, then of each new
// one as it is stored (rules skipped, undecodable messages as for
// ReadAuditWindow). fn may block. Stop ends the feed and deletes its
// consumer at once.
func TailAudit(ctx context.Context, store *eventstore.Store, realm string, fromSeq uint64, fn func(seq uint64, events []eventstore.Envelope)) (*AuditTail, error) {
	js, stream := store.JetStream(), eventstore.StreamName(realm)
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       max(fromSeq, 1),
		InactiveThreshold: auditConsumerIdle,
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, eventstore.ErrNoRealm
		}
		return nil, err
	}
	rules := eventstore.RevocationsSubject(realm)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		seq := md.Sequence.Stream
		if m.Subject() == rules {
			fn(seq, nil)
			return
		}
		envs, err := eventstore.DecodeMessage(m.Data(), seq)
		if err != nil {
			envs = []eventstore.Envelope{undecodable(realm, m.Subject(), seq, md.Timestamp)}
		}
		fn(seq, envs)
	})
	if err != nil {
		deleteConsumer(ctx, js, stream, cons.CachedInfo().Name)
		return nil, err
	}
	return &AuditTail{js: js, stream: stream, cons: cons, cc: cc}, nil
}

// Stop ends the feed and deletes its consumer; a call of fn already in
// progress may still finish.
func (t *AuditTail) Stop() {
	t.cc.Stop()
	if info := t.cons.CachedInfo(); info != nil {
		deleteConsumer(context.Background(), t.js, t.stream, info.Name)
	}
}
