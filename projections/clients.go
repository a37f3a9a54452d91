package projections

import (
	"slices"
	"sync"

	"github.com/latchkeyhq/latchkey/domain"
)

// Clients is the read model of a realm's OAuth clients. Each entry is an
// immutable snapshot, replaced on change, so a reader may keep the pointer
// it got without locking.
type Clients struct {
	mu    sync.RWMutex
	byID  map[string]*domain.Client
	order []string // creation order, for stable listing
}

// NewClients returns an empty clients model.
func NewClients() *Clients { return &Clients{byID: map[string]*domain.Client{}} }

// Apply folds client events.
func (m *Clients) Apply(ev Event) {
	ref, ok := domain.ParseAggregateRef(ev.Aggregate)
	if !ok || ref.Type != domain.AggregateClient {
		return
	}
	switch ev.Payload.(type) {
	case domain.ClientCreated, domain.ClientTokensRevoked:
	default:
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old, exists := m.byID[ref.ID]
	next := &domain.Client{}
	if exists {
		*next = *old
	} else {
		m.order = append(m.order, ref.ID)
	}
	next.Apply(ev.Seq, ev.Payload)
	m.byID[ref.ID] = next
}

// Get returns a client's current state.
func (m *Clients) Get(id string) (*domain.Client, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, ok := m.byID[id]
	return c, ok
}

// Page lists clients in creation order after the client with id after
// (empty: from the start), at most limit, and says whether more follow. An
// after that names no client is not a position: ok is false.
func (m *Clients) Page(after string, limit int) (page []*domain.Client, more, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	start := 0
	if after != "" {
		i := slices.Index(m.order, after)
		if i < 0 {
			return nil, false, false
		}
		start = i + 1
	}
	end := min(start+limit, len(m.order))
	out := make([]*domain.Client, 0, end-start)
	for _, id := range m.order[start:end] {
		out = append(out, m.byID[id])
	}
	return out, end < len(m.order), true
}

// MaxAccessTokenLifetime is the longest access-token lifetime any client of
// the realm has: how long a retired signing key must stay published.
func (m *Clients) MaxAccessTokenLifetime() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	longest := int64(domain.DefaultAccessTokenLifetime)
	for _, c := range m.byID {
		longest = max(longest, c.AccessTokenLifetime)
	}
	return longest
}
