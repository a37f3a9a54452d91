package realms

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// maxDecideAttempts bounds re-deciding a command that lost a race with
// another writer of the same aggregate: high enough that dozens of
// concurrent writers of one aggregate all get through.
const maxDecideAttempts = 64

// MaxBulkDelete bounds one bulk delete: two messages each (the event and
// its revocation rule) must fit one atomic batch of at most 1000.
const MaxBulkDelete = 500

// ClientContext is what client decisions need to know of this realm now.
func (rl *Realm) ClientContext() domain.ClientContext {
	return domain.ClientContext{Catalog: rl.State().Scopes, Tree: rl.Nodes.Tree()}
}

// commit appends events of one aggregate at an expected version and waits
// until this replica's read models have applied them.
func (rl *Realm) commit(ctx context.Context, agg domain.AggregateRef, expected uint64, meta eventstore.Meta, events ...domain.Payload) error {
	seq, err := rl.reg.store.Append(ctx, rl.Name, agg, expected, meta, events...)
	if err != nil {
		return err
	}
	return rl.WaitFor(ctx, seq)
}

// commitRevoking appends a client event at an expected version with its
// downstream revocation rule, and waits until this replica applied them.
func (rl *Realm) commitRevoking(ctx context.Context, clientID string, expected uint64, meta eventstore.Meta, ev domain.Payload, rule domain.RevocationRule) error {
	seq, err := rl.reg.store.AppendRevocation(ctx, rl.Name, domain.ClientRef(clientID), expected, meta, ev, rule)
	if err != nil {
		return err
	}
	return rl.WaitFor(ctx, seq)
}

// retryConflicts runs attempt again, on fresh state, while it loses races
// with other writers of the same aggregate.
func (rl *Realm) retryConflicts(ctx context.Context, attempt func() error) error {
	for range maxDecideAttempts {
		err := attempt()
		if !errors.Is(err, eventstore.ErrConflict) {
			return err
		}
		rl.awaitNewer(ctx)
	}
	return eventstore.ErrConflict
}

// CreatedClient is a new client, its secret (shown this once; empty for a
// public client) and advice on its settings.
type CreatedClient struct {
	Client   *domain.Client
	Secret   string
	Warnings []domain.Warning
}

// CreateClient registers a client. An empty id gets a UUID; an id ever
// used before (even by a deleted client) is domain.ErrAlreadyExists.
func (rl *Realm) CreateClient(ctx context.Context, id string, s domain.ClientSettings, confirmHighRisk bool, meta eventstore.Meta) (CreatedClient, error) {
	secret, err := NewSecret()
	if err != nil {
		return CreatedClient{}, err
	}
	return rl.createClient(ctx, id, s, secret, confirmHighRisk, meta)
}

// createClient registers a client whose secret the caller chose.
func (rl *Realm) createClient(ctx context.Context, id string, s domain.ClientSettings, secret string, confirmHighRisk bool, meta eventstore.Meta) (CreatedClient, error) {
	if id == "" {
		id = uuid.NewString()
	}
	rl.structure.Lock()
	defer rl.structure.Unlock()
	ev, warnings, err := domain.DecideCreateClient(id, s, domain.HashSecret(secret), confirmHighRisk, rl.ClientContext())
	if err != nil {
		return CreatedClient{}, err
	}
	err = rl.commit(ctx, domain.ClientRef(id), 0, meta, ev)
	if errors.Is(err, eventstore.ErrConflict) {
		return CreatedClient{}, domain.ErrAlreadyExists
	}
	if err != nil {
		return CreatedClient{}, err
	}
	c, _ := rl.Clients.Get(id)
	if ev.SecretHash == "" {
		secret = ""
	}
	return CreatedClient{Client: c, Secret: secret, Warnings: warnings}, nil
}

// UpdateClient changes a client's settings: change gets the current
// settings and returns the new ones. With ifMatch (non-zero) the client must
// still be at that version, else eventstore.ErrConflict; without it a lost
// race is decided again on the fresh state, so no update is ever lost.
func (rl *Realm) UpdateClient(ctx context.Context, id string, ifMatch uint64, confirmHighRisk bool, meta eventstore.Meta,
	change func(domain.ClientSettings) (domain.ClientSettings, error)) (*domain.Client, []domain.Warning, error) {
	rl.structure.Lock()
	defer rl.structure.Unlock()
	for range maxDecideAttempts {
		c, ok := rl.Clients.Get(id)
		if !ok {
			return nil, nil, domain.ErrNotFound
		}
		if ifMatch != 0 && c.Version != ifMatch {
			return nil, nil, eventstore.ErrConflict
		}
		next, err := change(c.ClientSettings)
		if err != nil {
			return nil, nil, err
		}
		ev, warnings, err := domain.DecideUpdateClient(c, next, confirmHighRisk, rl.ClientContext())
		if err != nil || ev == nil {
			return c, warnings, err
		}
		err = rl.commit(ctx, domain.ClientRef(id), c.Version, meta, *ev)
		if errors.Is(err, eventstore.ErrConflict) && ifMatch == 0 {
			rl.awaitNewer(ctx)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		c, _ = rl.Clients.Get(id)
		return c, warnings, nil
	}
	return nil, nil, eventstore.ErrConflict
}

// awaitNewer catches this replica up after a lost race, so the next
// decision sees the winner's event.
func (rl *Realm) awaitNewer(ctx context.Context) { _ = rl.catchUp(ctx) }

// RotateSecret gives a confidential client a new secret, returned this
// once. Two rotations racing do not both succeed: the loser gets
// eventstore.ErrConflict rather than a secret that was overwritten at once.
// With ifMatch (non-zero) the client must be at that version.
func (rl *Realm) RotateSecret(ctx context.Context, id string, ifMatch uint64, overlap int64, meta eventstore.Meta) (string, error) {
	c, ok := rl.Clients.Get(id)
	if !ok {
		return "", domain.ErrNotFound
	}
	if ifMatch != 0 && c.Version != ifMatch {
		return "", eventstore.ErrConflict
	}
	secret, err := NewSecret()
	if err != nil {
		return "", err
	}
	ev, err := domain.DecideRotateSecret(c, domain.HashSecret(secret), overlap, meta.Time)
	if err != nil {
		return "", err
	}
	if err := rl.commit(ctx, domain.ClientRef(id), c.Version, meta, ev); err != nil {
		return "", err
	}
	return secret, nil
}

// SetClientEnabled disables a client (revoking every token it holds, for
// this server and downstream) or enables it again (revoked tokens stay
// revoked). With ifMatch (non-zero) the client must be at that version.
func (rl *Realm) SetClientEnabled(ctx context.Context, id string, ifMatch uint64, enabled bool, meta eventstore.Meta) (*domain.Client, error) {
	stale := false
	err := rl.retryConflicts(ctx, func() error {
		c, ok := rl.Clients.Get(id)
		if !ok {
			return domain.ErrNotFound
		}
		if stale = ifMatch != 0 && c.Version != ifMatch; stale {
			return nil // not retried: the precondition has failed for good
		}
		if enabled {
			ev, err := domain.DecideEnableClient(c)
			if err != nil || ev == nil {
				return err
			}
			return rl.commit(ctx, domain.ClientRef(id), c.Version, meta, *ev)
		}
		ev, rule, err := domain.DecideDisableClient(c, meta.Time, "client disabled")
		if err != nil || ev == nil {
			return err
		}
		return rl.commitRevoking(ctx, c.ID, c.Version, meta, *ev, rule)
	})
	if err == nil && stale {
		err = eventstore.ErrConflict
	}
	if err != nil {
		return nil, err
	}
	c, _ := rl.Clients.Get(id)
	return c, nil
}

// DeleteClients deletes clients for good, all or none, and revokes their
// tokens. When any id names no client, nothing is deleted and the missing
// ids are returned; otherwise it returns how many clients it deleted (ids
// listed twice count once). With ifMatch (non-zero) every client must be
// at that version (it is meant for deleting one).
func (rl *Realm) DeleteClients(ctx context.Context, ids []string, ifMatch uint64, meta eventstore.Meta) (deleted int, missing []string, err error) {
	for range maxDecideAttempts {
		changes := make([]eventstore.Change, 0, len(ids))
		rules := make([]domain.RevocationRule, 0, len(ids))
		missing = missing[:0]
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			c, ok := rl.Clients.Get(id)
			if !ok {
				missing = append(missing, id)
				continue
			}
			if ifMatch != 0 && c.Version != ifMatch {
				return 0, nil, eventstore.ErrConflict
			}
			ev, rule, err := domain.DecideDeleteClient(c, meta.Time)
			if err != nil {
				return 0, nil, err
			}
			changes = append(changes, eventstore.Change{Aggregate: domain.ClientRef(id), Expected: c.Version, Payload: ev})
			rules = append(rules, rule)
		}
		if len(missing) > 0 {
			return 0, missing, domain.ErrNotFound
		}
		seq, err := rl.reg.store.AppendChanges(ctx, rl.Name, meta, changes, rules)
		if errors.Is(err, eventstore.ErrConflict) {
			rl.awaitNewer(ctx)
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		return len(changes), nil, rl.WaitFor(ctx, seq)
	}
	return 0, nil, eventstore.ErrConflict
}

// NodeCredentials creates a service client owned by a node: its tokens
// can never reach outside that node. Scope management gives it the admin
// role there, consumer the viewer role.
func (rl *Realm) NodeCredentials(ctx context.Context, slug, scope, name string, meta eventstore.Meta) (CreatedClient, error) {
	node, ok := rl.Nodes.Tree().Get(slug)
	if !ok {
		return CreatedClient{}, domain.ErrNotFound
	}
	role, preset := "viewer", domain.PresetReadOnly
	switch scope {
	case domain.ScopeManagement:
		role, preset = "admin", domain.PresetFull
	case "consumer":
	default:
		return CreatedClient{}, &domain.ValidationError{Field: "scope", Message: "scope must be management or consumer"}
	}
	if name == "" {
		name = node.Name + " " + scope + " credentials"
	}
	return rl.CreateClient(ctx, "", domain.ClientSettings{
		Name: name, Kind: domain.KindService, GrantTypes: []string{domain.GrantClientCredentials},
		Scopes: []string{scope}, AccessPreset: preset, OwnerNode: slug,
		Roles: []domain.RoleAssignment{{Node: slug, Role: role}},
	}, false, meta)
}
