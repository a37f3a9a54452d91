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
	created := false
	defer func() {
		if !created && nu.Password != "" {
			// The user was not created (a name taken, a node gone, a lost
			// race): its hash must not stay behind under an id nobody has.
			_ = rl.reg.passwords.Delete(context.WithoutCancel(ctx), rl.Name, id)
		}
	}()
	if len(nu.Memberships) > 0 {
		// Checked again where no node can be deleted meanwhile; the
		// password's hashing (tens of milliseconds) stays outside.
		rl.structure.Lock()
		defer rl.structure.Unlock()
		if err := domain.ValidateMemberships(nu.Memberships, rl.Nodes.Tree()); err != nil {
			return nil, err
		}
	}
	err := rl.claimUsername(ctx, id, nu.Username, meta, func() ([]eventstore.Change, string, error) {
		changes := []eventstore.Change{{Aggregate: domain.UserRef(id), Expected: 0,
			Payload: domain.UserCreated{UserID: id, UserProfile: nu.UserProfile, Memberships: nu.Memberships}}}
		if nu.Password != "" {
			changes = append(changes, eventstore.Change{Aggregate: domain.UserRef(id), Expected: eventstore.AnyVersion, Payload: domain.UserPasswordChanged{}})
		}
		return changes, "", nil
	})
	if err != nil {
		return nil, err
	}
	created = true
	u, _ := rl.Users.Get(id)
	return u, nil
}

// claimUsername writes the changes build returns together with a claim of
// username in the realm's username directory (and the release of the old
// name), deciding again when another writer got in first; a name taken
// meanwhile is domain.ErrAlreadyExists.
func (rl *Realm) claimUsername(ctx context.Context, userID, username string, meta eventstore.Meta,
	build func() (changes []eventstore.Change, oldName string, err error)) error {
	for range maxDecideAttempts {
		if other, taken := rl.Users.ByUsername(username); taken && other.ID != userID {
			return domain.ErrAlreadyExists
		}
		changes, old, err := build()
		if err != nil || len(changes) == 0 {
			return err
		}
		changes = append(changes, eventstore.Change{Aggregate: domain.UsernamesRef(), Expected: rl.Users.DirectoryVersion(),
			Payload: domain.UsernameClaimed{Username: strings.ToLower(username), UserID: userID}})
		if old != "" && !strings.EqualFold(old, username) {
			changes = append(changes, eventstore.Change{Aggregate: domain.UsernamesRef(), Expected: eventstore.AnyVersion,
				Payload: domain.UsernameReleased{Username: strings.ToLower(old)}})
		}
		seq, err := rl.reg.store.AppendChanges(ctx, rl.Name, meta, changes, nil)
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
	err := rl.retryConflicts(ctx, func() error {
		u, ok := rl.Users.Get(id)
		if !ok {
			return domain.ErrNotFound
		}
		events, rule, err := decide(u)
		if err != nil || len(events) == 0 {
			return err
		}
		if rule == nil {
			return rl.commit(ctx, domain.UserRef(id), u.Version, meta, events...)
		}
		seq, err := rl.reg.store.AppendChanges(ctx, rl.Name, meta,
			[]eventstore.Change{{Aggregate: domain.UserRef(id), Expected: u.Version, Payload: events[0]}}, []domain.RevocationRule{*rule})
		if err != nil {
			return err
		}
		return rl.WaitFor(ctx, seq)
	})
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
	err := rl.claimUsername(ctx, id, p.Username, meta, func() ([]eventstore.Change, string, error) {
		u, ok := rl.Users.Get(id)
		if !ok {
			return nil, "", domain.ErrNotFound
		}
		if p == u.UserProfile {
			return nil, "", nil
		}
		return []eventstore.Change{{Aggregate: domain.UserRef(id), Expected: u.Version,
			Payload: domain.UserUpdated{Before: u.UserProfile, After: p}}}, u.Username, nil
	})
	if err != nil {
		return nil, err
	}
	u, _ := rl.Users.Get(id)
	return u, nil
}

// SetPassword replaces a user's password. The sealed hash is replaced
// first (the event says it changed); if the event cannot be written, the
// previous hash is put back, so history and credentials never disagree.
func (rl *Realm) SetPassword(ctx context.Context, id, pw string, meta eventstore.Meta) error {
	if err := domain.ValidatePassword(pw); err != nil {
		return err
	}
	if _, ok := rl.Users.Get(id); !ok {
		return domain.ErrNotFound
	}
	previous, prevErr := rl.reg.passwords.Get(ctx, rl.Name, id)
	if err := rl.storePassword(ctx, id, pw); err != nil {
		return err
	}
	_, err := rl.changeUser(ctx, id, meta, func(*domain.User) ([]domain.Payload, *domain.RevocationRule, error) {
		return []domain.Payload{domain.UserPasswordChanged{}}, nil, nil
	})
	if err != nil {
		if prevErr == nil {
			_ = rl.reg.passwords.Put(ctx, rl.Name, id, previous)
		} else {
			_ = rl.reg.passwords.Delete(ctx, rl.Name, id)
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
	rl.structure.Lock()
	defer rl.structure.Unlock()
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
	u, err := rl.changeUser(ctx, id, meta, func(u *domain.User) ([]domain.Payload, *domain.RevocationRule, error) {
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
	if err == nil && !enabled {
		rl.EndSessions(ctx, id, "user disabled", meta)
	}
	return u, err
}

// EndSessions ends every browser session of a user (of the realm, for
// an empty userID) and returns how many it ended; a disabled user's end so
// that enabling the user again does not bring old sign-ins back.
func (rl *Realm) EndSessions(ctx context.Context, userID, reason string, meta eventstore.Meta) int {
	ended := 0
	for _, s := range rl.Authz.Sessions(userID, meta.Time.Unix()) {
		err := rl.EndSession(ctx, s.SessionID, reason, meta)
		switch {
		case err == nil:
			ended++
		case !errors.Is(err, domain.ErrNotFound):
			rl.reg.log.Warn("session not ended", "realm", rl.Name, "session", s.SessionID, "err", err)
		}
	}
	return ended
}

// DeleteUser removes a user, revokes every token issued for them and ends
// their browser sessions.
func (rl *Realm) DeleteUser(ctx context.Context, id string, meta eventstore.Meta) error {
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
		rl.EndSessions(ctx, id, "user deleted", meta)
	}
	return err
}

// GrantConsent remembers what a user granted a client.
func (rl *Realm) GrantConsent(ctx context.Context, userID, clientID string, c domain.Consent, meta eventstore.Meta) error {
	_, err := rl.changeUser(ctx, userID, meta, func(u *domain.User) ([]domain.Payload, *domain.RevocationRule, error) {
		return []domain.Payload{domain.ConsentGranted{ClientID: clientID, Scopes: c.Scopes, Teams: c.Teams, Preset: c.Preset}}, nil, nil
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

// Bounds of the sign-in guard: concurrent argon2 computations (19 MiB
// each), usernames tracked, and the length of a username worth tracking.
const (
	maxConcurrentHashes = 4
	maxTrackedUsernames = 100_000
	maxUsernameLength   = 100
)

// hashSlots caps concurrent argon2 work across the process.
var hashSlots = make(chan struct{}, maxConcurrentHashes)

// loginGuard counts failed sign-ins per username: after a few, each attempt
// is slowed down; after more, the username is locked for a while. An
// attempt is counted before its password is checked, so concurrent guesses
// cannot overtake the lock.
type loginGuard struct {
	mu    sync.Mutex
	state map[string]*loginState
}

type loginState struct {
	failures    []int64
	lockedUntil int64
}

// attempt registers a sign-in attempt for key at now and says how long to
// slow it down, or until when the username is locked.
func (g *loginGuard) attempt(key string, now int64) (wait time.Duration, lockedUntil int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == nil {
		g.state = map[string]*loginState{}
	}
	if len(g.state) >= maxTrackedUsernames {
		g.prune(now)
	}
	st := g.state[key]
	if st == nil {
		st = &loginState{}
		g.state[key] = st
	}
	if st.lockedUntil > now {
		return 0, st.lockedUntil
	}
	st.failures = slices.DeleteFunc(st.failures, func(t int64) bool { return now-t > domain.LoginFailureWindow })
	if n := len(st.failures); n >= domain.LoginSlowThreshold {
		wait = time.Duration(min(n-domain.LoginSlowThreshold+1, 5)) * loginSlowStep
	}
	st.failures = append(st.failures, now) // taken back on success
	if len(st.failures) >= domain.LoginLockThreshold {
		st.lockedUntil, st.failures = now+domain.LoginLockDuration, nil
	}
	return wait, 0
}

// succeeded forgets a username's failures.
func (g *loginGuard) succeeded(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.state, key)
}

// lockedBy reports whether the attempt just counted locked the username.
func (g *loginGuard) lockedBy(key string, now int64) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if st := g.state[key]; st != nil && st.lockedUntil > now {
		return st.lockedUntil
	}
	return 0
}

// prune drops usernames with no recent failure and no lock.
func (g *loginGuard) prune(now int64) {
	for k, st := range g.state {
		recent := len(st.failures) > 0 && now-st.failures[len(st.failures)-1] <= domain.LoginFailureWindow
		if !recent && st.lockedUntil <= now {
			delete(g.state, k)
		}
	}
}

// Authenticate checks a username and password. Unknown users, wrong
// passwords and disabled users get the same answer after the same work.
func (rl *Realm) Authenticate(ctx context.Context, username, pw string, meta eventstore.Meta) LoginResult {
	now := meta.Time.Unix()
	if len(username) > maxUsernameLength {
		username = username[:maxUsernameLength]
	}
	key := strings.ToLower(username)
	wait, locked := rl.logins.attempt(key, now)
	if locked > 0 {
		return LoginResult{LockedUntil: time.Unix(locked, 0)}
	}

	u, found := rl.Users.ByUsername(username)
	if found && u.LockedUntil > now {
		// Locked by this replica before a restart, or by another one: the
		// lock is in the user's history, not only in this process.
		return LoginResult{LockedUntil: time.Unix(u.LockedUntil, 0)}
	}
	hash := dummyHash
	if found && u.HasPassword {
		if raw, err := rl.reg.passwords.Get(ctx, rl.Name, u.ID); err == nil {
			hash = string(raw)
		}
	}
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return LoginResult{Wait: wait}
	}
	ok, _ := checkPassword(hash, pw)
	<-hashSlots
	if ok && found && u.HasPassword && u.Active() {
		rl.logins.succeeded(key)
		return LoginResult{User: u, Wait: wait}
	}
	if until := rl.logins.lockedBy(key, now); until > 0 {
		if found {
			rl.recordLock(ctx, u.ID, until, meta)
		}
		return LoginResult{Wait: wait, LockedUntil: time.Unix(until, 0)}
	}
	return LoginResult{Wait: wait}
}

// recordLock writes a sign-in lock into the user's history (so it holds
// across restarts and replicas), at the user's version: a user deleted
// meanwhile gets no event. A failure leaves the lock in this process only.
func (rl *Realm) recordLock(ctx context.Context, id string, until int64, meta eventstore.Meta) {
	_ = rl.retryConflicts(ctx, func() error {
		u, ok := rl.Users.Get(id)
		if !ok {
			return nil
		}
		return rl.commit(ctx, domain.UserRef(id), u.Version, meta, domain.UserLocked{Until: until})
	})
}
