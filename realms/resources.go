package realms

import (
	"context"
	"strings"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// Resources are a realm's protected resources (RFC 8707): the APIs and MCP
// servers its access tokens can be minted for.
type Resources struct{ rl *Realm }

// Resources are the realm's protected resources.
func (rl *Realm) Resources() Resources { return Resources{rl} }

// List returns the live resources by identifier.
func (rs Resources) List() []*domain.Resource { return rs.rl.models.Resources.List() }

// Get returns a live resource by id.
func (rs Resources) Get(id string) (*domain.Resource, error) {
	r, ok := rs.rl.models.Resources.ByID(id)
	if !ok {
		return nil, domain.NotFound("resource " + id)
	}
	return r, nil
}

// Lookup finds a live resource by identifier.
func (rs Resources) Lookup(identifier string) (*domain.Resource, bool) {
	r, ok := rs.rl.models.Resources.Get(identifier)
	return r, ok && r.Live()
}

// Resolve checks a request's resource indicators: each a live resource of
// the realm, or invalid_target.
func (rs Resources) Resolve(identifiers []string) ([]*domain.Resource, error) {
	out, oerr := domain.ResolveResources(identifiers, rs.Lookup)
	if oerr != nil {
		return nil, oerr
	}
	return out, nil
}

// one resolves a token request's single resource ("" for none). A
// resource this replica does not know is looked up again after a catch-up
// with the stream: it may have been registered on another a moment ago.
func (rs Resources) one(ctx context.Context, identifier string) (*domain.Resource, error) {
	if identifier == "" {
		return nil, nil
	}
	out, err := rs.Resolve([]string{identifier})
	if err != nil && rs.rl.catchUp(ctx) == nil {
		out, err = rs.Resolve([]string{identifier})
	}
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// fit makes a token request one for the resource named (RFC 8707; ""
// leaves it for the realm): the resource is its audience, its scope keeps
// what the resource accepts (a scope asked for explicitly that it does
// not accept is invalid_scope; others are left out) and its lifetime is
// at most the resource's cap. It is part of the decision that issues the
// token, taken again with it.
func (rs Resources) fit(ctx context.Context, req *TokenRequest, identifier string, explicit bool) error {
	res, err := rs.one(ctx, identifier)
	if err != nil || res == nil {
		return err
	}
	scopes, oerr := domain.FitScopesToResources(strings.Fields(req.Scope), explicit, []*domain.Resource{res})
	if oerr != nil {
		return oerr
	}
	req.Scope, req.Audience = strings.Join(scopes, " "), res.Identifier
	req.Lifetime = domain.LifetimeFor(req.Lifetime, res)
	return nil
}

// Scopes are the scopes some live resource accepts, once each.
func (rs Resources) Scopes() []string {
	var out []string
	for _, r := range rs.List() {
		for _, s := range r.Scopes {
			if !contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// Create registers a resource.
func (rs Resources) Create(ctx context.Context, identifier string, s domain.ResourceSettings, meta eventstore.Meta) (*domain.Resource, error) {
	rl := rs.rl
	err := rl.execute(ctx, meta, command{decide: func() (plan, error) {
		cur, _ := rl.models.Resources.Get(identifier)
		ev, err := domain.DecideCreateResource(cur, identifier, s, rl.state().Scopes)
		if err != nil {
			return plan{}, err
		}
		var version uint64
		if cur != nil {
			version = cur.Version // a deleted resource registered again
		}
		p := write(domain.ResourceRef(identifier), version, ev)
		return p, rl.Structure().referenceScopes(&p, domain.ResourceRef(identifier), nil, ev.Scopes, nil)
	}})
	if err != nil {
		return nil, err
	}
	return rs.Get(domain.ResourceID(identifier))
}

// Update changes a resource's settings: change gets the current ones.
func (rs Resources) Update(ctx context.Context, id string, cond Condition, meta eventstore.Meta,
	change func(domain.ResourceSettings) (domain.ResourceSettings, error)) (*domain.Resource, error) {
	rl := rs.rl
	err := rl.execute(ctx, meta, command{decide: func() (plan, error) {
		cur, err := rs.Get(id)
		if err != nil {
			return plan{}, err
		}
		if err := cond.check(cur.Version); err != nil {
			return plan{}, err
		}
		next, err := change(cur.ResourceSettings)
		if err != nil {
			return plan{}, err
		}
		ev, err := domain.DecideUpdateResource(cur, next, rl.state().Scopes)
		if err != nil || ev == nil {
			return plan{}, err
		}
		p := write(domain.ResourceRef(cur.Identifier), cur.Version, *ev)
		return p, rl.Structure().referenceScopes(&p, domain.ResourceRef(cur.Identifier), cur.Scopes, ev.After.Scopes, nil)
	}})
	if err != nil {
		return nil, err
	}
	return rs.Get(id)
}

// Delete removes a resource: no token is minted for it from now on;
// tokens already minted live out their (capped) lifetime.
func (rs Resources) Delete(ctx context.Context, id string, cond Condition, meta eventstore.Meta) error {
	return rs.rl.execute(ctx, meta, command{decide: func() (plan, error) {
		cur, err := rs.Get(id)
		if err != nil {
			return plan{}, err
		}
		if err := cond.check(cur.Version); err != nil {
			return plan{}, err
		}
		ev, err := domain.DecideDeleteResource(cur)
		return write(domain.ResourceRef(cur.Identifier), cur.Version, ev), err
	}})
}
