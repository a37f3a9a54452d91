package realms

import (
	"context"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
)

// Last-use tracking: a token seen in use (introspection) is noted in
// memory; a background flush writes token.used events, at most one per token
// per usageInterval, so neither issuance nor introspection waits on a write.
const (
	usageInterval = time.Minute
	usageFlush    = 10 * time.Second
)

type usageRecorder struct {
	mu   sync.Mutex
	seen map[string]seenToken // by jti
}

type seenToken struct {
	clientID   string
	onBehalfOf string // the user of a user-delegated token
	lastUsed   int64  // as the read model had it
	at         int64
}

// Touch notes that a token was used at now.
func (ts Tokens) Touch(info projections.TokenInfo, now time.Time) {
	if now.Unix()-info.LastUsed < int64(usageInterval/time.Second) {
		return
	}
	seen := seenToken{clientID: info.ClientID, lastUsed: info.LastUsed, at: now.Unix()}
	if info.Subject != info.ClientID {
		seen.onBehalfOf = info.Subject // a client's own token has the client as subject
	}
	u := &ts.rl.usage
	u.mu.Lock()
	if u.seen == nil {
		u.seen = map[string]seenToken{}
	}
	u.seen[info.JTI] = seen
	u.mu.Unlock()
}

// flushUsage writes the token.used events noted since the last flush.
func (rl *Realm) flushUsage(ctx context.Context) {
	u := &rl.usage
	u.mu.Lock()
	seen := u.seen
	u.seen = nil
	u.mu.Unlock()
	for jti, s := range seen {
		meta := eventstore.Meta{Actor: eventstore.ActorSystem, OnBehalfOf: s.onBehalfOf, ClientID: s.clientID, Time: time.Unix(s.at, 0)}
		if _, err := rl.reg.store.AppendToken(ctx, rl.Name, domain.ClientRef(s.clientID), meta, domain.TokenUsed{JTI: jti, At: s.at}, eventstore.Requirement{}); err != nil {
			rl.reg.log.Warn("token.used not written", "realm", rl.Name, "err", err)
		}
	}
}

// runUsageFlush flushes usage until ctx ends.
func (rl *Realm) runUsageFlush(ctx context.Context) {
	t := time.NewTicker(usageFlush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rl.flushUsage(ctx)
		}
	}
}
