package realms

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// Sign-in with a username and password, and the guard that slows down and
// then locks a username guessed at.

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

// SignIn checks a username and password. Unknown users, wrong passwords
// and disabled users get the same answer after the same work.
func (us Users) SignIn(ctx context.Context, username, pw string, meta eventstore.Meta) LoginResult {
	rl := us.rl
	now := meta.Time.Unix()
	if len(username) > maxUsernameLength {
		username = username[:maxUsernameLength]
	}
	key := strings.ToLower(username)
	wait, locked := rl.logins.attempt(key, now)
	if locked > 0 {
		return LoginResult{LockedUntil: time.Unix(locked, 0)}
	}

	u, found := rl.models.Users.ByUsername(username)
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
			us.recordLock(ctx, u.ID, until, meta)
		}
		return LoginResult{Wait: wait, LockedUntil: time.Unix(until, 0)}
	}
	return LoginResult{Wait: wait}
}

// recordLock writes a sign-in lock into the user's history (so it holds
// across restarts and replicas), at the user's version: a user deleted
// meanwhile gets no event. A failure leaves the lock in this process only.
func (us Users) recordLock(ctx context.Context, id string, until int64, meta eventstore.Meta) {
	rl := us.rl
	err := rl.execute(ctx, meta, command{decide: func() (plan, error) {
		u, ok := rl.models.Users.Get(id)
		if !ok {
			return plan{}, nil
		}
		return write(domain.UserRef(id), u.Version, domain.UserLocked{Until: until}), nil
	}})
	if err != nil {
		rl.reg.log.Warn("sign-in lock not recorded", "realm", rl.Name, "user", id, "request_id", meta.RequestID, "err", err)
	}
}
