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

// DeleteNode removes a node nothing refers to: no child node and no client
// (team restriction, owner node or role).
func (rl *Realm) DeleteNode(ctx context.Context, slug string, meta eventstore.Meta) error {
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
	ev, err := domain.DecideDefineScope(s)
	if err != nil {
		return err
	}
	return rl.commitRealm(ctx, meta, ev)
}

// RemoveScope takes a realm-defined scope no client uses out of the catalog.
func (rl *Realm) RemoveScope(ctx context.Context, name string, meta eventstore.Meta) error {
	ev, err := domain.DecideRemoveScope(rl.State().Scopes, name, rl.Clients.WithScope(name))
	if err != nil {
		return err
	}
	return rl.commitRealm(ctx, meta, ev)
}

// commitRealm appends to the realm aggregate; realm-level changes commute,
// so a lost race is simply retried at the new version.
func (rl *Realm) commitRealm(ctx context.Context, meta eventstore.Meta, ev domain.Payload) error {
	for range maxDecideAttempts {
		err := rl.commit(ctx, domain.RealmRef(rl.Name), rl.State().Version, meta, ev)
		if !errors.Is(err, eventstore.ErrConflict) {
			return err
		}
		rl.awaitNewer(ctx)
	}
	return eventstore.ErrConflict
}
