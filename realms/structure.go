package realms

import (
	"context"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// nodeOf returns a live node of the tree, or nil.
func (rl *Realm) nodeOf(slug string) (*domain.Node, error) {
	n, ok := rl.Nodes.Tree().Get(slug)
	if !ok || n.Deleted {
		return nil, domain.NotFound("node " + slug)
	}
	return n, nil
}

// CreateNode adds a node to the realm's tree. A slug in use is
// domain.ErrAlreadyExists.
func (rl *Realm) CreateNode(ctx context.Context, cmd domain.CreateNode, meta eventstore.Meta) (*domain.Node, error) {
	err := rl.execute(ctx, meta, command{structure: true, lostRace: domain.ErrAlreadyExists, decide: func() (plan, error) {
		ev, err := domain.DecideCreateNode(cmd, rl.Nodes.Tree())
		return write(domain.NodeRef(cmd.Slug), rl.Nodes.Version(cmd.Slug), ev), err
	}})
	if err != nil {
		return nil, err
	}
	n, _ := rl.Nodes.Tree().Get(cmd.Slug)
	return n, nil
}

// RenameNode changes a node's display name.
func (rl *Realm) RenameNode(ctx context.Context, slug, name string, meta eventstore.Meta) (*domain.Node, error) {
	err := rl.execute(ctx, meta, command{decide: func() (plan, error) {
		n, err := rl.nodeOf(slug)
		if err != nil {
			return plan{}, err
		}
		ev, err := domain.DecideRenameNode(n, name)
		return write(domain.NodeRef(slug), n.Version, ev), err
	}})
	if err != nil {
		return nil, err
	}
	n, _ := rl.Nodes.Tree().Get(slug)
	return n, nil
}

// DeleteNode removes a node nothing refers to: no child node, no client
// (team restriction, owner node or role) and no user's membership.
func (rl *Realm) DeleteNode(ctx context.Context, slug string, meta eventstore.Meta) error {
	return rl.execute(ctx, meta, command{structure: true, decide: func() (plan, error) {
		n, err := rl.nodeOf(slug)
		if err != nil {
			return plan{}, err
		}
		var refs []string
		for _, child := range rl.Nodes.Children(slug) {
			refs = append(refs, "node "+child)
		}
		for _, id := range rl.Clients.Referencing(slug) {
			refs = append(refs, "client "+id)
		}
		for _, id := range rl.Users.ReferencingNode(slug) {
			refs = append(refs, "user "+id)
		}
		ev, err := domain.DecideDeleteNode(n, refs)
		return write(domain.NodeRef(slug), n.Version, ev), err
	}})
}

// DefineScope adds (or redescribes) an API scope in the realm's catalog.
func (rl *Realm) DefineScope(ctx context.Context, s domain.ScopeDefined, meta eventstore.Meta) error {
	return rl.execute(ctx, meta, command{decide: func() (plan, error) {
		ev, err := domain.DecideDefineScope(s)
		return write(domain.RealmRef(rl.Name), rl.State().Version, ev), err
	}})
}

// RemoveScope takes a realm-defined scope no client uses out of the catalog.
func (rl *Realm) RemoveScope(ctx context.Context, name string, meta eventstore.Meta) error {
	return rl.execute(ctx, meta, command{structure: true, decide: func() (plan, error) {
		state := rl.State()
		ev, err := domain.DecideRemoveScope(state.Scopes, name, rl.Clients.WithScope(name))
		return write(domain.RealmRef(rl.Name), state.Version, ev), err
	}})
}

// UpdateSettings replaces the realm's settings and puts them to work.
func (rl *Realm) UpdateSettings(ctx context.Context, next domain.RealmSettings, meta eventstore.Meta) error {
	// The settings alone may be valid while, over the server's defaults,
	// they are not: checkpoints off where the server keeps token events for
	// a limited time would let them expire unattested.
	if err := rl.reg.auditFor(next).Validate(); err != nil {
		return &domain.ValidationError{Field: "settings", Message: err.Error() + " (with the server's defaults for the settings left at 0)"}
	}
	err := rl.execute(ctx, meta, command{decide: func() (plan, error) {
		state := rl.State()
		ev, err := domain.DecideRealmSettings(state, next)
		if err != nil || ev == nil {
			return plan{}, err
		}
		return write(domain.RealmRef(rl.Name), state.Version, *ev), nil
	}})
	if err == nil {
		rl.applySettings()
	}
	return err
}
