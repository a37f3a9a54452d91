package realms

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
)

// Realm is one realm served by this process: its issuer, read models and
// signing keys.
type Realm struct {
	Name    string
	Issuer  string
	Clients *projections.Clients
	Tokens  *projections.Tokens
	Nodes   *projections.Nodes
	Users   *projections.Users
	Authz   *projections.Authz

	model        *projections.Realm
	models       *projections.Models
	runner       *projections.Runner
	reg          *Registry
	usage        usageRecorder
	logins       loginGuard
	checkpointer *checkpointer
	stop         context.CancelFunc

	signers sync.Map // kid → crypto.Signer, opened from the key store once
	publics sync.Map // kid → crypto.PublicKey, parsed from the events once

	// structure is held by every decision that checks a node or scope
	// exists (a client's owner node, roles, restrictions and scopes; a
	// user's memberships; a node's parent) until its event is applied, and
	// by the removal of a node or scope: otherwise a removal could pass its
	// "nothing refers to it" check while a reference is being written.
	// (Within this process; replicas share no lock.)
	structure sync.Mutex
}

// State is the realm's current state (name, keys); never mutate it.
func (rl *Realm) State() *domain.Realm { return rl.model.State() }

// WaitFor blocks until this process's read models have applied seq.
func (rl *Realm) WaitFor(ctx context.Context, seq uint64) error { return rl.runner.WaitFor(ctx, seq) }

// Applied is the last sequence the read models have applied.
func (rl *Realm) Applied() uint64 { return rl.runner.Applied() }

// Signer returns the realm's active key for alg.
func (rl *Realm) Signer(ctx context.Context, alg string) (string, crypto.Signer, error) {
	key, ok := rl.State().ActiveKey(alg)
	if !ok {
		return "", nil, fmt.Errorf("realm %s has no active %s key", rl.Name, alg)
	}
	return rl.signerFor(ctx, key.Kid)
}

// signerFor returns a signing key of the realm by kid, active or retired
// (checkpoints that vouch for a new key are signed with the previous one).
func (rl *Realm) signerFor(ctx context.Context, kid string) (string, crypto.Signer, error) {
	if s, ok := rl.signers.Load(kid); ok {
		return kid, s.(crypto.Signer), nil
	}
	der, err := rl.reg.keys.Get(ctx, rl.Name, kid)
	if err != nil {
		return "", nil, err
	}
	s, err := parsePrivateKey(der)
	if err != nil {
		return "", nil, err
	}
	rl.signers.Store(kid, s)
	return kid, s, nil
}

// PublicKey returns a published key by kid, for verifying this realm's
// tokens; a retired key past its publication time is not returned.
func (rl *Realm) PublicKey(kid string, now time.Time) (crypto.PublicKey, string, bool) {
	for _, k := range rl.State().Keys {
		if k.Kid != kid || !k.Published(now) {
			continue
		}
		if pub, ok := rl.publics.Load(kid); ok {
			return pub, k.Alg, true
		}
		pub, err := parseJWK(k.PublicJWK)
		if err != nil {
			return nil, "", false
		}
		rl.publics.Store(kid, pub)
		return pub, k.Alg, true
	}
	return nil, "", false
}

// JWKS lists the public keys to publish at now: active ones and retired
// ones some token may still carry.
func (rl *Realm) JWKS(now time.Time) []json.RawMessage {
	keys := []json.RawMessage{}
	for _, k := range rl.State().Keys {
		if k.Published(now) {
			keys = append(keys, k.PublicJWK)
		}
	}
	return keys
}

// RotateKeys adds new active keys and retires the current ones, which stay
// published until every token they signed has expired.
func (rl *Realm) RotateKeys(ctx context.Context, meta eventstore.Meta) error {
	keys, err := rl.reg.newKeys(ctx, rl.Name)
	if err != nil {
		return err
	}
	return rl.execute(ctx, meta, command{decide: func() (plan, error) {
		state := rl.State()
		// The longest lifetime any token can have, not the longest clients
		// have now: a lifetime shortened since, or a client deleted, must
		// not retire a key before the tokens it signed expire.
		events, err := domain.DecideRotateKeys(state, keys, meta.Time, domain.MaxAccessTokenLifetime)
		return write(domain.RealmRef(rl.Name), state.Version, events...), err
	}})
}

// NewSecret returns 256 random bits, base64url without padding.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// snapshotEvery returns the runner hook that snapshots the models every
// snapshotEvery messages. It runs on the runner's goroutine, where the
// models are consistent; the upload happens in the background.
func (rl *Realm) snapshotEvery(from uint64) func(seq uint64) {
	last := from
	return func(seq uint64) {
		if rl.reg.snapshots == nil || seq-last < snapshotEvery {
			return
		}
		last = seq
		data, err := rl.models.Snapshot(seq)
		if err != nil {
			rl.reg.log.Warn("snapshot failed", "realm", rl.Name, "err", err)
			return
		}
		go rl.uploadSnapshot(seq, data)
	}
}

// saveSnapshot snapshots stopped models (their runner no longer applies).
func (rl *Realm) saveSnapshot(seq uint64) {
	if rl.reg.snapshots == nil || seq == 0 {
		return
	}
	data, err := rl.models.Snapshot(seq)
	if err != nil {
		rl.reg.log.Warn("snapshot failed", "realm", rl.Name, "err", err)
		return
	}
	rl.uploadSnapshot(seq, data)
}

func (rl *Realm) uploadSnapshot(seq uint64, data []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rl.reg.snapshots.Save(ctx, rl.Name, data); err != nil {
		rl.reg.log.Warn("snapshot not saved", "realm", rl.Name, "seq", seq, "err", err)
	}
}
