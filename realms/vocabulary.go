package realms

import (
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
)

// The words of the stores and read models that realms' commands and
// queries take and give, named here so that the HTTP side speaks to realms
// alone: each is the type, value or function of eventstore or projections
// itself, not a copy.

// What a command records of who did it, and the actors it names.
type Meta = eventstore.Meta

const ActorSystem = eventstore.ActorSystem

func ClientActor(id string) string { return eventstore.ClientActor(id) }
func UserActor(id string) string   { return eventstore.UserActor(id) }

// A stored event, and the largest page of them one read returns.
type Envelope = eventstore.Envelope

const MaxPage = eventstore.MaxPage

// The store's failures a caller answers: a race lost past the retry
// policy, and a stream that cannot be reached.
var (
	ErrConflict    = eventstore.ErrConflict
	ErrUnavailable = eventstore.ErrUnavailable
)

// Filters, pages and rows of the read models' queries.
type (
	ClientFilter  = projections.ClientFilter
	SessionFilter = projections.SessionFilter
	Cursor        = projections.Cursor
	TokenInfo     = projections.TokenInfo
	AuditFilter   = projections.AuditFilter
	AuditPos      = projections.AuditPos
	AuditEntry    = projections.AuditEntry
)

// AuditEntryOf is the audit log's entry of one stored event.
func AuditEntryOf(env Envelope) AuditEntry { return projections.AuditEntryOf(env) }

// AuditPattern reads a filter value: one ending in "*", or in sep, is a prefix.
func AuditPattern(v, sep string) (string, bool) { return projections.AuditPattern(v, sep) }

// ParseAuditCursor reads a cursor of the audit log's pages.
func ParseAuditCursor(s string) (AuditPos, bool) { return projections.ParseAuditCursor(s) }
