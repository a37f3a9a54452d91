package realms

import (
	"context"
	"slices"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// Settings are the realm's settings (checkpoints, token retention,
// compatibility profiles, hosts, client defaults), lists never nil; zero
// values take the server's defaults.
func (rl *Realm) Settings() domain.RealmSettings {
	s := rl.state().Settings
	s.Normalize()
	return s
}

// UpdateSettings replaces the realm's settings and puts them to work. A
// host another realm claims is a *domain.ConflictError; claims are decided
// one at a time in this process, against every realm of the cluster.
func (rl *Realm) UpdateSettings(ctx context.Context, next domain.RealmSettings, meta eventstore.Meta) error {
	// The settings alone may be valid while, over the server's defaults,
	// they are not: checkpoints off where the server keeps token events for
	// a limited time would let them expire unattested.
	if err := rl.reg.auditFor(next).Validate(); err != nil {
		return &domain.ValidationError{Field: "settings", Message: err.Error() + " (with the server's defaults for the settings left at 0)"}
	}
	claims := &rl.reg.hosts.claimMu
	claims.Lock()
	defer claims.Unlock()
	next.Normalize()
	claiming := slices.ContainsFunc(next.Hosts, func(h string) bool { return !slices.Contains(rl.state().Settings.Hosts, h) })
	rc := rl.reg.realmContext(ctx, rl.Name, claiming)
	err := rl.execute(ctx, meta, command{decide: func() (plan, error) {
		state := rl.state()
		ev, err := domain.DecideRealmSettings(state, next, rc)
		if err != nil || ev == nil {
			return plan{}, err
		}
		return write(domain.RealmRef(rl.Name), state.Version, *ev), nil
	}})
	if err == nil {
		rl.reg.forgetHostIndex()
		rl.applySettings()
	}
	return err
}
