package projections

import (
	"sync"

	"github.com/latchkeyhq/latchkey/domain"
)

// Scopes is the read model of realm-defined scopes' references: the
// version of each scope's aggregate (scope/<domain.ScopeID>), which a
// reference and a removal of the scope are written at. The scopes
// themselves are in the realm's catalog (Realm).
type Scopes struct {
	mu       sync.RWMutex
	versions map[string]uint64 // by scope aggregate id
}

// NewScopes returns an empty model.
func NewScopes() *Scopes { return &Scopes{versions: map[string]uint64{}} }

// Apply folds scope reference events.
func (m *Scopes) Apply(ev Event) {
	ref, ok := domain.ParseAggregateRef(ev.Aggregate)
	if !ok || ref.Type != domain.AggregateScope {
		return
	}
	m.mu.Lock()
	m.versions[ref.ID] = ev.Seq
	m.mu.Unlock()
}

// Version is the version of a scope's aggregate (0 when nothing ever
// referred to it).
func (m *Scopes) Version(name string) uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.versions[domain.ScopeID(name)]
}

func (m *Scopes) state() map[string]uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]uint64, len(m.versions))
	for k, v := range m.versions {
		out[k] = v
	}
	return out
}

func (m *Scopes) restore(s map[string]uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range s {
		m.versions[k] = v
	}
}
