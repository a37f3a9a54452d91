package projections

import (
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/latchkeyhq/latchkey/domain"
)

// Resources is the read model of a realm's protected resources, by
// identifier. Entries are immutable snapshots, replaced on change; a
// deleted resource stays as a tombstone, so its identifier can be
// registered again at the right version.
type Resources struct {
	mu   sync.RWMutex
	byID map[string]*domain.Resource // identifier → state
}

// NewResources returns an empty resources model.
func NewResources() *Resources { return &Resources{byID: map[string]*domain.Resource{}} }

// Apply folds resource events.
func (m *Resources) Apply(ev Event) {
	ref, ok := domain.ParseAggregateRef(ev.Aggregate)
	if !ok || ref.Type != domain.AggregateResource {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := &domain.Resource{}
	if created, ok := ev.Payload.(domain.ResourceCreated); ok {
		if old, ok := m.byID[created.Identifier]; ok {
			*next = *old
		}
	} else {
		old := m.byAggregate(ref.ID)
		if old == nil {
			return
		}
		*next = *old
	}
	next.Apply(ev.Seq, ev.Payload)
	m.byID[next.Identifier] = next
}

func (m *Resources) byAggregate(id string) *domain.Resource {
	for _, r := range m.byID {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// Get returns the state of the resource with this identifier (it may be a
// tombstone: check Live).
func (m *Resources) Get(identifier string) (*domain.Resource, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, ok := m.byID[identifier]
	return r, ok
}

// ByID returns a live resource by its id.
func (m *Resources) ByID(id string) (*domain.Resource, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r := m.byAggregate(id)
	return r, r.Live()
}

// List returns the live resources by identifier.
func (m *Resources) List() []*domain.Resource {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*domain.Resource, 0, len(m.byID))
	for _, r := range m.byID {
		if r.Live() {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *domain.Resource) int { return strings.Compare(a.Identifier, b.Identifier) })
	return out
}

// WithScope lists the identifiers of the live resources accepting a scope.
func (m *Resources) WithScope(scope string) []string {
	var out []string
	for _, r := range m.List() {
		if slices.Contains(r.Scopes, scope) {
			out = append(out, r.Identifier)
		}
	}
	return out
}

func (m *Resources) state() map[string]*domain.Resource {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return maps.Clone(m.byID)
}

func (m *Resources) restore(s map[string]*domain.Resource) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, r := range s {
		r.Scopes = orEmpty(r.Scopes)
		m.byID[id] = r
	}
}

// InitialTokens is the read model of a realm's initial access tokens.
type InitialTokens struct {
	mu   sync.RWMutex
	byID map[string]*domain.InitialToken
}

// NewInitialTokens returns an empty model.
func NewInitialTokens() *InitialTokens {
	return &InitialTokens{byID: map[string]*domain.InitialToken{}}
}

// Apply folds initial access token events.
func (m *InitialTokens) Apply(ev Event) {
	ref, ok := domain.ParseAggregateRef(ev.Aggregate)
	if !ok || ref.Type != domain.AggregateInitialToken {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := &domain.InitialToken{ID: ref.ID}
	if old, ok := m.byID[ref.ID]; ok {
		*next = *old
	}
	next.Apply(ev.Seq, ev.Time, ev.Payload)
	m.byID[ref.ID] = next
}

// Get returns a token's state.
func (m *InitialTokens) Get(id string) (*domain.InitialToken, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	it, ok := m.byID[id]
	return it, ok
}

// List returns every token, newest first.
func (m *InitialTokens) List() []*domain.InitialToken {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*domain.InitialToken, 0, len(m.byID))
	for _, it := range m.byID {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b *domain.InitialToken) int {
		if a.CreatedAt != b.CreatedAt {
			return int(b.CreatedAt - a.CreatedAt)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func (m *InitialTokens) state() map[string]*domain.InitialToken {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return maps.Clone(m.byID)
}

func (m *InitialTokens) restore(s map[string]*domain.InitialToken) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, it := range s {
		m.byID[id] = it
	}
}
