package realms

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// NewUser is what creating a user takes.
type NewUser struct {
	domain.UserProfile
	Password    string              `json:"password"`
	Memberships []domain.Membership `json:"memberships"`
}

func userNotFound(id string) error { return domain.NotFound("user " + id) }

// CreateUser adds a user; the password, if given, is hashed with argon2id
// and sealed, and only "password changed" enters the history.
func (rl *Realm) CreateUser(ctx context.Context, nu NewUser, meta eventstore.Meta) (*domain.User, error) {
	if err := domain.ValidateProfile(&nu.UserProfile); err != nil {
		return nil, err
	}
	if nu.Memberships == nil {
		nu.Memberships = []domain.Membership{}
	}
	if err := domain.ValidateMemberships(nu.Memberships, rl.Nodes.Tree()); err != nil {
		return nil, err
	}
	if nu.Password != "" {
		if err := domain.ValidatePassword(nu.Password); err != nil {
			return nil, err
		}
	}
	id := uuid.NewString()
	if nu.Password != "" {
		// Hashed (tens of milliseconds) before the command, outside the
		// structure lock.
		if err := rl.storePassword(ctx, id, nu.Password); err != nil {
			return nil, err
		}
	}
	err := rl.execute(ctx, meta, command{structure: len(nu.Memberships) > 0, decide: func() (plan, error) {
		// Checked again where no node can be deleted meanwhile.
		if err := domain.ValidateMemberships(nu.Memberships, rl.Nodes.Tree()); err != nil {
			return plan{}, err
		}
		p := write(domain.UserRef(id), 0, domain.UserCreated{UserID: id, UserProfile: nu.UserProfile, Memberships: nu.Memberships})
		if nu.Password != "" {
			p.add(domain.UserRef(id), eventstore.AnyVersion, domain.UserPasswordChanged{})
		}
		return p, rl.claimUsername(&p, id, nu.Username, "")
	}})
	if err != nil {
		if nu.Password != "" {
			// The user was not created (a name taken, a node gone, a lost
			// race): its hash must not stay behind under an id nobody has.
			rl.dropPassword(context.WithoutCancel(ctx), id, meta)
		}
		return nil, err
	}
	u, _ := rl.Users.Get(id)
	return u, nil
}

// claimUsername adds to p the claim of username in the realm's username
// directory (and the release of old), at the directory's version: of two
// users claiming one name at once, one gets it. A name another user holds
// is a conflict.
func (rl *Realm) claimUsername(p *plan, userID, username, old string) error {
	if other, taken := rl.Users.ByUsername(username); taken && other.ID != userID {
		return &domain.ConflictError{Message: "username " + strconv.Quote(username) + " is taken in this realm"}
	}
	p.add(domain.UsernamesRef(), rl.Users.DirectoryVersion(), domain.UsernameClaimed{Username: strings.ToLower(username), UserID: userID})
	if old != "" && !strings.EqualFold(old, username) {
		p.add(domain.UsernamesRef(), eventstore.AnyVersion, domain.UsernameReleased{Username: strings.ToLower(old)})
	}
	return nil
}

func (rl *Realm) storePassword(ctx context.Context, userID, pw string) error {
	hash, err := hashPassword(pw)
	if err != nil {
		return err
	}
	return rl.reg.passwords.Put(ctx, rl.Name, userID, []byte(hash))
}

// dropPassword removes a user's sealed hash; a failure leaves a hash no
// user refers to, and is logged.
func (rl *Realm) dropPassword(ctx context.Context, userID string, meta eventstore.Meta) {
	if err := rl.reg.passwords.Delete(ctx, rl.Name, userID); err != nil {
		rl.reg.log.Warn("password hash not removed", "realm", rl.Name, "user", userID, "request_id", meta.RequestID, "err", err)
	}
}

// changeUser runs a command on one user that must exist; decide gets its
// current state. structure: the decision checks nodes (see
// Realm.structure).
func (rl *Realm) changeUser(ctx context.Context, id string, structure bool, meta eventstore.Meta,
	decide func(u *domain.User) (plan, error)) (*domain.User, error) {
	err := rl.execute(ctx, meta, command{structure: structure, decide: func() (plan, error) {
		u, ok := rl.Users.Get(id)
		if !ok {
			return plan{}, userNotFound(id)
		}
		return decide(u)
	}})
	if err != nil {
		return nil, err
	}
	u, _ := rl.Users.Get(id)
	return u, nil
}

// UpdateUser replaces a user's profile; a new username is claimed in the
// realm's username directory.
func (rl *Realm) UpdateUser(ctx context.Context, id string, p domain.UserProfile, meta eventstore.Meta) (*domain.User, error) {
	if err := domain.ValidateProfile(&p); err != nil {
		return nil, err
	}
	return rl.changeUser(ctx, id, false, meta, func(u *domain.User) (plan, error) {
		if p == u.UserProfile {
			return plan{}, nil
		}
		out := write(domain.UserRef(id), u.Version, domain.UserUpdated{Before: u.UserProfile, After: p})
		return out, rl.claimUsername(&out, id, p.Username, u.Username)
	})
}

// SetPassword replaces a user's password. The sealed hash is replaced
// first (the event says it changed); if the event cannot be written, the
// previous hash is put back, so history and credentials never disagree.
func (rl *Realm) SetPassword(ctx context.Context, id, pw string, meta eventstore.Meta) error {
	if err := domain.ValidatePassword(pw); err != nil {
		return err
	}
	if _, ok := rl.Users.Get(id); !ok {
		return userNotFound(id)
	}
	previous, prevErr := rl.reg.passwords.Get(ctx, rl.Name, id)
	if err := rl.storePassword(ctx, id, pw); err != nil {
		return err
	}
	_, err := rl.changeUser(ctx, id, false, meta, func(u *domain.User) (plan, error) {
		return write(domain.UserRef(id), u.Version, domain.UserPasswordChanged{}), nil
	})
	if err != nil {
		if prevErr != nil {
			rl.dropPassword(ctx, id, meta)
		} else if perr := rl.reg.passwords.Put(ctx, rl.Name, id, previous); perr != nil {
			rl.reg.log.Error("previous password hash not restored", "realm", rl.Name, "user", id, "request_id", meta.RequestID, "err", perr)
		}
		return err
	}
	// Whoever signed in with the old password is signed out.
	rl.EndSessions(ctx, id, "password changed", meta)
	return nil
}

// SetMemberships replaces a user's memberships; tokens already issued see
// the change at once (permissions are evaluated live).
func (rl *Realm) SetMemberships(ctx context.Context, id string, ms []domain.Membership, meta eventstore.Meta) (*domain.User, error) {
	if ms == nil {
		ms = []domain.Membership{}
	}
	if err := domain.ValidateMemberships(ms, rl.Nodes.Tree()); err != nil {
		return nil, err
	}
	return rl.changeUser(ctx, id, true, meta, func(u *domain.User) (plan, error) {
		if err := domain.ValidateMemberships(ms, rl.Nodes.Tree()); err != nil {
			return plan{}, err
		}
		if slices.Equal(ms, u.Memberships) {
			return plan{}, nil
		}
		return write(domain.UserRef(id), u.Version, domain.UserMembershipsChanged{Before: u.Memberships, After: ms}), nil
	})
}

// SetUserEnabled disables a user (revoking every token issued for them and
// ending their browser sessions) or enables them again.
func (rl *Realm) SetUserEnabled(ctx context.Context, id string, enabled bool, meta eventstore.Meta) (*domain.User, error) {
	u, err := rl.changeUser(ctx, id, false, meta, func(u *domain.User) (plan, error) {
		if enabled {
			if u.Status == domain.StatusEnabled {
				return plan{}, nil
			}
			return write(domain.UserRef(id), u.Version, domain.UserEnabled{}), nil
		}
		ev, rule, err := domain.DecideDisableUser(u, meta.Time)
		if err != nil || ev == nil {
			return plan{}, err
		}
		p := write(domain.UserRef(id), u.Version, *ev)
		p.revoke(rule)
		return p, nil
	})
	if err == nil && !enabled {
		rl.EndSessions(ctx, id, "user disabled", meta)
	}
	return u, err
}

// DeleteUser removes a user, revokes every token issued for them and ends
// their browser sessions.
func (rl *Realm) DeleteUser(ctx context.Context, id string, meta eventstore.Meta) error {
	_, err := rl.changeUser(ctx, id, false, meta, func(u *domain.User) (plan, error) {
		ev, rule, err := domain.DecideDeleteUser(u, meta.Time)
		if err != nil {
			return plan{}, err
		}
		p := write(domain.UserRef(id), u.Version, ev)
		p.revoke(rule)
		return p, nil
	})
	if err != nil {
		return err
	}
	rl.dropPassword(ctx, id, meta)
	rl.EndSessions(ctx, id, "user deleted", meta)
	return nil
}

// GrantConsent remembers what a user granted a client.
func (rl *Realm) GrantConsent(ctx context.Context, userID, clientID string, c domain.Consent, meta eventstore.Meta) error {
	_, err := rl.changeUser(ctx, userID, false, meta, func(u *domain.User) (plan, error) {
		return write(domain.UserRef(userID), u.Version,
			domain.ConsentGranted{ClientID: clientID, Scopes: c.Scopes, Teams: c.Teams, Preset: c.Preset}), nil
	})
	return err
}
