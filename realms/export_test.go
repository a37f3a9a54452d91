package realms

import (
	"context"
	"crypto"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
)

// What the package's black-box tests may see of a realm's inside.

// Models are the realm's read models.
func (rl *Realm) Models() *projections.Models { return rl.models }

// State is the realm aggregate's state.
func (rl *Realm) State() *domain.Realm { return rl.state() }

// Applied is the last sequence the read models applied.
func (rl *Realm) Applied() uint64 { return rl.runner.Applied() }

// PublicKey is a published key by kid.
func (rl *Realm) PublicKey(kid string, now time.Time) (crypto.PublicKey, string, bool) {
	return rl.Keys().publicKey(kid, now)
}

// IssueAccessToken issues a token as the client-credentials grant does,
// for any request, without a requirement on the client.
func (rl *Realm) IssueAccessToken(ctx context.Context, agg domain.AggregateRef, grantType string, req TokenRequest, meta eventstore.Meta) (IssuedToken, error) {
	issued, ev, err := rl.Tokens().token(ctx, grantType, req, meta.Time)
	if err != nil {
		return IssuedToken{}, err
	}
	_, err = rl.reg.store.AppendToken(ctx, rl.Name, agg, meta, ev, eventstore.Requirement{})
	return issued, err
}

// SetSnapshotPeriod shortens how often models are snapshotted on time.
func (r *Registry) SetSnapshotPeriod(d time.Duration) { r.snapshotPeriod = d }

// SetAuditUnchecked sets the server's audit defaults without Validate: a
// test may retain token events for seconds, far below MinTokenRetention.
func (r *Registry) SetAuditUnchecked(cfg AuditConfig) { r.audit = cfg }

// TakeHashSlots takes every argon2id slot, as password checks running
// would, until release.
func (r *Registry) TakeHashSlots() (release func()) {
	for range cap(r.limiter.hashes) {
		r.limiter.hashes <- struct{}{}
	}
	return func() {
		for range cap(r.limiter.hashes) {
			<-r.limiter.hashes
		}
	}
}

// FlushUsage writes the token.used events noted so far.
func (rl *Realm) FlushUsage(ctx context.Context) { rl.flushUsage(ctx) }
