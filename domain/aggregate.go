package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Aggregate types: the second token of an event subject.
const (
	AggregateRealm  = "realm"
	AggregateClient = "client"
)

// AggregateRef names one aggregate instance: its type and id.
type AggregateRef struct {
	Type string
	ID   string
}

// String renders the envelope form "client/<id>".
func (a AggregateRef) String() string { return a.Type + "/" + a.ID }

// ParseAggregateRef reads the "type/id" envelope form.
func ParseAggregateRef(s string) (AggregateRef, bool) {
	t, id, ok := strings.Cut(s, "/")
	if !ok || t == "" || id == "" {
		return AggregateRef{}, false
	}
	return AggregateRef{Type: t, ID: id}, true
}

// RealmRef is the aggregate of a realm's own settings and keys.
func RealmRef(realm string) AggregateRef { return AggregateRef{Type: AggregateRealm, ID: realm} }

// ClientRef is the aggregate of one OAuth client. A client id that cannot
// sit in a subject (the URL of a client ID metadata document) is named by
// its hash, under a prefix no administrator may use (ReservedClientPrefix).
func ClientRef(id string) AggregateRef {
	if IsValidName(id) {
		return AggregateRef{Type: AggregateClient, ID: id}
	}
	sum := sha256.Sum256([]byte(id))
	return AggregateRef{Type: AggregateClient, ID: ReservedClientPrefix + hex.EncodeToString(sum[:20])}
}

// ReservedClientPrefix starts the aggregate ids of clients known by URL.
const ReservedClientPrefix = "cimd-"
