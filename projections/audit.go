package projections

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// The audit log shows every event of a realm as an AuditEntry: this file
// makes an entry and its field changes from an envelope,
// audit_summary.go its one readable line, audit_filter.go selects entries
// and places cursors, and audit_read.go reads them from the stream.

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
	// Via names the compatibility alias the request came through
	// ("coralogix POST /oauth2/token"); absent for Latchkey's own paths.
	Via     string `json:"via,omitempty"`
	Summary string `json:"summary"`
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
	"post_logout_redirect_uris", "id_token_signed_response_alg", "memberships", "realm_roles",
	"dpop_bound_access_tokens", "require_pushed_authorization_requests",
}

// AuditEntryOf turns any event into its audit entry. It is pure: the same
// envelope always gives the same entry. An event of an unknown type still
// gives an entry, whose summary is its type.
func AuditEntryOf(env eventstore.Envelope) AuditEntry {
	e := AuditEntry{
		Seq: env.Seq, ID: env.ID, Time: env.Time.UTC(), Type: env.Type,
		Actor: env.Actor, OnBehalfOf: env.OnBehalfOf, ClientID: env.ClientID,
		Target: env.Aggregate, IP: env.IP, RequestID: env.RequestID, Via: env.Via,
	}
	privileged := strings.HasPrefix(env.Type, "client.") || strings.HasPrefix(env.Type, "user.")
	e.Changes = auditChanges(env.Data, env.Type, privileged)
	e.Summary = auditSummary(env, e.Changes)
	if e.Changes == nil {
		e.Changes = []FieldChange{}
	}
	return e
}

// field is one top-level member of a JSON object, in document order.
type field struct {
	name  string
	value any
}

// objectFields decodes a JSON object into its members in document order,
// each redacted; secret members (domain.IsSecretField) are left out. A
// value that is not an object gives nil.
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
		if domain.IsSecretField(name) {
			continue
		}
		out = append(out, field{name, domain.RedactSecrets(v)})
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
