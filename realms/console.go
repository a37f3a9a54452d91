package realms

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// The console is an OAuth client of the realm it manages
// (domain.ConsoleClientID), created with the realm; realms older than the
// console get theirs when a server starts (EnsureConsoles).

// consoleClient is the creation of the console client of a realm whose
// first events are events; false when the public URL cannot be its
// redirect URI (the realm then has no console, and a warning says why).
func (r *Registry) consoleClient(realm string, events []domain.Payload) (domain.ClientCreated, bool) {
	var state domain.Realm
	for _, ev := range events {
		state.Apply(0, ev)
	}
	ev, err := domain.DecideConsoleClient(r.publicURL, realm, state.Scopes)
	if err != nil {
		r.log.Warn("realm created without a console: its callback under the public URL is not a valid redirect URI (use https, or a loopback address)",
			"realm", realm, "err", err)
		return domain.ClientCreated{}, false
	}
	return ev, true
}

// EnsureConsoles gives every realm its console client, or puts the current
// public URL's callback into it. It is idempotent, and replicas running it
// at once agree: the client has a fixed id and is created at version 0,
// so one creation wins and the others find it; an update of the callback
// is decided again on the winner's state and then changes nothing.
func (r *Registry) EnsureConsoles(ctx context.Context, meta eventstore.Meta) error {
	var errs []error
	for _, rl := range r.List() {
		if err := rl.ensureConsole(ctx, meta); err != nil {
			errs = append(errs, fmt.Errorf("the console client of realm %s: %w", rl.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (rl *Realm) ensureConsole(ctx context.Context, meta eventstore.Meta) error {
	want, err := domain.DecideConsoleClient(rl.reg.publicURL, rl.Name, rl.state().Scopes)
	if err != nil {
		rl.reg.log.Warn("realm without a console: its callback under the public URL is not a valid redirect URI (use https, or a loopback address)",
			"realm", rl.Name, "err", err)
		return nil
	}
	cs := rl.Clients()
	if c, err := cs.Get(domain.ConsoleClientID); err == nil {
		if slices.Equal(c.RedirectURIs, want.RedirectURIs) {
			return nil
		}
		_, _, err := cs.Update(ctx, c.ID, Condition{}, false, meta, func(s domain.ClientSettings) (domain.ClientSettings, error) {
			s.RedirectURIs = want.RedirectURIs
			return s, nil
		})
		return err
	}
	_, err = cs.create(ctx, domain.ConsoleClientID, want.ClientSettings, "", false, meta)
	if errors.Is(err, domain.ErrAlreadyExists) {
		return nil // another replica made it (or it was deleted before deletion was refused)
	}
	return err
}
