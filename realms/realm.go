package realms

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"
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
	// (Within this process; replicas share no lock.) Commands take it with
	// command.structure.
	structure sync.Mutex
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
// holds now.
func (rl *Realm) catchUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return rl.runner.CaughtUp(ctx, rl.reg.store)
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
