package projections

import (
	"sync/atomic"

	"github.com/latchkeyhq/latchkey/domain"
)

// Nodes is the read model of a realm's tree. The tree is an immutable
// snapshot swapped on change; deleted nodes stay as tombstones (so a slug
// can be created again with the right version) but Tree.Get hides them.
type Nodes struct {
	tree atomic.Pointer[domain.Tree]
}

// NewNodes returns an empty tree.
func NewNodes() *Nodes {
	m := &Nodes{}
	m.tree.Store(&domain.Tree{})
	return m
}

// Apply folds node events.
func (m *Nodes) Apply(ev Event) {
	ref, ok := domain.ParseAggregateRef(ev.Aggregate)
	if !ok || ref.Type != domain.AggregateNode {
		return
	}
	old := *m.tree.Load()
	next := make(domain.Tree, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	n := &domain.Node{}
	if prev, ok := old[ref.ID]; ok {
		*n = *prev
	}
	n.Apply(ev.Seq, ev.Payload)
	next[ref.ID] = n
	m.tree.Store(&next)
}

// Tree is the current tree; never mutate it.
func (m *Nodes) Tree() domain.Tree { return *m.tree.Load() }

// Version is a slug's aggregate version (0 if it never existed), for
// optimistic appends, including re-creating a deleted slug.
func (m *Nodes) Version(slug string) uint64 {
	if n, ok := m.Tree()[slug]; ok {
		return n.Version
	}
	return 0
}

// Children lists the live nodes whose parent is slug.
func (m *Nodes) Children(slug string) []string {
	var out []string
	for s, n := range m.Tree() {
		if n.Parent == slug && !n.Deleted {
			out = append(out, s)
		}
	}
	return out
}
