package realms

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// Sign-in with a username and password, under the limits of limits.go:
// failures are counted per username, per source address and per realm;
// a username at its limit is locked, except in the browser its user last
// signed in with (a device cookie), so that nobody can lock a user out.

// SignInRequest is a sign-in form and what the realm needs to know of
// where it comes from.
type SignInRequest struct {
	Username, Password string
	// Source is the client's IP address.
	Source string
	// Device is the browser's device cookie, if it sent one.
	Device string
}

// LoginResult is the outcome of a sign-in attempt the form answers.
type LoginResult struct {
	User *domain.User // set on success
	// Device is, on success, the device cookie to give the browser: it
	// exempts this browser from the lock of the user's username.
	Device      string
	Wait        time.Duration // on failure: the slow-down before answering
	LockedUntil time.Time     // non-zero when the username is locked
}

// DeviceLifetime is how long a device cookie exempts a browser from its
// user's lock; each sign-in renews it.
const DeviceLifetime = 90 * 24 * time.Hour

// maxUsernameLength bounds the part of a username worth counting.
const maxUsernameLength = 100

// device is what a device cookie holds, sealed for its realm.
type device struct {
	UserID    string `json:"u"`
	ExpiresAt int64  `json:"e"`
}

// sealDevice makes the device cookie of a user's browser.
func (us Users) sealDevice(userID string, now time.Time) (string, error) {
	raw, err := json.Marshal(device{UserID: userID, ExpiresAt: now.Add(DeviceLifetime).Unix()})
	if err != nil {
		return "", err
	}
	return us.rl.reg.keys.seal("device:"+us.rl.Name, raw)
}

// deviceUser is the user a device cookie names; empty when it is not a
// valid cookie of this realm.
func (us Users) deviceUser(cookie string, now time.Time) string {
	if cookie == "" {
		return ""
	}
	raw, err := us.rl.reg.keys.unseal("device:"+us.rl.Name, cookie)
	var d device
	if err != nil || json.Unmarshal(raw, &d) != nil || now.Unix() >= d.ExpiresAt {
		return ""
	}
	return d.UserID
}

// signInCounters are the counters a sign-in reads and, when it fails,
// counts on.
type signInCounters struct{ user, source, realm counted }

func (us Users) readSignInCounters(ctx context.Context, username, source string) (signInCounters, error) {
	rl := us.rl
	l := rl.reg.limiter
	var out signInCounters
	var err error
	if out.source, err = l.read(ctx, counterKey(rl.Name, "signin-src", domain.SourceKey(source)), l.limits.SignInSource); err != nil {
		return out, err
	}
	if out.realm, err = l.read(ctx, rl.Name+".signin-realm", l.limits.SignInRealm); err != nil {
		return out, err
	}
	out.user, err = l.read(ctx, userCounterKey(rl.Name, username), l.limits.SignInUser)
	return out, err
}

// userCounterKey is the counter of a username, in any case.
func userCounterKey(realm, username string) string {
	if len(username) > maxUsernameLength {
		username = username[:maxUsernameLength]
	}
	return counterKey(realm, "signin-user", strings.ToLower(username))
}

// SignIn checks a username and password. Unknown users, wrong passwords
// and disabled users get the same answer after the same work. Refused
// before any password is checked: a source address or, unless the browser
// holds the user's device cookie, the realm over its limit (a
// *domain.LimitError, 429); a locked username (LockedUntil) unless the
// browser holds its user's device cookie. With every argon2id slot taken
// the error is a busy *domain.LimitError (503).
func (us Users) SignIn(ctx context.Context, in SignInRequest, meta eventstore.Meta) (LoginResult, error) {
	rl := us.rl
	l := rl.reg.limiter
	now := meta.Time.Unix()
	u, found := rl.models.Users.ByUsername(in.Username)
	// The browser this user signed in with before: the username's lock
	// and the realm's budget do not apply to it.
	trusted := found && us.deviceUser(in.Device, meta.Time) == u.ID
	counters, err := us.readSignInCounters(ctx, in.Username, in.Source)
	if err != nil {
		return LoginResult{}, err
	}
	if until := l.limits.SignInSource.BlockedUntil(counters.source.c, now); until > 0 {
		return LoginResult{}, domain.TooManyFailures("too many failed sign-ins from this address", "", until, now)
	}
	if until := l.limits.SignInRealm.BlockedUntil(counters.realm.c, now); until > 0 && !trusted {
		return LoginResult{}, domain.TooManyFailures("too many failed sign-ins in this realm", "", until, now)
	}
	if until := l.limits.SignInUser.BlockedUntil(counters.user.c, now); until > 0 && !trusted {
		return LoginResult{LockedUntil: time.Unix(until, 0)}, nil
	}

	hash := dummyHash
	if found && u.HasPassword {
		if raw, err := rl.reg.passwords.Get(ctx, rl.Name, u.ID); err == nil {
			hash = string(raw)
		}
	}
	var ok bool
	if err := l.hash(func() { ok, _ = checkPassword(hash, in.Password) }); err != nil {
		return LoginResult{}, err
	}
	if ok && found && u.HasPassword && u.Active() {
		// The user's typos are forgotten; a lock stays (the user signed
		// in through it with the device cookie): it stops the guesses
		// from elsewhere, which must not start over.
		if counters.user.c.Failures > 0 && l.limits.SignInUser.BlockedUntil(counters.user.c, now) == 0 {
			if err := l.forget(ctx, counters.user.key); err != nil {
				rl.reg.log.Warn("failed sign-ins of a username not forgotten", "realm", rl.Name, "user", u.ID, "request_id", meta.RequestID, "err", err)
			}
		}
		cookie, err := us.sealDevice(u.ID, meta.Time)
		if err != nil {
			return LoginResult{}, err
		}
		return LoginResult{User: u, Device: cookie}, nil
	}
	if !found {
		u = nil
	}
	return us.signInFailed(ctx, counters, u, trusted, meta), nil
}

// signInFailed counts a failed sign-in on its three counters and says how
// long to slow the answer down and whether the username is now locked. A
// lock this failure set on a known user goes into the user's history (the
// audit log shows it; the counter is what enforces it). A counter that
// cannot be written is logged; the answer is the same.
func (us Users) signInFailed(ctx context.Context, counters signInCounters, u *domain.User, trusted bool, meta eventstore.Meta) LoginResult {
	rl := us.rl
	l := rl.reg.limiter
	now := meta.Time.Unix()
	var locked bool
	for _, k := range []*counted{&counters.source, &counters.realm, &counters.user} {
		next, blocked, err := l.fail(ctx, *k, now)
		if err != nil {
			rl.reg.log.Warn("failed sign-in not counted", "realm", rl.Name, "request_id", meta.RequestID, "err", err)
			continue
		}
		*k = next
		locked = locked || (k == &counters.user && blocked)
	}
	res := LoginResult{Wait: l.limits.SignInSource.Delay(counters.source.c, now)}
	if trusted {
		return res
	}
	res.Wait = max(res.Wait, l.limits.SignInUser.Delay(counters.user.c, now))
	if until := l.limits.SignInUser.BlockedUntil(counters.user.c, now); until > 0 {
		res.LockedUntil = time.Unix(until, 0)
		if locked && u != nil {
			us.recordLock(ctx, u.ID, until, meta)
		}
	}
	return res
}

// recordLock writes a sign-in lock into the user's history, at the user's
// version: a user deleted meanwhile gets no event.
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

// Unlock lifts a user's sign-in lock and forgets the failed sign-ins of
// their username: a user.unlocked event (the audit log's entry of who did
// it), then the counter.
func (us Users) Unlock(ctx context.Context, id string, meta eventstore.Meta) (*domain.User, error) {
	u, err := us.change(ctx, id, meta, func(u *domain.User) (plan, error) {
		return write(domain.UserRef(id), u.Version, domain.UserUnlocked{}), nil
	})
	if err != nil {
		return nil, err
	}
	if err := us.rl.reg.limiter.forget(ctx, userCounterKey(us.rl.Name, u.Username)); err != nil {
		return nil, err
	}
	return u, nil
}
