package realms

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

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
		if err := rl.storePassword(ctx, id, nu.Password); err != nil {
			return nil, err
		}
	}
	changes := []eventstore.Change{{Aggregate: domain.UserRef(id), Expected: 0,
		Payload: domain.UserCreated{UserID: id, UserProfile: nu.UserProfile, Memberships: nu.Memberships}}}
	if nu.Password != "" {
		changes = append(changes, eventstore.Change{Aggregate: domain.UserRef(id), Expected: eventstore.AnyVersion, Payload: domain.UserPasswordChanged{}})
	}
	if err := rl.claimUsername(ctx, id, nu.Username, "", changes, meta); err != nil {
		return nil, err
	}
	u, _ := rl.Users.Get(id)
	return u, nil
}

// claimUsername writes changes together with a claim of username in the
// realm's username directory (and the release of the old name), retrying
// when another claim got in first; a name taken meanwhile is
// domain.ErrAlreadyExists.
func (rl *Realm) claimUsername(ctx context.Context, userID, username, old string, changes []eventstore.Change, meta eventstore.Meta) error {
	for range maxDecideAttempts {
		if other, taken := rl.Users.ByUsername(username); taken && other.ID != userID {
			return domain.ErrAlreadyExists
		}
		dir := []eventstore.Change{{Aggregate: domain.UsernamesRef(), Expected: rl.Users.DirectoryVersion(),
			Payload: domain.UsernameClaimed{Username: strings.ToLower(username), UserID: userID}}}
		if old != "" && !strings.EqualFold(old, username) {
			dir = append(dir, eventstore.Change{Aggregate: domain.UsernamesRef(), Expected: eventstore.AnyVersion,
				Payload: domain.UsernameReleased{Username: strings.ToLower(old)}})
		}
		seq, err := rl.reg.store.AppendChanges(ctx, rl.Name, meta, append(changes, dir...), nil)
		if errors.Is(err, eventstore.ErrConflict) {
			rl.awaitNewer(ctx)
			continue
		}
		if err != nil {
			return err
		}
		return rl.WaitFor(ctx, seq)
	}
	return eventstore.ErrConflict
}

func (rl *Realm) storePassword(ctx context.Context, userID, pw string) error {
	hash, err := hashPassword(pw)
	if err != nil {
		return err
	}
	return rl.reg.passwords.Put(ctx, rl.Name, userID, []byte(hash))
}

// changeUser decides a change of one user against fresh state, retrying a
// lost race.
func (rl *Realm) changeUser(ctx context.Context, id string, meta eventstore.Meta,
	decide func(u *domain.User) ([]domain.Payload, *domain.RevocationRule, error)) (*domain.User, error) {
	for range maxDecideAttempts {
		u, ok := rl.Users.Get(id)
		if !ok {
			return nil, domain.ErrNotFound
		}
		events, rule, err := decide(u)
		if err != nil {
			return nil, err
		}
		if len(events) == 0 {
			return u, nil
		}
		if rule != nil {
			var seq uint64
			seq, err = rl.reg.store.AppendChanges(ctx, rl.Name, meta, []eventstore.Change{{Aggregate: domain.UserRef(id), Expected: u.Version, Payload: events[0]}}, []domain.RevocationRule{*rule})
			if err == nil {
				err = rl.WaitFor(ctx, seq)
			}
		} else {
			err = rl.commit(ctx, domain.UserRef(id), u.Version, meta, events...)
		}
		if errors.Is(err, eventstore.ErrConflict) {
			rl.awaitNewer(ctx)
			continue
		}
		if err != nil {
			return nil, err
		}
		u, _ = rl.Users.Get(id)
		return u, nil
	}
	return nil, eventstore.ErrConflict
}

// UpdateUser replaces a user's profile; a new username is claimed in the
// realm's username directory.
func (rl *Realm) UpdateUser(ctx context.Context, id string, p domain.UserProfile, meta eventstore.Meta) (*domain.User, error) {
	if err := domain.ValidateProfile(&p); err != nil {
		return nil, err
	}
	for range maxDecideAttempts {
		u, ok := rl.Users.Get(id)
		if !ok {
			return nil, domain.ErrNotFound
		}
		if p == u.UserProfile {
			return u, nil
		}
		change := []eventstore.Change{{Aggregate: domain.UserRef(id), Expected: u.Version, Payload: domain.UserUpdated{Before: u.UserProfile, After: p}}}
		var err error
		if strings.EqualFold(p.Username, u.Username) {
			err = rl.commit(ctx, domain.UserRef(id), u.Version, meta, change[0].Payload)
		} else {
			err = rl.claimUsername(ctx, id, p.Username, u.Username, change, meta)
		}
		if errors.Is(err, eventstore.ErrConflict) {
			rl.awaitNewer(ctx)
			continue
		}
		if err != nil {
			return nil, err
		}
		u, _ = rl.Users.Get(id)
		return u, nil
	}
	return nil, eventstore.ErrConflict
}

// SetPassword replaces a user's password.
func (rl *Realm) SetPassword(ctx context.Context, id, pw string, meta eventstore.Meta) error {
	if err := domain.ValidatePassword(pw); err != nil {
		return err
	}
	if _, ok := rl.Users.Get(id); !ok {
		return domain.ErrNotFound
	}
	if err := rl.storePassword(ctx, id, pw); err != nil {
		return err
	}
	_, err := rl.changeUser(ctx, id, meta, func(*domain.User) ([]domain.Payload, *domain.RevocationRule, error) {
		return []domain.Payload{domain.UserPasswordChanged{}}, nil, nil
	})
	return err
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
	return rl.changeUser(ctx, id, meta, func(u *domain.User) ([]domain.Payload, *domain.RevocationRule, error) {
		if slices.Equal(ms, u.Memberships) {
			return nil, nil, nil
		}
		return []domain.Payload{domain.UserMembershipsChanged{Before: u.Memberships, After: ms}}, nil, nil
	})
}

// SetUserEnabled disables a user (revoking every token issued for them and
// ending their browser sessions) or enables them again.
func (rl *Realm) SetUserEnabled(ctx context.Context, id string, enabled bool, meta eventstore.Meta) (*domain.User, error) {
	if !enabled {
		defer rl.endSessionsOf(ctx, id, "user disabled", meta)
	}
	return rl.changeUser(ctx, id, meta, func(u *domain.User) ([]domain.Payload, *domain.RevocationRule, error) {
		if enabled {
			if u.Status == domain.StatusEnabled {
				return nil, nil, nil
			}
			return []domain.Payload{domain.UserEnabled{}}, nil, nil
		}
		ev, rule, err := domain.DecideDisableUser(u, meta.Time)
		if err != nil || ev == nil {
			return nil, nil, err
		}
		return []domain.Payload{*ev}, &rule, nil
	})
}

// endSessionsOf ends every browser session of a user, so that enabling
// the user again does not bring old sign-ins back.
func (rl *Realm) endSessionsOf(ctx context.Context, userID, reason string, meta eventstore.Meta) {
	for _, s := range rl.Authz.Sessions(userID, meta.Time.Unix()) {
		if err := rl.EndSession(ctx, s.SessionID, reason, meta); err != nil && !errors.Is(err, domain.ErrNotFound) {
			rl.reg.log.Warn("session not ended", "realm", rl.Name, "session", s.SessionID, "err", err)
		}
	}
}

// DeleteUser removes a user, revokes every token issued for them and ends
// their browser sessions.
func (rl *Realm) DeleteUser(ctx context.Context, id string, meta eventstore.Meta) error {
	defer rl.endSessionsOf(ctx, id, "user deleted", meta)
	_, err := rl.changeUser(ctx, id, meta, func(u *domain.User) ([]domain.Payload, *domain.RevocationRule, error) {
		ev, rule, err := domain.DecideDeleteUser(u, meta.Time)
		if err != nil {
			return nil, nil, err
		}
		return []domain.Payload{ev}, &rule, nil
	})
	if errors.Is(err, domain.ErrNotFound) {
		return err
	}
	if err == nil {
		_ = rl.reg.passwords.Delete(ctx, rl.Name, id)
	}
	return err
}

// GrantConsent remembers what a user granted a client.
func (rl *Realm) GrantConsent(ctx context.Context, userID, clientID string, c domain.Consent, meta eventstore.Meta) error {
	_, err := rl.changeUser(ctx, userID, meta, func(u *domain.User) ([]domain.Payload, *domain.RevocationRule, error) {
		return []domain.Payload{domain.ConsentGranted{ClientID: clientID, Scopes: c.Scopes, Teams: c.Teams}}, nil, nil
	})
	return err
}

// LoginResult is the outcome of a sign-in attempt.
type LoginResult struct {
	User        *domain.User  // set on success
	Wait        time.Duration // slow-down applied before answering
	LockedUntil time.Time     // non-zero when the username is locked
}

// loginSlowStep is added to each sign-in attempt per failure beyond the
// threshold, up to five steps.
const loginSlowStep = 200 * time.Millisecond

// loginGuard counts failed sign-ins per username: after a few, each attempt
// is slowed down; after more, the username is locked for a while.
type loginGuard struct {
	mu    sync.Mutex
	state map[string]*loginState
}

type loginState struct {
	failures    []int64
	lockedUntil int64
}

// Authenticate checks a username and password. Unknown users, wrong
// passwords and disabled users get the same answer after the same work.
func (rl *Realm) Authenticate(ctx context.Context, username, pw string, meta eventstore.Meta) LoginResult {
	now := meta.Time.Unix()
	key := strings.ToLower(username)
	g := &rl.logins
	g.mu.Lock()
	if g.state == nil {
		g.state = map[string]*loginState{}
	}
	st := g.state[key]
	if st == nil {
		st = &loginState{}
		g.state[key] = st
	}
	st.failures = slices.DeleteFunc(st.failures, func(t int64) bool { return now-t > domain.LoginFailureWindow })
	locked := st.lockedUntil > now
	var wait time.Duration
	if n := len(st.failures); n >= domain.LoginSlowThreshold {
		wait = time.Duration(min(n-domain.LoginSlowThreshold+1, 5)) * loginSlowStep
	}
	lockedUntil := st.lockedUntil
	g.mu.Unlock()
	if locked {
		return LoginResult{LockedUntil: time.Unix(lockedUntil, 0)}
	}

	u, found := rl.Users.ByUsername(username)
	hash := dummyHash
	if found && u.HasPassword {
		if raw, err := rl.reg.passwords.Get(ctx, rl.Name, u.ID); err == nil {
			hash = string(raw)
		}
	}
	ok, _ := checkPassword(hash, pw)
	ok = ok && found && u.HasPassword && u.Active()

	g.mu.Lock()
	defer g.mu.Unlock()
	if ok {
		delete(g.state, key)
		return LoginResult{User: u, Wait: wait}
	}
	st.failures = append(st.failures, now)
	if len(st.failures) >= domain.LoginLockThreshold {
		st.lockedUntil = now + domain.LoginLockDuration
		st.failures = nil
		if found {
			_ = rl.commit(ctx, domain.UserRef(u.ID), eventstore.AnyVersion, meta, domain.UserLocked{Until: st.lockedUntil})
		}
		return LoginResult{Wait: wait, LockedUntil: time.Unix(st.lockedUntil, 0)}
	}
	return LoginResult{Wait: wait}
}
