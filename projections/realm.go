package projections

import (
	"maps"
	"sync/atomic"

	"github.com/latchkeyhq/latchkey/domain"
)

// Realm is the read model of a realm's own aggregate: name and keys. The
// state is an immutable snapshot swapped atomically, so the token path reads
// it without a lock.
type Realm struct {
	state atomic.Pointer[domain.Realm]
}

// NewRealm returns an empty realm model.
func NewRealm() *Realm {
	m := &Realm{}
	m.state.Store(&domain.Realm{})
	return m
}

// Apply folds realm events.
func (m *Realm) Apply(ev Event) {
	ref, ok := domain.ParseAggregateRef(ev.Aggregate)
	if !ok || ref.Type != domain.AggregateRealm {
		return
	}
	old := m.state.Load()
	next := *old
	next.Keys = append([]domain.SigningKey(nil), old.Keys...)
	next.Scopes = maps.Clone(old.Scopes) // readers hold the old map lock-free
	next.Apply(ev.Seq, ev.Payload)
	m.state.Store(&next)
}

// State is the realm's current state; never mutate it.
func (m *Realm) State() *domain.Realm { return m.state.Load() }

// Exists reports whether the realm's creation event has been applied.
func (m *Realm) Exists() bool { return m.state.Load().Name != "" }
