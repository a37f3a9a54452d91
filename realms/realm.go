package realms

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/projections"
)

// Realm is one realm served by this process: its name, issuer, read models
// and signing keys. What it does is grouped by capability, each group a
// small value with its commands (run by execute, command.go) and its named
// queries:
//
//	rl.Clients()    clients: registration, settings, secrets, status, deletion, authentication
//	rl.Users()      users: profile, password, memberships, status, consent, sign-in
//	rl.Structure()  the node tree and the scope catalog
//	rl.Sessions()   browser sessions
//	rl.Grants()     authorization requests, codes, refresh grants
//	rl.Tokens()     access tokens: issuance, introspection, revocation, use
//	rl.Keys()       signing keys: rotation, JWKS, ID token hints
//
// and the realm's settings (settings.go).
type Realm struct {
	Name string
	// pathIssuer is <public-url>/realms/<name>: the issuer of a realm that
	// claims no host (see Issuer).
	pathIssuer string

	model        *projections.Realm
	models       *projections.Models
	runner       *projections.Runner
	reg          *Registry
	usage        usageRecorder
	checkpointer *checkpointer
	stop         context.CancelFunc

	signers   sync.Map // kid → crypto.Signer, opened from the key store once
	publics   sync.Map // kid → crypto.PublicKey, parsed from the events once
	rehashing sync.Map // client id → true while its secret is being rehashed

	fresh freshness // how far behind the stream the models may be
}

// Clients are the realm's OAuth clients.
func (rl *Realm) Clients() Clients { return Clients{rl} }

// Users are the realm's users.
func (rl *Realm) Users() Users { return Users{rl} }

// Structure is the realm's node tree and scope catalog.
func (rl *Realm) Structure() Structure { return Structure{rl} }

// Sessions are the realm's browser sessions.
func (rl *Realm) Sessions() Sessions { return Sessions{rl} }

// Grants are the realm's authorization requests, codes and refresh grants.
func (rl *Realm) Grants() Grants { return Grants{rl} }

// Tokens are the realm's access tokens.
func (rl *Realm) Tokens() Tokens { return Tokens{rl} }

// Keys are the realm's signing keys.
func (rl *Realm) Keys() Keys { return Keys{rl} }

// state is the realm aggregate's current state (name, keys, scopes,
// settings); never mutate it.
func (rl *Realm) state() *domain.Realm { return rl.model.State() }

// WaitFor blocks until this process's read models have applied seq (the
// audit stream waits so before it checks its caller again).
func (rl *Realm) WaitFor(ctx context.Context, seq uint64) error { return rl.runner.WaitFor(ctx, seq) }

// catchUp waits until the read models have applied everything the stream
// held when it was called (a catch-up shared with every caller waiting
// for one; see freshness).
func (rl *Realm) catchUp(ctx context.Context) error { return rl.fresh.since(ctx, time.Now()) }

// NewSecret returns 256 random bits, base64url without padding.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// snapshotEvery returns the runner hook that snapshots the models when
// snapshotEvery messages or snapshotPeriod have passed since the last
// snapshot, so that a restart reads a few seconds of history whatever the
// rate; and never sooner than snapshotCostShare times the last snapshot's
// cost, so that a realm with large models spends at most a twentieth of a
// core on them. The capture runs on the runner's goroutine, where the
// models are consistent; encoding and upload run in the background, one at
// a time.
func (rl *Realm) snapshotEvery(from uint64) func(seq uint64) {
	last, lastAt := from, time.Now()
	var cost atomic.Int64 // of the last snapshot, capture and encoding (ns)
	var busy atomic.Bool
	return func(seq uint64) {
		if rl.reg.snapshots == nil || seq <= last {
			return
		}
		since := time.Since(lastAt)
		due := seq-last >= snapshotEvery || since >= rl.reg.snapshotPeriod
		if !due || since < time.Duration(snapshotCostShare*cost.Load()) || !busy.CompareAndSwap(false, true) {
			return
		}
		began := time.Now()
		snap := rl.models.Capture(seq)
		captured := time.Since(began)
		last, lastAt = seq, time.Now()
		go func() {
			defer busy.Store(false)
			began := time.Now()
			data, err := snap.Encode()
			cost.Store(int64(captured + time.Since(began)))
			if err != nil {
				rl.reg.log.Warn("snapshot failed", "realm", rl.Name, "err", err)
				return
			}
			rl.uploadSnapshot(seq, data)
		}()
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
