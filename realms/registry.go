package realms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
	"github.com/latchkeyhq/latchkey/realms/webfetch"
)

// catchUpTimeout bounds how long opening a realm waits for its models.
const catchUpTimeout = 30 * time.Second

// Registry knows every realm this process serves and runs their read models.
type Registry struct {
	store     *eventstore.Store
	keys      *KeyStore
	passwords *KeyStore
	snapshots *SnapshotStore // nil: always replay from the first event
	// snapshotPeriod: a realm's models are snapshotted at least this often
	// while events arrive (snapshotPeriod by default).
	snapshotPeriod time.Duration
	// consoleSessions holds the console's sessions; nil: no console.
	consoleSessions *ConsoleSessions
	audit           AuditConfig // server defaults of realm settings
	publicURL       string
	limiter         *limiter // failed sign-ins and client authentications; argon2id slots
	hosts           hostRouting
	log             *slog.Logger
	now             func() time.Time // the clock of decisions made at write time
	// fetch reads the documents clients name: metadata documents, key sets.
	fetch *webfetch.Fetcher
	// keyRefetched: when each client jwks_uri was last fetched again
	// early, for a key it lacked (URL → time.Time).
	keyRefetched sync.Map

	mu      sync.RWMutex
	realms  map[string]*Realm
	openMu  sync.Mutex // serialises discovery of realms not yet known
	unknown unknownRealms
}

// NewRegistry returns an empty registry; LoadAll fills it.
func NewRegistry(store *eventstore.Store, keys, passwords *KeyStore, publicURL string, log *slog.Logger) *Registry {
	r := &Registry{
		store:     store,
		keys:      keys,
		passwords: passwords,
		publicURL: strings.TrimRight(publicURL, "/"),
		limiter:   newLimiter(store, DefaultLimits()),
		log:       log,
		now:       time.Now,
		fetch:     webfetch.New(webfetch.Config{}),
		realms:    map[string]*Realm{},

		snapshotPeriod: snapshotPeriod,
	}
	r.hosts.init(r.publicURL)
	return r
}

// UseFetcher replaces how client metadata documents and key sets are
// fetched (tests and development allow loopback addresses).
func (r *Registry) UseFetcher(cfg webfetch.Config) { r.fetch = webfetch.New(cfg) }

// UseClock replaces the clock of decisions made when a write happens rather
// than when its request began (a refresh token's rotation time).
func (r *Registry) UseClock(now func() time.Time) { r.now = now }

// UseSnapshots makes realms start from their latest snapshot and save new
// ones as history grows.
func (r *Registry) UseSnapshots(s *SnapshotStore) { r.snapshots = s }

// PublicURL is the URL the service is published at (no trailing slash):
// the server's own endpoints (the admin API) are under it.
func (r *Registry) PublicURL() string { return r.publicURL }

// SecureCookies reports whether browser cookies get the Secure flag: when
// the service is published over https.
func (r *Registry) SecureCookies() bool { return strings.HasPrefix(r.publicURL, "https://") }

// PublicOrigin is the origin of the public URL (scheme://host[:port]):
// the origin the console's forms are sent from.
func (r *Registry) PublicOrigin() string { return originOf(r.publicURL) }

// originOf is the origin (scheme://host[:port]) of a URL.
func originOf(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Scheme + "://" + u.Host
}

// LoadAll opens every realm that has a stream and waits until each one's
// read models have caught up with its history.
func (r *Registry) LoadAll(ctx context.Context) error {
	names, err := r.store.Realms(ctx)
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, err := r.open(ctx, name); err != nil {
			return fmt.Errorf("realm %s: %w", name, err)
		}
	}
	return nil
}

// Get returns a realm, discovering one created by another replica. An
// unknown or invalid name is domain.ErrNotFound.
func (r *Registry) Get(ctx context.Context, name string) (*Realm, error) {
	r.mu.RLock()
	rl, ok := r.realms[name]
	r.mu.RUnlock()
	if !ok {
		if !domain.IsValidName(name) || r.unknown.has(name, time.Now()) {
			return nil, domain.ErrNotFound
		}
		exists, err := r.store.HasRealmStream(ctx, name)
		if err != nil {
			return nil, err
		}
		if !exists {
			r.unknown.add(name, time.Now())
			return nil, domain.ErrNotFound
		}
		if rl, err = r.open(ctx, name); err != nil {
			return nil, err
		}
	}
	if !rl.model.Exists() {
		return nil, domain.ErrNotFound
	}
	return rl, nil
}

// Names found to be no realm are answered as such for unknownFor without
// asking the store again, so a flood of requests naming no realm costs one
// lookup per name and period, not one per request. A realm created on
// another replica is therefore found here at most unknownFor after it was
// first asked for in vain (one created here is at once). At most
// maxUnknown names are kept; past that the expired go, or all.
const (
	unknownFor = 2 * time.Second
	maxUnknown = 10_000
)

// unknownRealms remembers names that were no realm, until when.
type unknownRealms struct {
	mu    sync.Mutex
	until map[string]time.Time
}

func (u *unknownRealms) has(name string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return now.Before(u.until[name])
}

func (u *unknownRealms) forget(name string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.until, name)
}

func (u *unknownRealms) add(name string, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.until == nil || len(u.until) >= maxUnknown {
		if len(u.until) >= maxUnknown {
			maps.DeleteFunc(u.until, func(_ string, t time.Time) bool { return !now.Before(t) })
		}
		if u.until == nil || len(u.until) >= maxUnknown {
			u.until = map[string]time.Time{}
		}
	}
	u.until[name] = now.Add(unknownFor)
}

// List returns the realms that exist, by name.
func (r *Registry) List() []*Realm {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Realm, 0, len(r.realms))
	for _, rl := range r.realms {
		if rl.model.Exists() {
			out = append(out, rl)
		}
	}
	slices.SortFunc(out, func(a, b *Realm) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// open starts a realm's read models once and waits for them to catch up.
func (r *Registry) open(ctx context.Context, name string) (*Realm, error) {
	r.openMu.Lock()
	defer r.openMu.Unlock()
	r.mu.RLock()
	rl, ok := r.realms[name]
	r.mu.RUnlock()
	if ok {
		return rl, nil
	}
	models, after := r.restoreSnapshot(ctx, name)
	rl = &Realm{
		Name: name, pathIssuer: r.publicURL + "/realms/" + name, reg: r, models: models, model: models.Realm,
	}
	runner, err := projections.StartRunner(ctx, r.store, name, r.log,
		projections.RunnerOptions{After: after, OnApplied: rl.snapshotEvery(after)}, models.Folds()...)
	if err != nil {
		return nil, err
	}
	rl.runner = runner
	rl.fresh.catchUp = func(ctx context.Context) error { return runner.CaughtUp(ctx, r.store) }
	waitCtx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	caughtUpFrom := time.Now()
	if err := runner.CaughtUp(waitCtx, r.store); err != nil {
		runner.Stop()
		return nil, err
	}
	rl.fresh.asOf.Store(caughtUpFrom.UnixNano())
	bg, stop := context.WithCancel(context.Background())
	rl.stop = stop
	go rl.runUsageFlush(bg)
	rl.startCheckpointer()
	r.mu.Lock()
	r.realms[name] = rl
	r.mu.Unlock()
	r.forgetHostIndex() // its hosts route at once
	return rl, nil
}

// Create makes a new realm: its stream, its signing keys (sealed in the key
// store) and its first events, written all at once. A name in use is
// domain.ErrAlreadyExists; an invalid one a *domain.ValidationError, and in
// both cases nothing is written.
func (r *Registry) Create(ctx context.Context, name string, meta eventstore.Meta) (*Realm, error) {
	if err := domain.ValidateName("realm name", name); err != nil {
		return nil, err
	}
	r.unknown.forget(name) // asked for in vain a moment ago, perhaps; created since elsewhere, perhaps
	if _, err := r.Get(ctx, name); err == nil {
		return nil, domain.ErrAlreadyExists
	} else if !errors.Is(err, domain.ErrNotFound) {
		return nil, err
	}
	keys, err := r.newKeys(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := r.store.EnsureRealmStream(ctx, name); err != nil {
		return nil, err
	}
	// Opened before its first event, so that the creation is a command
	// like any other: it waits until the new realm's models applied it.
	rl, err := r.open(ctx, name)
	if err != nil {
		return nil, err
	}
	err = rl.execute(ctx, meta, command{lostRace: domain.ErrAlreadyExists, decide: func() (plan, error) {
		if rl.model.Exists() {
			return plan{}, domain.ErrAlreadyExists
		}
		events, err := domain.DecideCreateRealm(name, keys)
		if err != nil {
			return plan{}, err
		}
		p := write(domain.RealmRef(name), 0, events...)
		// The realm's console client comes with it, in the same append,
		// referring to scopes no model has applied yet.
		var first domain.Realm
		for _, ev := range events {
			first.Apply(0, ev)
		}
		if console, ok := r.consoleClient(name, first.Scopes); ok {
			by := domain.ClientRef(domain.ConsoleClientID)
			p.add(by, 0, console)
			if err := rl.Structure().referenceScopes(&p, by, nil, console.AllScopes(), first.Scopes); err != nil {
				return plan{}, err
			}
		}
		return p, nil
	}})
	if err != nil {
		return nil, err
	}
	return rl, nil
}

// newKeys generates a realm's signing keys, ES256 and RS256, and seals the
// private halves in the key store before any event names them.
func (r *Registry) newKeys(ctx context.Context, realm string) ([]domain.KeyAdded, error) {
	var out []domain.KeyAdded
	for _, alg := range []string{domain.AlgES256, domain.AlgRS256} {
		priv, ev, err := newKey(alg)
		if err != nil {
			return nil, err
		}
		der, err := marshalPrivateKey(priv)
		if err != nil {
			return nil, err
		}
		if err := r.keys.Put(ctx, realm, ev.Kid, der); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// Close stops every realm's read models.
func (r *Registry) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rl := range r.realms {
		rl.stop()
		rl.flushUsage(context.Background())
		rl.stopCheckpointer()
		rl.runner.Stop()
		rl.saveSnapshot(rl.runner.Applied())
	}
}

// restoreSnapshot returns a realm's models restored from its snapshot and
// the sequence they reflect; fresh models and 0 (replay everything) when
// there is none or it cannot be used.
func (r *Registry) restoreSnapshot(ctx context.Context, realm string) (*projections.Models, uint64) {
	if r.snapshots == nil {
		return projections.NewModels(), 0
	}
	data, err := r.snapshots.Load(ctx, realm)
	if err != nil || data == nil {
		if err != nil {
			r.log.Warn("snapshot not loaded; replaying the realm", "realm", realm, "err", err)
		}
		return projections.NewModels(), 0
	}
	models := projections.NewModels()
	seq, err := models.Restore(data)
	if err != nil {
		r.log.Warn("snapshot unusable; replaying the realm", "realm", realm, "err", err)
		return projections.NewModels(), 0
	}
	r.log.Info("read models restored from snapshot", "realm", realm, "seq", seq)
	return models, seq
}
