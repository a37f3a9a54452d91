package projections

import (
	"slices"
	"strings"
	"sync"

	"github.com/latchkeyhq/latchkey/domain"
)

// Clients is the read model of a realm's OAuth clients. Each entry is an
// immutable snapshot, replaced on change, so a reader may keep the pointer
// it got without locking. Deleted clients leave the model. Entries are
// kept by aggregate id (domain.ClientRef): the client id itself, or the
// hash standing for a client known by URL.
type Clients struct {
	mu    sync.RWMutex
	byID  map[string]*domain.Client
	order []string // creation order, for stable listing
	// gone maps a deleted client to the one before it in order when it was
	// deleted ("" for the first), so that a page cursor naming it still
	// says where the next page starts.
	gone map[string]string
}

// NewClients returns an empty clients model.
func NewClients() *Clients {
	return &Clients{byID: map[string]*domain.Client{}, gone: map[string]string{}}
}

// Apply folds client events.
func (m *Clients) Apply(ev Event) {
	ref, ok := domain.ParseAggregateRef(ev.Aggregate)
	if !ok || ref.Type != domain.AggregateClient || !isClientEvent(ev.Type) {
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
	if next.Deleted {
		delete(m.byID, ref.ID)
		if i := slices.Index(m.order, ref.ID); i >= 0 {
			m.gone[ref.ID] = ""
			if i > 0 {
				m.gone[ref.ID] = m.order[i-1]
			}
			m.order = slices.Delete(m.order, i, i+1)
		}
		return
	}
	m.byID[ref.ID] = next
}

// isClientEvent: the client's own events (client.*), not token events that
// live under the client's subject.
func isClientEvent(eventType string) bool { return strings.HasPrefix(eventType, "client.") }

// Get returns a live client's current state.
func (m *Clients) Get(id string) (*domain.Client, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, ok := m.byID[domain.ClientRef(id).ID]
	return c, ok
}

// Deleted reports whether a client of this id was deleted.
func (m *Clients) Deleted(id string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, gone := m.gone[domain.ClientRef(id).ID]
	return gone
}

// Known reports whether id names a client, live or deleted: a client id
// is never used twice.
func (m *Clients) Known(id string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	agg := domain.ClientRef(id).ID
	_, live := m.byID[agg]
	_, gone := m.gone[agg]
	return live || gone
}

// ClientFilter narrows a listing; empty fields match every client.
type ClientFilter struct {
	// TeamRestriction: clients limited to this node, by a restriction to
	// it or to a node above it (an organization covers its teams);
	// AllTeams: clients with no restriction (the list's "All teams").
	TeamRestriction string
	Scope           string // a default or optional scope
	Status          string
	Kind            string
	Preset          string // access_preset
	Name            string // case-insensitive substring of the name
	// Tree places TeamRestriction under the organizations above it.
	Tree domain.Tree
}

// AllTeams is the TeamRestriction value of unrestricted clients; no slug
// can be it.
const AllTeams = "*"

// matches reports whether a listing shows c: never the realm's built-in
// console client, which is no client an administrator registered (it is
// read by its id).
func (f ClientFilter) matches(c *domain.Client) bool {
	return c.ID != domain.ConsoleClientID && f.teamMatches(c) &&
		(f.Scope == "" || slices.Contains(c.Scopes, f.Scope) || slices.Contains(c.OptionalScopes, f.Scope)) &&
		(f.Status == "" || c.Status == f.Status) &&
		(f.Kind == "" || c.Kind == f.Kind) &&
		(f.Preset == "" || c.AccessPreset == f.Preset) &&
		(f.Name == "" || strings.Contains(strings.ToLower(c.Name), strings.ToLower(f.Name)))
}

func (f ClientFilter) teamMatches(c *domain.Client) bool {
	switch f.TeamRestriction {
	case "":
		return true
	case AllTeams:
		return len(c.TeamRestrictions) == 0
	}
	return slices.ContainsFunc(c.TeamRestrictions, func(r string) bool {
		return r == f.TeamRestriction || f.Tree.Within(f.TeamRestriction, r)
	})
}

// ClientPage is one page of a listing.
type ClientPage struct {
	Clients []*domain.Client
	More    bool
	// Total counts every client the filter matches; Enabled and Disabled
	// split it by status.
	Total, Enabled, Disabled int
}

// Page lists the clients matching f in creation order after the client
// with id after (empty: from the start), at most limit. An after naming a
// client deleted since goes on from that client's place; one that never
// named a client of the realm is not a position: ok is false.
func (m *Clients) Page(f ClientFilter, after string, limit int) (page ClientPage, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	start := 0
	if after != "" {
		after = domain.ClientRef(after).ID
	}
	for after != "" {
		if i := slices.Index(m.order, after); i >= 0 {
			start = i + 1
			break
		}
		prev, deleted := m.gone[after]
		if !deleted {
			return ClientPage{}, false
		}
		after = prev // the cursor's client was deleted: go on after its place
	}
	for i, id := range m.order {
		c := m.byID[id]
		if !f.matches(c) {
			continue
		}
		page.Total++
		if c.Status == domain.StatusEnabled {
			page.Enabled++
		} else {
			page.Disabled++
		}
		if i < start {
			continue
		}
		if len(page.Clients) == limit {
			page.More = true
			continue
		}
		page.Clients = append(page.Clients, c)
	}
	return page, true
}

// Referencing lists the clients whose settings refer to a node.
func (m *Clients) Referencing(node string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for _, id := range m.order {
		c := m.byID[id]
		refers := c.OwnerNode == node || slices.Contains(c.TeamRestrictions, node) ||
			slices.ContainsFunc(c.Roles, func(r domain.RoleAssignment) bool { return r.Node == node })
		if refers {
			out = append(out, c.ID)
		}
	}
	return out
}

// WithScope lists the clients given a scope.
func (m *Clients) WithScope(scope string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for _, id := range m.order {
		if c := m.byID[id]; slices.Contains(c.AllScopes(), scope) {
			out = append(out, c.ID)
		}
	}
	return out
}
