package realms

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// Limits bound what failing callers can cost: failed sign-ins and failed
// client authentications are counted per key in the counter bucket every
// replica shares (eventstore.Counters), so N replicas allow no more than
// one, and a restart forgets nothing. Successful calls never write a
// counter: a sign-in reads its three, a client authentication none.
type Limits struct {
	SignInUser   domain.Limit // failed sign-ins per username (any case), known or not
	SignInSource domain.Limit // per client address (IPv6: per /64)
	SignInRealm  domain.Limit // per realm, whatever the address
	ClientAuth   domain.Limit // failed client authentications per client id
	ClientSource domain.Limit // per client address (IPv6: per /64)
	// UserCodeSource and UserCodeRealm count wrong user codes typed on
	// the device flow's verification page, per address (IPv6: per /64)
	// and for the whole realm.
	UserCodeSource domain.Limit
	UserCodeRealm  domain.Limit
	// Registration counts open client registrations (RFC 7591 without an
	// initial access token) per client address (IPv6: per /64), each one,
	// successful or not.
	Registration domain.Limit
	// Hashes bounds concurrent argon2id computations (19 MiB and tens of
	// milliseconds each); a password check beyond it is answered 503.
	Hashes int
}

// DefaultLimits are the limits unless configured otherwise.
func DefaultLimits() Limits {
	return Limits{
		SignInUser:   domain.Limit{Max: 10, Window: 15 * 60},
		SignInSource: domain.Limit{Max: 50, Window: 15 * 60},
		SignInRealm:  domain.Limit{Max: 500, Window: 60},
		ClientAuth:   domain.Limit{Max: 20, Window: 5 * 60},
		ClientSource: domain.Limit{Max: 50, Window: 5 * 60},
		Registration: domain.Limit{Max: 5, Window: 15 * 60},
		// A person mistypes a code a few times; 20 wrong codes from one
		// address, or 100 a minute in the realm, is someone guessing.
		UserCodeSource: domain.Limit{Max: 20, Window: 15 * 60},
		UserCodeRealm:  domain.Limit{Max: 100, Window: 60},
		// Half the cores: the other half stays with token, introspection
		// and everything else while a spray keeps these busy.
		Hashes: max(1, runtime.NumCPU()/2),
	}
}

// limiter keeps the limits and the counter bucket, opened at first use
// (or by SetLimits, at start).
type limiter struct {
	store  *eventstore.Store
	limits Limits
	hashes chan struct{} // one token per argon2id computation running

	mu       sync.Mutex
	counters *eventstore.Counters
}

func newLimiter(store *eventstore.Store, l Limits) *limiter {
	return &limiter{store: store, limits: l, hashes: make(chan struct{}, max(l.Hashes, 1))}
}

// SetLimits replaces the default limits and opens the counter bucket, so
// that a store that cannot keep counters stops the start. Call it before
// serving.
func (r *Registry) SetLimits(ctx context.Context, l Limits) error {
	r.limiter = newLimiter(r.store, l)
	_, err := r.limiter.bucket(ctx)
	return err
}

func (l *limiter) bucket(ctx context.Context) (*eventstore.Counters, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counters == nil {
		c, err := l.store.OpenCounters(ctx)
		if err != nil {
			return nil, err
		}
		l.counters = c
	}
	return l.counters, nil
}

// counted is a key's counter as read, with the revision a write expects.
type counted struct {
	key   string
	limit domain.Limit
	c     domain.Counter
	rev   uint64
}

// read reads a key's counter; a value that cannot be read counts as none
// (it is overwritten by the next failure).
func (l *limiter) read(ctx context.Context, key string, limit domain.Limit) (counted, error) {
	out := counted{key: key, limit: limit}
	if limit.Max == 0 {
		return out, nil
	}
	b, err := l.bucket(ctx)
	if err != nil {
		return out, err
	}
	raw, rev, err := b.Get(ctx, key)
	if err != nil {
		return out, err
	}
	out.rev = rev
	if raw != nil && json.Unmarshal(raw, &out.c) != nil {
		out.c = domain.Counter{}
	}
	return out, nil
}

// fail counts one failure on a key read before, writing with a
// compare-and-set and reading again when another replica or request wrote
// in between (under the commands' retry policy). It returns the counter
// as it now stands and whether this failure blocked the key.
func (l *limiter) fail(ctx context.Context, k counted, now int64) (counted, bool, error) {
	if k.limit.Max == 0 {
		return k, false, nil
	}
	for n := 0; ; n++ {
		next, ttl, blocked := k.limit.Failed(k.c, now)
		if ttl == 0 {
			return k, false, nil // blocked already: nothing to count
		}
		raw, _ := json.Marshal(next)
		b, err := l.bucket(ctx)
		if err != nil {
			return k, false, err
		}
		err = b.Set(ctx, k.key, raw, k.rev, time.Duration(ttl)*time.Second)
		if err == nil {
			k.c = next
			return k, blocked, nil
		}
		if !errors.Is(err, eventstore.ErrConflict) || n == retry.attempts-1 {
			return k, false, err
		}
		t := time.NewTimer(retry.pause(n))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return k, false, ctx.Err()
		}
		if k, err = l.read(ctx, k.key, k.limit); err != nil {
			return k, false, err
		}
	}
}

// forget deletes a key's counter.
func (l *limiter) forget(ctx context.Context, key string) error {
	b, err := l.bucket(ctx)
	if err != nil {
		return err
	}
	return b.Delete(ctx, key)
}

// errHashesBusy answers a password check that found every argon2id slot
// taken: rather than queue behind a spray (holding memory and connections,
// and CPU from token and introspection requests), the caller retries.
var errHashesBusy = &domain.LimitError{Busy: true, RetryAfter: 1, Message: "the server is busy checking passwords; retry in a second"}

// hashPatience is how long a password check waits for a slot: enough for
// a burst (a form sent several times at once, on a loaded machine) to be
// served, short enough that a spray's requests are turned away rather
// than piling up. A waiting check holds a connection, not a CPU.
const hashPatience = time.Second

// hash runs argon2id work in one of the bounded slots, or refuses.
func (l *limiter) hash(work func()) error {
	select {
	case l.hashes <- struct{}{}:
	default:
		t := time.NewTimer(hashPatience)
		defer t.Stop()
		select {
		case l.hashes <- struct{}{}:
		case <-t.C:
			return errHashesBusy
		}
	}
	defer func() { <-l.hashes }()
	work()
	return nil
}

// counterKey names a counter: realm, what it counts, and a digest of the
// value (a username, an address, a client id: whatever a caller sends,
// kept out of the bucket's key names and fit for them).
func counterKey(realm, kind, value string) string {
	sum := sha256.Sum256([]byte(value))
	return realm + "." + kind + "." + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// CountAuthFailure counts a failed client authentication against the
// client id presented and the caller's address. Once either is over its
// limit the answer is a *domain.LimitError (429 with Retry-After) instead
// of invalid_client; authentication with the right credentials is never
// counted, slowed or refused by it.
func (cs Clients) CountAuthFailure(ctx context.Context, clientID, source string, now time.Time) error {
	rl := cs.rl
	l := rl.reg.limiter
	var until int64
	for _, k := range []struct {
		key   string
		limit domain.Limit
	}{
		{counterKey(rl.Name, "client", clientID), l.limits.ClientAuth},
		{counterKey(rl.Name, "client-src", domain.SourceKey(source)), l.limits.ClientSource},
	} {
		c, err := l.read(ctx, k.key, k.limit)
		if err == nil {
			c, _, err = l.fail(ctx, c, now.Unix())
		}
		if err != nil {
			rl.reg.log.Warn("failed client authentication not counted", "realm", rl.Name, "err", err)
			continue
		}
		until = max(until, k.limit.BlockedUntil(c.c, now.Unix()))
	}
	if until > 0 {
		return domain.TooManyFailures("too many failed client authentications for this client or from this address", domain.ErrInvalidClient, until, now.Unix())
	}
	return nil
}

// countOpen counts an open registration (no initial access token) from an
// address on the shared counters: once the address is over its limit the
// answer is a *domain.LimitError (429 with Retry-After). A counter that
// cannot be read or written is logged and the registration goes ahead, as
// a failed client authentication that cannot be counted does.
func (r Registration) countOpen(ctx context.Context, source string, now time.Time) error {
	rl := r.rl
	l := rl.reg.limiter
	c, err := l.read(ctx, counterKey(rl.Name, "register-src", domain.SourceKey(source)), l.limits.Registration)
	if err == nil {
		if until := c.limit.BlockedUntil(c.c, now.Unix()); until > 0 {
			return domain.TooManyFailures("too many registrations from this address", "", until, now.Unix())
		}
		_, _, err = l.fail(ctx, c, now.Unix())
	}
	if err != nil {
		rl.reg.log.Warn("open registration not counted", "realm", rl.Name, "err", err)
	}
	return nil
}
