package realms

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
)

// MaxBulkDelete bounds one bulk delete: two messages each (the event and
// its revocation rule) must fit one atomic batch of at most 1000.
const MaxBulkDelete = 500

// Clients are a realm's OAuth clients.
type Clients struct{ rl *Realm }

// Get returns a client; a missing one is a not-found error.
func (cs Clients) Get(id string) (*domain.Client, error) {
	c, ok := cs.rl.models.Clients.Get(id)
	if !ok {
		return nil, domain.NotFound("client " + id)
	}
	return c, nil
}

// Find is Get for a request that names a client: one unknown here is
// looked for again after a catch-up with the stream, as it may have been
// created on another replica a moment ago.
func (cs Clients) Find(ctx context.Context, id string) (*domain.Client, error) {
	c, err := cs.Get(id)
	if err == nil || cs.rl.catchUp(ctx) != nil {
		return c, err
	}
	return cs.Get(id)
}

// Page lists clients matching f, in id order after the client named
// after, at most limit; false when after names no client of the realm.
func (cs Clients) Page(f projections.ClientFilter, after string, limit int) (projections.ClientPage, bool) {
	f.Tree = cs.rl.models.Nodes.Tree()
	return cs.rl.models.Clients.Page(f, after, limit)
}

// LastUsed is when a token of the client was last issued or seen in use
// (Unix seconds); false when it never had one.
func (cs Clients) LastUsed(id string) (int64, bool) { return cs.rl.models.Tokens.ClientLastUsed(id) }

// WithDefaults gives the settings a request left out the realm's client
// defaults (domain.ClientDefaults.Fill); given reports whether the request
// named a setting, by its JSON name.
func (cs Clients) WithDefaults(s domain.ClientSettings, given func(field string) bool) domain.ClientSettings {
	return cs.rl.Settings().ClientDefaults.Fill(s, given)
}

// context is what client decisions need to know of the realm now.
func (cs Clients) context() domain.ClientContext {
	st := cs.rl.state()
	return domain.ClientContext{Catalog: st.Scopes, Tree: cs.rl.models.Nodes.Tree(), MixedGrants: st.Settings.MixedGrants()}
}

// at returns a client that must exist and meet cond.
func (cs Clients) at(id string, cond Condition) (*domain.Client, error) {
	c, err := cs.Get(id)
	if err != nil {
		return nil, err
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

// Create registers a client. An empty id gets a UUID; an id ever used
// before (even by a deleted client) is domain.ErrAlreadyExists.
func (cs Clients) Create(ctx context.Context, id string, s domain.ClientSettings, confirmHighRisk bool, meta eventstore.Meta) (CreatedClient, error) {
	secret, err := NewSecret()
	if err != nil {
		return CreatedClient{}, err
	}
	return cs.create(ctx, id, s, secret, confirmHighRisk, meta)
}

// create registers a client whose secret the caller chose.
func (cs Clients) create(ctx context.Context, id string, s domain.ClientSettings, secret string, confirmHighRisk bool, meta eventstore.Meta) (CreatedClient, error) {
	if id == "" {
		id = uuid.NewString()
	}
	var out CreatedClient
	err := cs.rl.execute(ctx, meta, command{decide: func() (plan, error) {
		if cs.rl.models.Clients.Known(id) {
			return plan{}, domain.ErrAlreadyExists
		}
		ev, warnings, err := domain.DecideCreateClient(id, s, cs.rl.reg.keys.secrets.Hash(secret), confirmHighRisk, cs.context())
		if ev.SecretHash != "" {
			out.Secret = secret
		}
		out.Warnings = warnings
		if err != nil {
			return plan{}, err
		}
		p := write(domain.ClientRef(id), 0, ev)
		return p, cs.references(&p, id, domain.ClientSettings{}, ev.ClientSettings)
	}})
	if err != nil {
		return CreatedClient{}, err
	}
	out.Client, err = cs.Get(id)
	return out, err
}

// Update changes a client's settings: change gets the current settings and
// returns the new ones. A lost race is decided again on the fresh state (a
// condition then fails if the client moved on), so no update is ever lost.
func (cs Clients) Update(ctx context.Context, id string, cond Condition, confirmHighRisk bool, meta eventstore.Meta,
	change func(domain.ClientSettings) (domain.ClientSettings, error)) (*domain.Client, []domain.Warning, error) {
	var warnings []domain.Warning
	err := cs.rl.execute(ctx, meta, command{decide: func() (plan, error) {
		c, err := cs.at(id, cond)
		if err != nil {
			return plan{}, err
		}
		next, err := change(c.ClientSettings)
		if err != nil {
			return plan{}, err
		}
		ev, w, err := domain.DecideUpdateClient(c, next, confirmHighRisk, cs.context())
		warnings = w
		if err != nil || ev == nil {
			return plan{}, err
		}
		p := write(domain.ClientRef(id), c.Version, *ev)
		return p, cs.references(&p, id, ev.Before, ev.After)
	}})
	if err != nil {
		return nil, nil, err
	}
	c, err := cs.Get(id)
	return c, warnings, err
}

// references adds to p the reference events of the nodes and scopes after
// names and before does not (see Structure).
func (cs Clients) references(p *plan, id string, before, after domain.ClientSettings) error {
	st := cs.rl.Structure()
	if err := st.referenceNodes(p, domain.ClientRef(id), before.Nodes(), after.Nodes()); err != nil {
		return err
	}
	return st.referenceScopes(p, domain.ClientRef(id), before.AllScopes(), after.AllScopes(), nil)
}

// RotateSecret gives a confidential client a new secret, returned this
// once. Two rotations racing do not both succeed: the loser gets
// eventstore.ErrConflict rather than a secret that was overwritten at once.
func (cs Clients) RotateSecret(ctx context.Context, id string, cond Condition, overlap int64, meta eventstore.Meta) (string, error) {
	secret, err := NewSecret()
	if err != nil {
		return "", err
	}
	err = cs.rl.execute(ctx, meta, command{lostRace: eventstore.ErrConflict, decide: func() (plan, error) {
		c, err := cs.at(id, cond)
		if err != nil {
			return plan{}, err
		}
		ev, err := domain.DecideRotateSecret(c, cs.rl.reg.keys.secrets.Hash(secret), overlap, meta.Time)
		return write(domain.ClientRef(id), c.Version, ev), err
	}})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// rehashSecret replaces a client's secret hash of the old form (stale,
// which secret has just matched) by its HMAC. It runs in the background,
// off the request that used the secret, one at a time per client in this
// process, through the command pipeline: replicas racing write it once
// (the loser's decision finds nothing stale). On failure the next use of
// the secret tries again.
func (cs Clients) rehashSecret(id, stale, secret string, now time.Time) {
	if _, busy := cs.rl.rehashing.LoadOrStore(id, true); busy {
		return
	}
	fresh := cs.rl.reg.keys.secrets.Hash(secret)
	go func() {
		defer cs.rl.rehashing.Delete(id)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		meta := eventstore.Meta{Actor: eventstore.ActorSystem, ClientID: id, Time: now}
		err := cs.rl.execute(ctx, meta, command{decide: func() (plan, error) {
			c, _ := cs.rl.models.Clients.Get(id)
			ev, ok := domain.DecideRehashSecret(c, stale, fresh)
			if !ok {
				return plan{}, nil
			}
			return write(domain.ClientRef(id), c.Version, ev), nil
		}})
		if err != nil {
			cs.rl.reg.log.Warn("client secret not rehashed", "realm", cs.rl.Name, "client_id", id, "err", err)
		}
	}()
}

// SetEnabled disables a client (revoking every token it holds, for this
// server and downstream) or enables it again (revoked tokens stay revoked).
func (cs Clients) SetEnabled(ctx context.Context, id string, cond Condition, enabled bool, meta eventstore.Meta) (*domain.Client, error) {
	err := cs.rl.execute(ctx, meta, command{decide: func() (plan, error) {
		c, err := cs.at(id, cond)
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
	return cs.Get(id)
}

// Delete deletes clients for good, all or none, and revokes their
// tokens; it returns how many it deleted (ids listed twice count once).
// When any id names no client, nothing is deleted and the error is a
// *domain.NotFoundError listing the missing ids. cond applies to every
// client (it is meant for deleting one).
func (cs Clients) Delete(ctx context.Context, ids []string, cond Condition, meta eventstore.Meta) (int, error) {
	deleted := 0
	err := cs.rl.execute(ctx, meta, command{decide: func() (plan, error) {
		var p plan
		var missing []string
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			c, ok := cs.rl.models.Clients.Get(id)
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
func (cs Clients) NodeCredentials(ctx context.Context, slug, scope, name string, meta eventstore.Meta) (CreatedClient, error) {
	node, err := cs.rl.Structure().Node(slug)
	if err != nil && cs.rl.catchUp(ctx) == nil {
		node, err = cs.rl.Structure().Node(slug) // created on another replica a moment ago?
	}
	if err != nil {
		return CreatedClient{}, err
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
	settings := cs.WithDefaults(domain.ClientSettings{
		Name: name, Kind: domain.KindService, GrantTypes: []string{domain.GrantClientCredentials},
		Scopes: []string{scope}, AccessPreset: preset, OwnerNode: slug,
		Roles: []domain.RoleAssignment{{Node: slug, Role: role}},
	}, func(field string) bool { return field != "access_token_lifetime" && field != "refresh_token_lifetime" })
	return cs.Create(ctx, "", settings, false, meta)
}

// RevokeTokens revokes every token a client holds, with one event and one
// rule however many tokens that is; new tokens are still issued.
func (cs Clients) RevokeTokens(ctx context.Context, clientID, reason string, meta eventstore.Meta) error {
	return cs.rl.execute(ctx, meta, command{decide: func() (plan, error) {
		c, err := cs.Get(clientID)
		if err != nil {
			return plan{}, err
		}
		ev, rule := domain.RevokeClientTokens(c, meta.Time, reason)
		p := write(domain.ClientRef(clientID), eventstore.AnyVersion, ev)
		p.revoke(rule)
		return p, nil
	}})
}
