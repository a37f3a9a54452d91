package realms

import (
	"context"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// MaxBulkDelete bounds one bulk delete: two messages each (the event and
// its revocation rule) must fit one atomic batch of at most 1000.
const MaxBulkDelete = 500

// ClientContext is what client decisions need to know of this realm now.
func (rl *Realm) ClientContext() domain.ClientContext {
	return domain.ClientContext{Catalog: rl.State().Scopes, Tree: rl.Nodes.Tree()}
}

// clientAt returns a client that must exist and meet cond.
func (rl *Realm) clientAt(id string, cond Condition) (*domain.Client, error) {
	c, ok := rl.Clients.Get(id)
	if !ok {
		return nil, domain.NotFound("client " + id)
	}
	return c, cond.check(c.Version)
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
	var out CreatedClient
	err := rl.execute(ctx, meta, command{structure: true, lostRace: domain.ErrAlreadyExists, decide: func() (plan, error) {
		ev, warnings, err := domain.DecideCreateClient(id, s, domain.HashSecret(secret), confirmHighRisk, rl.ClientContext())
		if ev.SecretHash != "" {
			out.Secret = secret
		}
		out.Warnings = warnings
		return write(domain.ClientRef(id), 0, ev), err
	}})
	if err != nil {
		return CreatedClient{}, err
	}
	out.Client, _ = rl.Clients.Get(id)
	return out, nil
}

// UpdateClient changes a client's settings: change gets the current
// settings and returns the new ones. A lost race is decided again on the
// fresh state (a condition then fails if the client moved on), so no
// update is ever lost.
func (rl *Realm) UpdateClient(ctx context.Context, id string, cond Condition, confirmHighRisk bool, meta eventstore.Meta,
	change func(domain.ClientSettings) (domain.ClientSettings, error)) (*domain.Client, []domain.Warning, error) {
	var warnings []domain.Warning
	err := rl.execute(ctx, meta, command{structure: true, decide: func() (plan, error) {
		c, err := rl.clientAt(id, cond)
		if err != nil {
			return plan{}, err
		}
		next, err := change(c.ClientSettings)
		if err != nil {
			return plan{}, err
		}
		ev, w, err := domain.DecideUpdateClient(c, next, confirmHighRisk, rl.ClientContext())
		warnings = w
		if err != nil || ev == nil {
			return plan{}, err
		}
		return write(domain.ClientRef(id), c.Version, *ev), nil
	}})
	if err != nil {
		return nil, nil, err
	}
	c, _ := rl.Clients.Get(id)
	return c, warnings, nil
}

// RotateSecret gives a confidential client a new secret, returned this
// once. Two rotations racing do not both succeed: the loser gets
// eventstore.ErrConflict rather than a secret that was overwritten at once.
func (rl *Realm) RotateSecret(ctx context.Context, id string, cond Condition, overlap int64, meta eventstore.Meta) (string, error) {
	secret, err := NewSecret()
	if err != nil {
		return "", err
	}
	err = rl.execute(ctx, meta, command{lostRace: eventstore.ErrConflict, decide: func() (plan, error) {
		c, err := rl.clientAt(id, cond)
		if err != nil {
			return plan{}, err
		}
		ev, err := domain.DecideRotateSecret(c, domain.HashSecret(secret), overlap, meta.Time)
		return write(domain.ClientRef(id), c.Version, ev), err
	}})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// SetClientEnabled disables a client (revoking every token it holds, for
// this server and downstream) or enables it again (revoked tokens stay
// revoked).
func (rl *Realm) SetClientEnabled(ctx context.Context, id string, cond Condition, enabled bool, meta eventstore.Meta) (*domain.Client, error) {
	err := rl.execute(ctx, meta, command{decide: func() (plan, error) {
		c, err := rl.clientAt(id, cond)
		if err != nil {
			return plan{}, err
		}
		if enabled {
			ev, err := domain.DecideEnableClient(c)
			if err != nil || ev == nil {
				return plan{}, err
			}
			return write(domain.ClientRef(id), c.Version, *ev), nil
		}
		ev, rule, err := domain.DecideDisableClient(c, meta.Time, "client disabled")
		if err != nil || ev == nil {
			return plan{}, err
		}
		p := write(domain.ClientRef(id), c.Version, *ev)
		p.revoke(rule)
		return p, nil
	}})
	if err != nil {
		return nil, err
	}
	c, _ := rl.Clients.Get(id)
	return c, nil
}

// DeleteClients deletes clients for good, all or none, and revokes their
// tokens; it returns how many it deleted (ids listed twice count once).
// When any id names no client, nothing is deleted and the error is a
// *domain.NotFoundError listing the missing ids. cond applies to every
// client (it is meant for deleting one).
func (rl *Realm) DeleteClients(ctx context.Context, ids []string, cond Condition, meta eventstore.Meta) (int, error) {
	deleted := 0
	err := rl.execute(ctx, meta, command{decide: func() (plan, error) {
		var p plan
		var missing []string
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
			if err := cond.check(c.Version); err != nil {
				return plan{}, err
			}
			ev, rule, err := domain.DecideDeleteClient(c, meta.Time)
			if err != nil {
				return plan{}, err
			}
			p.add(domain.ClientRef(id), c.Version, ev)
			p.revoke(rule)
		}
		if len(missing) > 0 {
			return plan{}, &domain.NotFoundError{Message: "no client was deleted: some ids name no client", Missing: missing}
		}
		deleted = len(p.changes)
		return p, nil
	}})
	return deleted, err
}

// NodeCredentials creates a service client owned by a node: its tokens
// can never reach outside that node. Scope management gives it the admin
// role there, consumer the viewer role.
func (rl *Realm) NodeCredentials(ctx context.Context, slug, scope, name string, meta eventstore.Meta) (CreatedClient, error) {
	node, ok := rl.Nodes.Tree().Get(slug)
	if !ok {
		return CreatedClient{}, domain.NotFound("node " + slug)
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
