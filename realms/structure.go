package realms

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// Structure is a realm's node tree (organizations, teams, projects, apps)
// and its scope catalog: what clients and users refer to. A write that
// adds a reference to a node or a realm-defined scope appends, in the same
// atomic write, a "referenced" event to it at the version its decision
// read; a removal is written at the version its decision read. Of a
// removal and a new reference decided at once, on any replicas, one fails
// at the stream and is decided again on fresh state: the removal then sees
// the reference, or the reference sees the node gone.
type Structure struct{ rl *Realm }

// Node returns a node of the tree; a missing one is a not-found error.
func (s Structure) Node(slug string) (*domain.Node, error) {
	n, ok := s.rl.models.Nodes.Tree().Get(slug)
	if !ok || n.Deleted {
		return nil, domain.NotFound("node " + slug)
	}
	return n, nil
}

// Nodes lists the tree's nodes, roots first, each group by slug.
func (s Structure) Nodes() []*domain.Node {
	var out []*domain.Node
	for _, n := range s.rl.models.Nodes.Tree() {
		if !n.Deleted {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Parent == "") != (out[j].Parent == "") {
			return out[i].Parent == ""
		}
		return out[i].Slug < out[j].Slug
	})
	return out
}

// Scopes is the realm's scope catalog: built-in and realm-defined scopes.
func (s Structure) Scopes() domain.Catalog { return s.rl.state().Scopes }

// tree is the node tree decisions check references against.
func (s Structure) tree() domain.Tree { return s.rl.models.Nodes.Tree() }

// CreateNode adds a node to the realm's tree. A slug in use is
// domain.ErrAlreadyExists.
func (s Structure) CreateNode(ctx context.Context, cmd domain.CreateNode, meta eventstore.Meta) (*domain.Node, error) {
	nodes := s.rl.models.Nodes
	err := s.rl.execute(ctx, meta, command{decide: func() (plan, error) {
		ev, err := domain.DecideCreateNode(cmd, nodes.Tree())
		if err != nil {
			return plan{}, err
		}
		p := write(domain.NodeRef(cmd.Slug), nodes.Version(cmd.Slug), ev)
		if cmd.Parent != "" {
			return p, s.referenceNodes(&p, domain.NodeRef(cmd.Slug), nil, []string{cmd.Parent})
		}
		return p, nil
	}})
	if err != nil {
		return nil, err
	}
	return s.Node(cmd.Slug)
}

// RenameNode changes a node's display name; confirmHighRisk keeps one that
// mixes lookalike scripts.
func (s Structure) RenameNode(ctx context.Context, slug, name string, confirmHighRisk bool, meta eventstore.Meta) (*domain.Node, error) {
	err := s.rl.execute(ctx, meta, command{decide: func() (plan, error) {
		n, err := s.Node(slug)
		if err != nil {
			return plan{}, err
		}
		ev, err := domain.DecideRenameNode(n, name, confirmHighRisk)
		return write(domain.NodeRef(slug), n.Version, ev), err
	}})
	if err != nil {
		return nil, err
	}
	return s.Node(slug)
}

// DeleteNode removes a node nothing refers to: no child node, no client
// (team restriction, owner node or role) and no user's membership.
func (s Structure) DeleteNode(ctx context.Context, slug string, meta eventstore.Meta) error {
	m := s.rl.models
	return s.rl.execute(ctx, meta, command{decide: func() (plan, error) {
		n, err := s.Node(slug)
		if err != nil {
			return plan{}, err
		}
		var refs []string
		for _, child := range m.Nodes.Children(slug) {
			refs = append(refs, "node "+child)
		}
		for _, id := range m.Clients.Referencing(slug) {
			refs = append(refs, "client "+id)
		}
		for _, id := range m.Users.ReferencingNode(slug) {
			refs = append(refs, "user "+id)
		}
		ev, err := domain.DecideDeleteNode(n, refs)
		return write(domain.NodeRef(slug), n.Version, ev), err
	}})
}

// DefineScope adds (or redescribes) an API scope in the realm's catalog.
func (s Structure) DefineScope(ctx context.Context, def domain.ScopeDefined, meta eventstore.Meta) error {
	rl := s.rl
	return rl.execute(ctx, meta, command{decide: func() (plan, error) {
		ev, err := domain.DecideDefineScope(def)
		return write(domain.RealmRef(rl.Name), rl.state().Version, ev), err
	}})
}

// RemoveScope takes a realm-defined scope no client or resource uses out of
// the catalog, and retires it at the version of its references the
// decision read.
func (s Structure) RemoveScope(ctx context.Context, name string, meta eventstore.Meta) error {
	rl := s.rl
	return rl.execute(ctx, meta, command{decide: func() (plan, error) {
		state := rl.state()
		usedBy := rl.models.Clients.WithScope(name)
		for _, r := range rl.models.Resources.WithScope(name) {
			usedBy = append(usedBy, "resource "+r)
		}
		ev, err := domain.DecideRemoveScope(state.Scopes, name, usedBy)
		if err != nil {
			return plan{}, err
		}
		p := write(domain.RealmRef(rl.Name), state.Version, ev)
		p.add(domain.ScopeRef(name), rl.models.Scopes.Version(name), domain.ScopeRetired{Scope: name})
		return p, nil
	}})
}

// referenceNodes adds to p a node.referenced event, by the aggregate by,
// for each node of after that before does not name, at the version it
// reads now. Validation found each node a moment before; the runner may
// have applied its deletion since. A node still found is required at the
// version read here, so a deletion applied after this read fails the
// append; one found gone is refused here, never left out of the plan.
func (s Structure) referenceNodes(p *plan, by domain.AggregateRef, before, after []string) error {
	tree := s.tree()
	for _, slug := range added(before, after) {
		n, ok := tree.Get(slug)
		if !ok {
			msg := fmt.Sprintf("node %q is not a node of this realm", slug)
			return &domain.ValidationError{Field: by.Type, Message: msg, Details: []string{msg}}
		}
		p.add(domain.NodeRef(slug), n.Version, domain.NodeReferenced{By: by.String()})
	}
	return nil
}

// referenceScopes is referenceNodes for realm-defined scopes (built-in
// scopes are never removed). The catalog and the scopes' versions are two
// models the runner may move between the decision's reads: each version is
// read first and the catalog checked after it. A removal writes the
// catalog's event before the scope's, so a version read before the removal
// fails at the stream, and one read after it finds the scope gone here.
// planned holds the scopes the same plan defines (a new realm's first
// events), which no model has applied yet.
func (s Structure) referenceScopes(p *plan, by domain.AggregateRef, before, after []string, planned domain.Catalog) error {
	refs := s.rl.models.Scopes
	for _, name := range added(before, after) {
		if domain.IsBuiltinScope(name) {
			continue
		}
		version := refs.Version(name)
		if !planned.Has(name) && !s.rl.state().Scopes.Has(name) {
			msg := fmt.Sprintf("scope %q is not in the realm's scope catalog", name)
			return &domain.ValidationError{Field: by.Type, Message: msg, Details: []string{msg}}
		}
		p.add(domain.ScopeRef(name), version, domain.ScopeReferenced{Scope: name, By: by.String()})
	}
	return nil
}

// added lists, once each, the names of after that before does not hold.
func added(before, after []string) []string {
	var out []string
	for _, n := range after {
		if n != "" && !slices.Contains(before, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
