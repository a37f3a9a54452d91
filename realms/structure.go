package realms

import (
	"context"
	"errors"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// CreateNode adds a node to the realm's tree. A slug in use is
// domain.ErrAlreadyExists.
func (rl *Realm) CreateNode(ctx context.Context, cmd domain.CreateNode, meta eventstore.Meta) (*domain.Node, error) {
	rl.structure.Lock()
	defer rl.structure.Unlock()
	ev, err := domain.DecideCreateNode(cmd, rl.Nodes.Tree())
	if err != nil {
		return nil, err
	}
	err = rl.commit(ctx, domain.NodeRef(cmd.Slug), rl.Nodes.Version(cmd.Slug), meta, ev)
	if errors.Is(err, eventstore.ErrConflict) {
		return nil, domain.ErrAlreadyExists
	}
	if err != nil {
		return nil, err
	}
	n, _ := rl.Nodes.Tree().Get(cmd.Slug)
	return n, nil
}

// RenameNode changes a node's display name.
func (rl *Realm) RenameNode(ctx context.Context, slug, name string, meta eventstore.Meta) (*domain.Node, error) {
	n, _ := rl.Nodes.Tree().Get(slug)
	ev, err := domain.DecideRenameNode(n, name)
	if err != nil {
		return nil, err
	}
	if err := rl.commit(ctx, domain.NodeRef(slug), n.Version, meta, ev); err != nil {
		return nil, err
	}
	n, _ = rl.Nodes.Tree().Get(slug)
	return n, nil
}

// DeleteNode removes a node nothing refers to: no child node, no client
// (team restriction, owner node or role) and no user's membership.
func (rl *Realm) DeleteNode(ctx context.Context, slug string, meta eventstore.Meta) error {
	rl.structure.Lock()
	defer rl.structure.Unlock()
	n, _ := rl.Nodes.Tree().Get(slug)
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
	if err != nil {
		return err
	}
	return rl.commit(ctx, domain.NodeRef(slug), n.Version, meta, ev)
}

// DefineScope adds (or redescribes) an API scope in the realm's catalog.
func (rl *Realm) DefineScope(ctx context.Context, s domain.ScopeDefined, meta eventstore.Meta) error {
	return rl.decideRealm(ctx, meta, func() (domain.Payload, error) { return domain.DecideDefineScope(s) })
}

// RemoveScope takes a realm-defined scope no client uses out of the catalog.
func (rl *Realm) RemoveScope(ctx context.Context, name string, meta eventstore.Meta) error {
	rl.structure.Lock()
	defer rl.structure.Unlock()
	return rl.decideRealm(ctx, meta, func() (domain.Payload, error) {
		return domain.DecideRemoveScope(rl.State().Scopes, name, rl.Clients.WithScope(name))
	})
}

// UpdateSettings replaces the realm's settings and puts them to work.
func (rl *Realm) UpdateSettings(ctx context.Context, next domain.RealmSettings, meta eventstore.Meta) error {
	// The settings alone may be valid while, over the server's defaults,
	// they are not: checkpoints off where the server keeps token events for
	// a limited time would let them expire unattested.
	if err := rl.reg.auditFor(next).Validate(); err != nil {
		return &domain.ValidationError{Field: "settings", Message: err.Error() + " (with the server's defaults for the settings left at 0)"}
	}
	err := rl.decideRealm(ctx, meta, func() (domain.Payload, error) {
		ev, err := domain.DecideRealmSettings(rl.State(), next)
		if err != nil || ev == nil {
			return nil, err
		}
		return *ev, nil
	})
	if err == nil {
		rl.applySettings()
	}
	return err
}

// decideRealm decides a change of the realm aggregate and appends it at the
// realm's version, deciding again on fresh state after a lost race.
func (rl *Realm) decideRealm(ctx context.Context, meta eventstore.Meta, decide func() (domain.Payload, error)) error {
	return rl.retryConflicts(ctx, func() error {
		ev, err := decide()
		if err != nil || ev == nil {
			return err
		}
		return rl.commit(ctx, domain.RealmRef(rl.Name), rl.State().Version, meta, ev)
	})
}
