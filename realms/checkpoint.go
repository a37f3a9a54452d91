package realms

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// Tamper evidence: each realm this process serves runs a checkpointer that
// tails the realm's stream, hashes every message as stored (events, token
// groups, revocation rules, earlier checkpoints; a foreign message, one
// without a valid MAC, is listed as such and never chained) and, every
// CheckpointEvery messages or CheckpointInterval after the first uncovered
// one, appends an audit.checkpoint event signed with the realm's ES256 key
// (see domain/checkpoint.go for the format). The checkpoint is appended at
// the audit aggregate's version, the previous checkpoint's sequence: when
// several replicas serve a realm, one wins each round and the others adopt
// its checkpoint, so the chain never forks.

// Defaults of AuditConfig.
const (
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
	// MinTokenRetention is the shortest token-event retention accepted: a
	// token event must outlive the longest access token (24 h) it records,
	// or a restarted server would forget live tokens.
	MinTokenRetention = 25 * time.Hour
)

// AuditConfig says when checkpoints are written and how long token events
// are kept.
type AuditConfig struct {
	// CheckpointEvery is how many messages, checkpoints aside, a checkpoint
	// covers at most (0: DefaultCheckpointEvery; negative: no checkpoints
	// at all).
	CheckpointEvery int
	// CheckpointInterval is how long a message waits, at most, before a
	// checkpoint covers it (0: DefaultCheckpointInterval).
	CheckpointInterval time.Duration
	// TokenRetention is the Nats-TTL of token-event messages (0: kept for
	// good; otherwise at least MinTokenRetention).
	TokenRetention time.Duration
}

func (c AuditConfig) withDefaults() AuditConfig {
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = DefaultCheckpointEvery
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	return c
}

// Validate refuses settings that would lose data.
func (c AuditConfig) Validate() error {
	if c.TokenRetention != 0 && c.CheckpointEvery < 0 {
		return errors.New("token retention needs checkpoints: an expired token event no checkpoint covered would read as tampering")
	}
	if c.TokenRetention != 0 && c.TokenRetention < MinTokenRetention {
		return fmt.Errorf("token retention %s is shorter than the minimum %s", c.TokenRetention, MinTokenRetention)
	}
	return nil
}

// SetAudit sets the server's defaults for checkpoints and token retention;
// a realm's own settings override them. Call it before LoadAll.
func (r *Registry) SetAudit(cfg AuditConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	r.audit = cfg
	return nil
}

// auditConfig is a realm's effective configuration: its settings over the
// server's defaults.
func (rl *Realm) auditConfig() AuditConfig { return rl.reg.auditFor(rl.state().Settings) }

// auditFor is the configuration a realm with settings s runs with.
func (r *Registry) auditFor(s domain.RealmSettings) AuditConfig {
	cfg := r.audit
	if s.CheckpointEvery != 0 {
		cfg.CheckpointEvery = s.CheckpointEvery
	}
	if s.CheckpointInterval > 0 {
		cfg.CheckpointInterval = time.Duration(s.CheckpointInterval) * time.Second
	}
	switch {
	case s.TokenRetention > 0:
		cfg.TokenRetention = time.Duration(s.TokenRetention) * time.Second
	case s.TokenRetention < 0:
		cfg.TokenRetention = 0
	}
	return cfg.withDefaults()
}

// CheckpointSubject is where a realm's checkpoints are stored.
func CheckpointSubject(realm string) string {
	return eventstore.Subject(realm, domain.AuditRef(realm), domain.TypeAuditCheckpoint)
}

// startCheckpointer applies the realm's token retention and starts its
// checkpointer; stopCheckpointer ends it. The checkpointer runs even while
// the realm's checkpoints are off, so that turning them on takes effect.
func (rl *Realm) startCheckpointer() {
	rl.reg.store.SetTokenRetention(rl.Name, rl.auditConfig().TokenRetention)
	cp := &checkpointer{
		rl: rl, store: rl.reg.store, log: rl.reg.log,
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
	rl.checkpointer = cp
	go cp.run()
}

// stopCheckpointer stops the realm's checkpointer. Token messages with a TTL
// that no checkpoint covers yet are covered first, so that they cannot
// expire unattested while the service is down.
func (rl *Realm) stopCheckpointer() {
	cp := rl.checkpointer
	if cp == nil {
		return
	}
	rl.checkpointer = nil
	close(cp.quit)
	<-cp.done
}

// applySettings puts changed settings to work: token retention at once,
// checkpoint frequency from the checkpointer's next look.
func (rl *Realm) applySettings() {
	rl.reg.store.SetTokenRetention(rl.Name, rl.auditConfig().TokenRetention)
}

type checkpointer struct {
	rl    *Realm
	store *eventstore.Store
	log   *slog.Logger

	kick chan struct{}
	quit chan struct{}
	done chan struct{}

	mu       sync.Mutex
	prev     domain.CheckpointRef // the last checkpoint of the chain
	prevKid  string               // the key that signed it
	from     uint64               // first sequence the next checkpoint covers
	entries  []tailEntry          // messages read since, in order
	fresh    int                  // of them, how many are not checkpoints
	oldest   time.Time            // when the first of those was read
	expiring int                  // of them, how many carry a TTL
	lastSeen uint64
	dropped  bool   // entries was full: messages after it were not kept
	gen      uint64 // of the current tail
}

// tailEntry is one message read from the tail.
type tailEntry struct {
	domain.ChainEntry
	// fresh: the message calls for a checkpoint; a checkpoint or a
	// foreign message does not (an idle realm gets no checkpoint of
	// checkpoints, a forger no checkpoint on demand).
	fresh bool
	read  time.Time
}

// retryAfter spaces attempts after a failure.
const retryAfter = 5 * time.Second

// errReadAgain: the tail must start again from the end of the chain.
var errReadAgain = errors.New("checkpointer: read the stream again")

// maxPerCheckpoint bounds the messages one checkpoint covers, so that its
// event stays far below NATS's 1 MiB payload limit even when every message
// has a TTL (about 75 bytes each); a backlog is covered by several.
const maxPerCheckpoint = 8192

// maxPending bounds what the checkpointer keeps while checkpoints cannot be
// written; beyond it, it stops keeping and later reads the stream again.
const maxPending = 64 * maxPerCheckpoint

func (cp *checkpointer) run() {
	defer close(cp.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-cp.quit:
		case <-cp.done:
		}
		cancel()
	}()
	var sub eventstore.RawSubscription
	defer func() {
		if sub != nil {
			sub.Stop()
		}
	}()
	tick := time.NewTicker(min(cp.rl.auditConfig().CheckpointInterval/4, time.Second))
	defer tick.Stop()
	var failedAt time.Time
	for {
		off := cp.rl.auditConfig().CheckpointEvery < 0
		if off && sub != nil {
			// Checkpoints were turned off: stop reading. Turned on again,
			// the tail starts over from the end of the chain.
			sub.Stop()
			sub = nil
		}
		if !off && sub == nil && time.Since(failedAt) >= retryAfter {
			var err error
			if sub, err = cp.start(ctx); err != nil {
				failedAt = time.Now()
				cp.log.Warn("checkpointer not started", "realm", cp.rl.Name, "err", err)
			}
		}
		select {
		case <-cp.quit:
			if sub != nil {
				cp.final(sub)
				sub = nil
			}
			return
		case <-cp.kick:
		case <-tick.C:
			cp.rl.applySettings() // another replica may have changed them
		}
		if sub == nil || !cp.due() || time.Since(failedAt) < retryAfter {
			continue
		}
		if err := cp.checkpoint(ctx); errors.Is(err, errReadAgain) {
			sub.Stop()
			sub = nil
			continue
		} else if err != nil {
			if ctx.Err() == nil {
				failedAt = time.Now()
				cp.log.Warn("checkpoint not written", "realm", cp.rl.Name, "err", err)
			}
			continue
		}
		cp.mu.Lock()
		dropped, more := cp.dropped, cp.fresh >= cp.rl.auditConfig().CheckpointEvery
		cp.mu.Unlock()
		if dropped {
			// The tail outran the checkpoints and stopped keeping what it
			// read: read again from the end of the chain.
			sub.Stop()
			sub = nil
			continue
		}
		if more { // a backlog: the next checkpoint at once
			select {
			case cp.kick <- struct{}{}:
			default:
			}
		}
	}
}

// final covers, before the checkpointer stops, what it has read if any of
// it may expire; other messages wait for the next start.
func (cp *checkpointer) final(sub eventstore.RawSubscription) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Let the tail catch up with what was written during shutdown.
	catchUp, stopWaiting := context.WithTimeout(ctx, 2*time.Second)
	defer stopWaiting()
	if last, err := cp.store.LastSeq(catchUp, cp.rl.Name); err == nil {
		for catchUp.Err() == nil {
			cp.mu.Lock()
			seen := cp.lastSeen
			cp.mu.Unlock()
			if seen >= last {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	sub.Stop()
	for ctx.Err() == nil {
		cp.mu.Lock()
		expiring := cp.expiring
		cp.mu.Unlock()
		if expiring == 0 {
			return
		}
		if err := cp.checkpoint(ctx); err != nil {
			cp.log.Warn("final checkpoint not written", "realm", cp.rl.Name, "err", err)
			return
		}
	}
}

// start finds the end of the chain and tails the stream after it.
func (cp *checkpointer) start(ctx context.Context) (eventstore.RawSubscription, error) {
	if err := cp.resync(ctx); err != nil {
		return nil, err
	}
	cp.mu.Lock()
	from := cp.from
	cp.entries, cp.fresh, cp.expiring, cp.dropped = nil, 0, 0, false
	cp.gen++
	gen := cp.gen
	cp.mu.Unlock()
	read := func(m *eventstore.RawMsg) { cp.read(gen, m) }
	return cp.store.TailRaw(ctx, cp.rl.Name, from, read, func(err error) {
		cp.log.Warn("checkpointer read error", "realm", cp.rl.Name, "err", err)
	})
}

// resync reloads the last checkpoint and drops what it already covers.
func (cp *checkpointer) resync(ctx context.Context) error {
	prev, prevKid, err := lastCheckpoint(ctx, cp.store, cp.rl.Name)
	if err != nil {
		return err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.prev, cp.prevKid, cp.from = prev, prevKid, prev.ToSeq+1
	cp.trim(prev.ToSeq)
	return nil
}

// LastCheckpoint returns where a realm's chain ends (the zero ref when it
// has no checkpoint yet).
func LastCheckpoint(ctx context.Context, store *eventstore.Store, realm string) (domain.CheckpointRef, error) {
	ref, _, err := lastCheckpoint(ctx, store, realm)
	return ref, err
}

// lastCheckpoint is LastCheckpoint and the kid of the key that signed it.
// A foreign message last on the checkpoint subject is an error: the chain
// cannot continue from it, and appending after it would fail its version
// check anyway. Checkpoints resume once it is removed.
func lastCheckpoint(ctx context.Context, store *eventstore.Store, realm string) (domain.CheckpointRef, string, error) {
	m, ok, err := store.LastMsg(ctx, realm, CheckpointSubject(realm))
	if err != nil || !ok {
		return domain.CheckpointRef{}, "", err
	}
	if m.Foreign {
		return domain.CheckpointRef{}, "", fmt.Errorf("the last message on the checkpoint subject (seq %d) is foreign: checkpoints resume once it is removed", m.Seq)
	}
	c, err := decodeCheckpoint(&m)
	if err != nil {
		return domain.CheckpointRef{}, "", fmt.Errorf("last checkpoint (seq %d): %w", m.Seq, err)
	}
	kid, _ := c.SignerKid()
	return c.Ref(m.Seq), kid, nil
}

// signer picks the key that signs the next checkpoint. A verifier trusts a
// key added after the realm's genesis only once a checkpoint signed by a
// key it already trusts covers the event that added it; so the active key
// signs only when the chain so far covers its key_added event (or there is
// no chain yet), and the previous checkpoint's key signs until then.
func (cp *checkpointer) signer(ctx context.Context, prev domain.CheckpointRef, prevKid string) (string, crypto.Signer, error) {
	active, ok := cp.rl.state().ActiveKey(domain.AlgES256)
	if ok && prev.Seq != 0 && active.AddedSeq > prev.ToSeq && prevKid != "" && prevKid != active.Kid {
		return cp.rl.Keys().signerFor(ctx, prevKid)
	}
	return cp.rl.Keys().active(ctx, domain.AlgES256)
}

// keyAddedSubject is where a realm's realm.key_added events are stored.
func keyAddedSubject(realm string) string {
	return eventstore.Subject(realm, domain.RealmRef(realm), domain.TypeRealmKeyAdded)
}

func decodeCheckpoint(m *eventstore.RawMsg) (domain.Checkpoint, error) {
	envs, err := m.Envelopes()
	if err != nil {
		return domain.Checkpoint{}, err
	}
	if len(envs) != 1 || envs[0].Type != domain.TypeAuditCheckpoint {
		return domain.Checkpoint{}, errors.New("not one audit.checkpoint event")
	}
	p, err := envs[0].Payload()
	if err != nil {
		return domain.Checkpoint{}, err
	}
	return p.(domain.Checkpoint), nil
}

// read notes one message of the tail started as generation gen.
func (cp *checkpointer) read(gen uint64, m *eventstore.RawMsg) {
	entry := domain.ChainEntry{Seq: m.Seq, Digest: domain.MessageDigest(m.Subject, m.Data), Foreign: m.Foreign}
	if m.TTL > 0 && !m.Foreign {
		// JetStream removes it at stored time + TTL; a second of slack for
		// the server's expiry timer.
		entry.Until = m.Time.Add(m.TTL).Unix() - 1
	}
	fresh := m.Subject != CheckpointSubject(cp.rl.Name) && !m.Foreign
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if gen != cp.gen {
		return // a tail already stopped
	}
	cp.lastSeen = m.Seq
	if m.Seq < cp.from || cp.dropped || len(cp.entries) > 0 && m.Seq <= cp.entries[len(cp.entries)-1].Seq {
		return // covered by another replica's checkpoint, or read again later
	}
	if len(cp.entries) >= maxPending {
		cp.dropped = true
		return
	}
	now := time.Now()
	cp.entries = append(cp.entries, tailEntry{ChainEntry: entry, fresh: fresh, read: now})
	if entry.Until > 0 {
		cp.expiring++
	}
	if fresh {
		if cp.fresh == 0 {
			cp.oldest = now
		}
		cp.fresh++
		if cp.fresh >= cp.rl.auditConfig().CheckpointEvery {
			select {
			case cp.kick <- struct{}{}:
			default:
			}
		}
	}
}

// due reports whether a checkpoint should be written now. A range holding
// only checkpoints waits: an idle realm gets no checkpoint of checkpoints.
func (cp *checkpointer) due() bool {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cfg := cp.rl.auditConfig()
	if cfg.CheckpointEvery < 0 {
		return false
	}
	return cp.dropped || cp.fresh > 0 && (cp.fresh >= cfg.CheckpointEvery || time.Since(cp.oldest) >= cfg.CheckpointInterval)
}

// trim drops entries up to seq (covered) and recounts the rest. Callers
// hold mu.
func (cp *checkpointer) trim(seq uint64) {
	i, _ := slices.BinarySearchFunc(cp.entries, seq+1, func(e tailEntry, s uint64) int {
		return compareSeq(e.Seq, s)
	})
	cp.entries = slices.Delete(cp.entries, 0, i)
	cp.fresh, cp.expiring = 0, 0
	for _, e := range cp.entries {
		if e.Until > 0 {
			cp.expiring++
		}
		if e.fresh {
			if cp.fresh == 0 {
				cp.oldest = e.read
			}
			cp.fresh++
		}
	}
}

// coverCount is how many of entries the next checkpoint covers: up to
// every fresh messages, with the checkpoints and foreign messages among and
// right after them, and never more than maxPerCheckpoint. Checkpoints do
// not count: were they to, a checkpoint covering one message (every = 1)
// would leave itself for the next one, and every event would bring a
// longer run of checkpoints of checkpoints.
func coverCount(entries []tailEntry, every int) int {
	fresh := 0
	for i, e := range entries {
		if i == maxPerCheckpoint {
			return i
		}
		if e.fresh {
			if fresh == every {
				return i
			}
			fresh++
		}
	}
	return len(entries)
}

func compareSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkpoint signs and appends a checkpoint of every entry read so far.
func (cp *checkpointer) checkpoint(ctx context.Context) error {
	cp.mu.Lock()
	n := coverCount(cp.entries, max(cp.rl.auditConfig().CheckpointEvery, 1))
	entries := make([]domain.ChainEntry, n)
	for i, e := range cp.entries[:n] {
		entries[i] = e.ChainEntry
	}
	prev, prevKid, from := cp.prev, cp.prevKid, cp.from
	cp.mu.Unlock()
	if len(entries) == 0 {
		return nil
	}
	// The tail can run ahead of the read models: the key that signs is
	// chosen from the realm's state, which must include what is covered
	// (a realm's first checkpoint covers the events that add its keys).
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := cp.rl.WaitFor(waitCtx, entries[len(entries)-1].Seq)
	cancel()
	if err != nil {
		return err
	}
	now := time.Now()
	body, err := domain.BuildCheckpoint(cp.rl.Name, prev, from, entries, now.Unix())
	if err != nil {
		return err
	}
	kid, signer, err := cp.signer(ctx, prev, prevKid)
	if err != nil {
		return err
	}
	signed, err := domain.SignCheckpoint(body, kid, signer, rand.Reader)
	if err != nil {
		return err
	}
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: now}
	seq, err := cp.store.Append(ctx, cp.rl.Name, domain.AuditRef(cp.rl.Name), prev.Seq, meta, signed)
	if errors.Is(err, eventstore.ErrConflict) {
		// Another replica extended the chain: continue from its checkpoint.
		if err := cp.resync(ctx); err != nil {
			return err
		}
		cp.mu.Lock()
		back := cp.prev.ToSeq < prev.ToSeq
		cp.mu.Unlock()
		if back {
			// The chain's end moved back: a checkpoint was removed. Read
			// the stream again from the end that is left.
			cp.log.Error("the realm's last checkpoint is gone: its messages are checkpointed again", "realm", cp.rl.Name, "checkpoint_seq", prev.Seq)
			return errReadAgain
		}
		return nil
	}
	if err != nil {
		return err
	}
	cp.mu.Lock()
	cp.prev, cp.prevKid, cp.from = body.Ref(seq), kid, body.ToSeq+1
	cp.trim(body.ToSeq)
	cp.mu.Unlock()
	return nil
}

// TrustedKeys reads the ES256 keys of a JWKS document ({"keys": [...]},
// as the realm's certs endpoint serves it), by kid.
func TrustedKeys(jwks []byte) (map[string]*ecdsa.PublicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, err
	}
	out := map[string]*ecdsa.PublicKey{}
	for _, raw := range set.Keys {
		var k JWK
		if json.Unmarshal(raw, &k) != nil || k.Kty != "EC" {
			continue
		}
		pub, err := parseJWK(raw)
		if err != nil {
			return nil, err
		}
		out[k.Kid] = pub.(*ecdsa.PublicKey)
	}
	if len(out) == 0 {
		return nil, errors.New("no EC key")
	}
	return out, nil
}

// VerifyOptions tune VerifyChain.
type VerifyOptions struct {
	// Now decides which expirable messages may be gone (default: now).
	Now time.Time
	// TrustedKeys, when set, are the only keys a checkpoint may be signed
	// with (kid → ES256 public key, e.g. from an archived JWKS); otherwise
	// the keys are those the stream's realm.key_added events publish.
	TrustedKeys map[string]*ecdsa.PublicKey
	// OnStart and OnMessage report progress.
	OnStart   func(expected uint64)
	OnMessage func(seq uint64)
}

// VerifyReport is what VerifyChain found.
type VerifyReport struct {
	Realm    string `json:"realm"`
	Messages uint64 `json:"messages"`
	LastSeq  uint64 `json:"last_seq"`
	// Checkpoints counts those whose signature verified.
	Checkpoints int `json:"checkpoints"`
	// CoveredTo is the last sequence a valid checkpoint covers; Uncovered
	// the messages after it, which no checkpoint vouches for yet.
	CoveredTo uint64 `json:"covered_to"`
	Uncovered uint64 `json:"uncovered"`
	// Retention counts messages gone by their TTL, as the chain expected.
	Retention uint64           `json:"retention"`
	Findings  []domain.Finding `json:"findings"`
	Kids      []string         `json:"kids"`
	// GenesisKids are the keys trusted on first use (added with the realm,
	// before anything else): compare them with a pinned record of the
	// realm's first keys, or pass --jwks.
	GenesisKids []string `json:"genesis_kids"`
	// MACsChecked: the store had the event MAC key (the master key). Then
	// Foreign counts the messages without a valid MAC (each a finding),
	// and Legacy those without one stored before MACBoundary, the
	// sequence from which every message must carry one (0: the stream
	// records none yet, and every message without a MAC is legacy).
	MACsChecked bool   `json:"macs_checked"`
	MACBoundary uint64 `json:"mac_boundary"`
	Foreign     uint64 `json:"foreign"`
	Legacy      uint64 `json:"legacy"`
}

// Tampered returns the first finding that means the history was altered,
// removed or reordered, if any.
func (r *VerifyReport) Tampered() (domain.Finding, bool) {
	for _, f := range r.Findings {
		if f.Tampering() {
			return f, true
		}
	}
	return domain.Finding{}, false
}

// pendingMsg is a message read but not yet covered by a checkpoint.
type pendingMsg struct {
	seq    uint64
	digest [32]byte
}

// VerifyChain reads a realm's whole stream and checks it against its
// checkpoints: each checkpoint's signature (with the realm's ES256 keys),
// that it follows the previous one, and that every message it chained is
// still stored, unchanged, at its sequence, or expired by its TTL.
func VerifyChain(ctx context.Context, store *eventstore.Store, realm string, opts VerifyOptions) (*VerifyReport, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	v := &verifier{
		realm: realm, opts: opts, keys: map[string]*ecdsa.PublicKey{},
		cpSubject:  CheckpointSubject(realm),
		keySubject: keyAddedSubject(realm), genesis: true, candidates: map[string]candidateKey{},
		realmPrefix: eventstore.OwnEventsSubject(realm, domain.RealmRef(realm)),
		report:      &VerifyReport{Realm: realm, Findings: []domain.Finding{}, Kids: []string{}, GenesisKids: []string{}},
	}
	// The bounds are read first and the scan stops there: messages a live
	// realm stores meanwhile are not mistaken for missing ones.
	_, last, _, err := store.StreamBounds(ctx, realm)
	if err != nil {
		return nil, err
	}
	if v.report.MACsChecked = store.ChecksMACs(); v.report.MACsChecked {
		from, recorded, err := store.MACBoundary(ctx, realm)
		if err != nil {
			return nil, err
		}
		if recorded {
			v.report.MACBoundary = from
		}
	}
	if last == 0 {
		v.finish(0)
		return v.report, nil
	}
	_, err = store.Scan(ctx, realm, eventstore.ScanOptions{ToSeq: last, OnStart: opts.OnStart}, func(m *eventstore.RawMsg) error {
		v.message(m)
		if opts.OnMessage != nil {
			opts.OnMessage(m.Seq)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	v.finish(last)
	return v.report, nil
}

type verifier struct {
	realm      string
	opts       VerifyOptions
	cpSubject  string
	keySubject string
	keys       map[string]*ecdsa.PublicKey
	// genesis: no message of another aggregate than the realm's own seen
	// yet. Keys added then are trusted on first use (their kids are in the
	// report to pin); keys added later are candidates until a checkpoint
	// signed by a trusted key covers the event that added them.
	genesis     bool
	realmPrefix string // the realm aggregate's own-events subject pattern
	candidates  map[string]candidateKey
	pending     []pendingMsg
	prev        domain.CheckpointRef
	started     bool // a valid checkpoint was seen
	report      *VerifyReport
}

// candidateKey is a key added after genesis, not yet vouched for.
type candidateKey struct {
	pub *ecdsa.PublicKey
	seq uint64
}

func (v *verifier) add(f domain.Finding) { v.report.Findings = append(v.report.Findings, f) }

func (v *verifier) message(m *eventstore.RawMsg) {
	v.report.Messages++
	v.report.LastSeq = m.Seq
	v.pending = append(v.pending, pendingMsg{seq: m.Seq, digest: domain.MessageDigest(m.Subject, m.Data)})
	if m.Foreign {
		// Not Latchkey's: it adds no key, ends no genesis, is no checkpoint.
		v.report.Foreign++
		v.add(domain.Finding{Seq: m.Seq, Kind: domain.FindingForeign, Detail: "no valid MAC on " + m.Subject + ": Latchkey did not write it, and no reader takes it for an event"})
		return
	}
	if v.report.MACsChecked && !m.Authenticated {
		v.report.Legacy++
	}
	if v.genesis && !matchesOwnEvents(m.Subject, v.realmPrefix) {
		v.genesis = false
	}
	switch m.Subject {
	case v.keySubject:
		v.keyAdded(m)
	case v.cpSubject:
		v.checkpoint(m)
	}
}

// keyAdded learns an ES256 public key from the stream itself.
func (v *verifier) keyAdded(m *eventstore.RawMsg) {
	envs, err := m.Envelopes()
	if err != nil {
		return // an altered key event shows up as altered in its range
	}
	for _, env := range envs {
		p, err := env.Payload()
		if err != nil {
			continue
		}
		k, ok := p.(domain.KeyAdded)
		if !ok || k.Alg != domain.AlgES256 {
			continue
		}
		pub, err := parseJWK(k.PublicJWK)
		ec, ok := pub.(*ecdsa.PublicKey)
		if err != nil || !ok {
			continue
		}
		old, trusted := v.keys[k.Kid]
		cand, pending := v.candidates[k.Kid]
		switch {
		case trusted && !old.Equal(ec), pending && !cand.pub.Equal(ec):
			v.add(domain.Finding{Seq: m.Seq, Kind: domain.FindingChain, Detail: fmt.Sprintf("redefines signing key %q", k.Kid)})
		case trusted, pending:
		case v.genesis:
			v.keys[k.Kid] = ec
			v.report.GenesisKids = append(v.report.GenesisKids, k.Kid)
		default:
			v.candidates[k.Kid] = candidateKey{pub: ec, seq: m.Seq}
		}
	}
}

// matchesOwnEvents reports whether subject is one of the aggregate's own
// events (pattern ends in ".*").
func matchesOwnEvents(subject, pattern string) bool {
	prefix := strings.TrimSuffix(pattern, "*")
	return strings.HasPrefix(subject, prefix) && !strings.Contains(subject[len(prefix):], ".")
}

func (v *verifier) key(kid string) (*ecdsa.PublicKey, bool) {
	if v.opts.TrustedKeys != nil {
		k, ok := v.opts.TrustedKeys[kid]
		return k, ok
	}
	k, ok := v.keys[kid]
	return k, ok
}

func (v *verifier) checkpoint(m *eventstore.RawMsg) {
	c, err := decodeCheckpoint(m)
	if err != nil {
		v.add(domain.Finding{Seq: m.Seq, Kind: domain.FindingSignature, Detail: "checkpoint cannot be read: " + err.Error()})
		return
	}
	kid, err := c.SignerKid()
	if err == nil {
		pub, ok := v.key(kid)
		switch {
		case !ok:
			err = fmt.Errorf("signed with unknown key %q", kid)
		default:
			err = c.VerifySignature(pub)
		}
	}
	if err != nil {
		v.add(domain.Finding{Seq: m.Seq, Kind: domain.FindingSignature, Detail: err.Error()})
		return
	}
	if !slices.Contains(v.report.Kids, kid) {
		v.report.Kids = append(v.report.Kids, kid)
	}
	v.report.Checkpoints++
	// It must continue the chain where the last valid checkpoint ended.
	switch {
	case c.Realm != v.realm:
		v.add(domain.Finding{Seq: m.Seq, Kind: domain.FindingChain, Detail: fmt.Sprintf("checkpoint of realm %q", c.Realm)})
		return
	case c.ToSeq >= m.Seq:
		v.add(domain.Finding{Seq: m.Seq, Kind: domain.FindingChain, Detail: fmt.Sprintf("covers up to seq %d, at or after itself", c.ToSeq)})
		return
	case c.PrevSeq != v.prev.Seq || c.PrevSeq != 0 && c.Prev != domain.EncodeHash(v.prev.Hash):
		detail := fmt.Sprintf("follows the checkpoint at seq %d, but the last valid one is at seq %d", c.PrevSeq, v.prev.Seq)
		if c.PrevSeq == v.prev.Seq {
			detail = fmt.Sprintf("names a previous checkpoint (seq %d) whose hash differs", c.PrevSeq)
		}
		v.add(domain.Finding{Seq: m.Seq, Kind: domain.FindingChain, Detail: detail})
	case c.FromSeq != v.prev.ToSeq+1:
		v.add(domain.Finding{Seq: m.Seq, Kind: domain.FindingChain, Detail: fmt.Sprintf("starts at seq %d, the previous one ended at %d", c.FromSeq, v.prev.ToSeq)})
	}
	if c.FromSeq <= v.prev.ToSeq && v.started {
		// Overlaps what a valid checkpoint covered: ignore it.
		return
	}
	// Messages before its range that no valid checkpoint covered.
	i := 0
	for i < len(v.pending) && v.pending[i].seq < c.FromSeq {
		i++
	}
	if i > 0 && v.started {
		v.add(domain.Finding{Seq: v.pending[0].seq, LastSeq: v.pending[i-1].seq, Kind: domain.FindingUnverified,
			Detail: fmt.Sprintf("no valid checkpoint covers them; the next one starts at seq %d", c.FromSeq)})
	}
	window := v.pending[i:]
	prevHash, err := domain.DecodeHash(c.Prev)
	if err != nil {
		v.add(domain.Finding{Seq: m.Seq, Kind: domain.FindingChain, Detail: err.Error()})
		return
	}
	findings, err := c.CheckRange(prevHash, func(seq uint64) ([32]byte, bool) {
		j, ok := slices.BinarySearchFunc(window, seq, func(p pendingMsg, s uint64) int { return compareSeq(p.seq, s) })
		if !ok {
			return [32]byte{}, false
		}
		return window[j].digest, true
	}, v.opts.Now.Unix())
	if err != nil {
		v.add(domain.Finding{Seq: m.Seq, Kind: domain.FindingChain, Detail: err.Error()})
		return
	}
	for _, f := range findings {
		if f.Kind == domain.FindingRetention {
			v.report.Retention++
		}
		v.add(f)
	}
	// Everything up to its range's end is settled.
	j := 0
	for j < len(v.pending) && v.pending[j].seq <= c.ToSeq {
		j++
	}
	v.pending = slices.Delete(v.pending, 0, j)
	v.prev, v.started = c.Ref(m.Seq), true
	v.report.CoveredTo = c.ToSeq
	// Keys whose adding this trusted checkpoint vouches for become trusted.
	for kid, cand := range v.candidates {
		if cand.seq >= c.FromSeq && cand.seq <= c.ToSeq {
			v.keys[kid] = cand.pub
			delete(v.candidates, kid)
		}
	}
}

// finish reports what no checkpoint covers yet: messages after the last
// one (normal: at most a checkpoint interval's worth while the service
// runs), and any sequence missing among them, which nothing can vouch for.
func (v *verifier) finish(lastSeq uint64) {
	v.report.Uncovered = uint64(len(v.pending))
	v.missingAfter(v.pending, v.report.CoveredTo+1, lastSeq)
	slices.SortStableFunc(v.report.Findings, func(a, b domain.Finding) int { return compareSeq(a.Seq, b.Seq) })
}

// missingAfter reports, as ranges, the sequences from..to after the last
// checkpoint that none of the messages read (in order) has.
func (v *verifier) missingAfter(read []pendingMsg, from, to uint64) {
	next := from
	for _, p := range read {
		if p.seq < from {
			continue
		}
		if p.seq > next {
			v.add(domain.Finding{Seq: next, LastSeq: p.seq - 1, Kind: domain.FindingUnattested, Detail: "missing after the last checkpoint"})
		}
		next = p.seq + 1
	}
	if to >= next && to > 0 {
		v.add(domain.Finding{Seq: next, LastSeq: to, Kind: domain.FindingUnattested, Detail: "missing at the end of the stream, after the last checkpoint"})
	}
}
