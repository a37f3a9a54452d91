package domain

import "strings"

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

// ClientRef is the aggregate of one OAuth client.
func ClientRef(id string) AggregateRef { return AggregateRef{Type: AggregateClient, ID: id} }
