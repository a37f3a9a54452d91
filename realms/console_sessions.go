package realms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// The console is a backend for frontend (the IETF browser-based-apps BCP):
// its server side holds the user's tokens in a console session, and the
// browser only a cookie naming it ("<id>.<secret>"). Sessions are sealed
// (AES-GCM under a key derived from the master key, bound to their key)
// in a bucket every replica shares, so any replica serves any session and
// a restart keeps them; tokens never enter an event.

// consoleRefreshMargin: an access token expiring sooner is refreshed before
// a request uses it.
const consoleRefreshMargin = 60 * time.Second

// consoleRefreshClaim is how long one request may take to refresh a
// session's tokens before another may try.
const consoleRefreshClaim = 10 * time.Second

// ErrConsoleSignedOut: the cookie names no console session that is still
// valid (unknown, expired, signed out, or its tokens or browser session
// revoked).
var ErrConsoleSignedOut = errors.New("not signed in to the console")

// ConsoleSession is a user signed in to the console of a realm.
type ConsoleSession struct {
	ID     string `json:"-"`
	Realm  string `json:"realm"`
	UserID string `json:"user_id"`
	// SecretHash is the hash of the cookie's secret part.
	SecretHash string `json:"secret_hash"`
	Access     string `json:"access_token"`
	AccessExp  int64  `json:"access_exp"`
	Refresh    string `json:"refresh_token"`
	// BrowserSession is the realm's browser session the user signed in
	// with: the console session ends with it.
	BrowserSession string `json:"sid"`
	Created        int64  `json:"created"`
	Expires        int64  `json:"expires"`
	// RefreshingUntil: a request is refreshing the tokens until then.
	RefreshingUntil int64 `json:"refreshing_until,omitempty"`

	revision uint64
}

// ConsoleSessions is the sealed store of console sessions.
type ConsoleSessions struct {
	kv   jetstream.KeyValue
	aead cipher.AEAD
}

// OpenConsoleSessions opens (creating if needed) the store of console
// sessions.
func OpenConsoleSessions(ctx context.Context, store *eventstore.Store, masterKey []byte) (*ConsoleSessions, error) {
	key, err := eventstore.DeriveKey(masterKey, eventstore.PurposeConsoleSessions)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	kv, err := store.OpenConsoleSessionBucket(ctx, time.Duration(domain.UISessionLifetime)*time.Second+time.Hour)
	if err != nil {
		return nil, err
	}
	return &ConsoleSessions{kv: kv, aead: aead}, nil
}

// UseConsoleSessions gives the registry its console session store; without
// one the console cannot sign anybody in.
func (r *Registry) UseConsoleSessions(s *ConsoleSessions) { r.consoleSessions = s }

func consoleKey(realm, id string) string { return realm + "." + id }

// put writes s, created when revision is 0, else only over that revision
// (another request's write in between is a conflict).
func (cs *ConsoleSessions) put(ctx context.Context, s *ConsoleSession) error {
	plain, err := json.Marshal(s)
	if err != nil {
		return err
	}
	key := consoleKey(s.Realm, s.ID)
	nonce := make([]byte, cs.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := cs.aead.Seal(nonce, nonce, plain, []byte(key))
	var rev uint64
	if s.revision == 0 {
		rev, err = cs.kv.Create(ctx, key, sealed)
	} else {
		rev, err = cs.kv.Update(ctx, key, sealed, s.revision)
	}
	if err != nil {
		return err
	}
	s.revision = rev
	return nil
}

// get reads the session id of realm; a missing or unreadable one is
// ErrConsoleSignedOut.
func (cs *ConsoleSessions) get(ctx context.Context, realm, id string) (*ConsoleSession, error) {
	key := consoleKey(realm, id)
	entry, err := cs.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrConsoleSignedOut
	}
	if err != nil {
		return nil, err
	}
	raw := entry.Value()
	n := cs.aead.NonceSize()
	if len(raw) < n {
		return nil, ErrConsoleSignedOut
	}
	plain, err := cs.aead.Open(nil, raw[:n], raw[n:], []byte(key))
	if err != nil {
		return nil, ErrConsoleSignedOut
	}
	var s ConsoleSession
	if json.Unmarshal(plain, &s) != nil || s.Realm != realm {
		return nil, ErrConsoleSignedOut
	}
	s.ID, s.revision = id, entry.Revision()
	return &s, nil
}

func (cs *ConsoleSessions) delete(ctx context.Context, s *ConsoleSession) error {
	err := cs.kv.Delete(ctx, consoleKey(s.Realm, s.ID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}
