package projections

import (
	"crypto/sha256"
	"encoding/base64"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
)

// evictAfter is how long an expired token stays listed (as "expired")
// before it leaves the model. Eviction is driven by event time, so a
// rebuild from the same events gives the same model.
const evictAfter = 5 * 60

// nodeGone marks a deleted node's slug in Tokens.nodeBorn.
const nodeGone = math.MaxUint32

// tokenKey is a jti in 16 bytes (the UUID, or a hash of any other jti).
type tokenKey [16]byte

func keyOf(jti string) tokenKey {
	if u, err := uuid.Parse(jti); err == nil && len(jti) == 36 {
		return tokenKey(u)
	}
	sum := sha256.Sum256([]byte(jti))
	return tokenKey(sum[:16])
}

// tokenRec is one access token, kept small: strings are interned, times are
// Unix seconds in uint32 (good until 2106).
type tokenRec struct {
	hash     [16]byte
	ord      uint32 // issue order in the realm, for stable cursors
	client   uint32
	subject  uint32
	scope    uint32
	access   uint32 // interned "preset nodes…": what the token may act on
	aud      uint32 // interned resource; "" (0) for the realm's own audience
	grant    uint32 // interned grant type
	iat, exp uint32
	lastUsed uint32
	revoked  bool
}

// clientTokens is one client's tokens in issue order; tokens leave from
// the front as they expire.
type clientTokens struct {
	id            uint32
	index         int // position in Tokens.clients
	jtis          []tokenKey
	revokedBefore int64
	// lastUsed is when a token of the client was last issued or seen in
	// use (Unix seconds, from the events).
	lastUsed int64
}

// Tokens is the read model of a realm's access tokens: status, last use and
// revocation, grouped by client. Memory is bounded by the tokens not yet
// expired, not by history.
type Tokens struct {
	mu    sync.RWMutex
	byJTI map[tokenKey]*tokenRec
	// bound holds the DPoP key thumbprint (cnf.jkt) of each bound token:
	// few tokens are, and a thumbprint shared by nothing is not interned.
	bound    map[tokenKey]string
	clients  []*clientTokens // in first-seen order
	byClient map[uint32]*clientTokens
	strings  interner
	nextOrd  uint32
	// subjectCutoff: tokens of a subject issued before it are revoked.
	subjectCutoff map[uint32]int64
	// nodeBorn is, for each slug, the issue order reached when its current
	// node was created: a token issued before names another node by that
	// slug (deleted since), and does not reach this one. A deleted node's
	// slug maps to nodeGone: no token reaches it.
	nodeBorn map[string]uint32
	// sweptAt is the event time (Unix seconds) of the last eviction pass.
	sweptAt int64
}

// NewTokens returns an empty tokens model.
func NewTokens() *Tokens {
	return &Tokens{byJTI: map[tokenKey]*tokenRec{}, bound: map[tokenKey]string{}, byClient: map[uint32]*clientTokens{}, strings: newInterner(),
		subjectCutoff: map[uint32]int64{}, nodeBorn: map[string]uint32{}}
}

// Apply folds token and revocation events.
func (m *Tokens) Apply(ev Event) {
	switch e := ev.Payload.(type) {
	case domain.TokenIssued:
		m.mu.Lock()
		m.issued(ev.ClientID, e)
		m.sweep(ev.Time.Unix())
		m.mu.Unlock()
	case domain.TokenRevoked:
		m.mu.Lock()
		if rec, ok := m.byJTI[keyOf(e.JTI)]; ok {
			rec.revoked = true
		}
		m.mu.Unlock()
	case domain.TokenUsed:
		m.mu.Lock()
		if rec, ok := m.byJTI[keyOf(e.JTI)]; ok {
			rec.lastUsed = max(rec.lastUsed, uint32(e.At))
		}
		if id, ok := m.strings.lookup(ev.ClientID); ok && m.byClient[id] != nil {
			m.byClient[id].lastUsed = max(m.byClient[id].lastUsed, e.At)
		}
		m.mu.Unlock()
	case domain.NodeCreated:
		m.mu.Lock()
		m.nodeBorn[e.Slug] = m.nextOrd
		m.mu.Unlock()
	case domain.NodeDeleted:
		if ref, ok := domain.ParseAggregateRef(ev.Aggregate); ok {
			m.mu.Lock()
			m.nodeBorn[ref.ID] = nodeGone
			m.mu.Unlock()
		}
	case domain.GrantRevoked: // a refresh family: its access tokens
		m.mu.Lock()
		for _, jti := range e.JTIs {
			if rec, ok := m.byJTI[keyOf(jti)]; ok {
				rec.revoked = true
			}
		}
		m.mu.Unlock()
	case domain.SubjectCutoff: // user disabled or deleted
		ref, ok := domain.ParseAggregateRef(ev.Aggregate)
		if !ok {
			return
		}
		m.mu.Lock()
		id := m.strings.id(ref.ID)
		m.subjectCutoff[id] = max(m.subjectCutoff[id], e.RevokesSubjectBefore())
		m.mu.Unlock()
	case domain.TokenCutoff: // revoke-all, disable, delete
		ref, ok := domain.ParseAggregateRef(ev.Aggregate)
		if !ok {
			return
		}
		client := ref.ID
		if id := e.CutoffClient(); id != "" {
			client = id // known by URL: the aggregate id is its hash
		}
		m.mu.Lock()
		ct := m.clientOf(m.strings.id(client))
		ct.revokedBefore = max(ct.revokedBefore, e.RevokesBefore())
		m.mu.Unlock()
	}
}

func (m *Tokens) issued(clientID string, e domain.TokenIssued) {
	key := keyOf(e.JTI)
	if _, dup := m.byJTI[key]; dup {
		return
	}
	var hash [16]byte
	if raw, err := base64.RawURLEncoding.DecodeString(e.Hash); err == nil && len(raw) == 16 {
		copy(hash[:], raw)
	}
	client := m.strings.id(clientID)
	m.nextOrd++
	m.byJTI[key] = &tokenRec{
		hash: hash, ord: m.nextOrd, client: client,
		subject: m.strings.id(e.Subject), scope: m.strings.id(e.Scope),
		access: m.strings.id(joinAccess(e.Preset, e.Nodes)),
		aud:    m.strings.id(e.Audience),
		grant:  m.strings.id(e.GrantType),
		iat:    uint32(e.IssuedAt), exp: uint32(e.ExpiresAt),
	}
	if e.JKT != "" {
		m.bound[key] = e.JKT
	}
	ct := m.clientOf(client)
	ct.jtis = append(ct.jtis, key)
	ct.lastUsed = max(ct.lastUsed, e.IssuedAt)
}

func (m *Tokens) clientOf(id uint32) *clientTokens {
	ct, ok := m.byClient[id]
	if !ok {
		ct = &clientTokens{id: id, index: len(m.clients)}
		m.byClient[id] = ct
		m.clients = append(m.clients, ct)
	}
	return ct
}

// sweep evicts, at most once a minute of event time, the tokens at the front
// of each client's list that expired more than evictAfter before now.
func (m *Tokens) sweep(now int64) {
	if now-m.sweptAt < 60 {
		return
	}
	m.sweptAt = now
	cutoff := now - evictAfter
	for _, ct := range m.clients {
		n := 0
		for n < len(ct.jtis) && int64(m.byJTI[ct.jtis[n]].exp) < cutoff {
			delete(m.byJTI, ct.jtis[n])
			delete(m.bound, ct.jtis[n])
			n++
		}
		if n > 0 {
			ct.jtis = append(ct.jtis[:0:0], ct.jtis[n:]...)
		}
	}
}

// TokenInfo is one token as the read model knows it.
type TokenInfo struct {
	JTI      string
	ClientID string
	Subject  string
	Scope    string
	Preset   string
	Nodes    []string
	// Audience is the resource the token is for; "" for the realm's own.
	Audience string
	// GrantType is the grant the token was issued through.
	GrantType string
	// JKT is the thumbprint of the DPoP key the token is bound to (cnf.jkt);
	// "" for a bearer token.
	JKT      string
	IssuedAt int64
	Expires  int64
	LastUsed int64
	Status   domain.TokenStatus
}

func (m *Tokens) info(key tokenKey, rec *tokenRec, now int64) TokenInfo {
	preset, nodes := splitAccess(m.strings.str(rec.access))
	nodes = slices.DeleteFunc(nodes, func(n string) bool {
		born, ok := m.nodeBorn[n]
		return ok && rec.ord <= born
	})
	return TokenInfo{
		Preset:    preset,
		Nodes:     nodes,
		JTI:       uuid.UUID(key).String(),
		ClientID:  m.strings.str(rec.client),
		Subject:   m.strings.str(rec.subject),
		Scope:     m.strings.str(rec.scope),
		Audience:  m.strings.str(rec.aud),
		GrantType: m.strings.str(rec.grant),
		JKT:       m.bound[key],
		IssuedAt:  int64(rec.iat),
		Expires:   int64(rec.exp),
		LastUsed:  int64(rec.lastUsed),
		Status:    m.status(rec, now),
	}
}

func (m *Tokens) status(rec *tokenRec, now int64) domain.TokenStatus {
	switch {
	case rec.revoked || int64(rec.iat) < m.byClient[rec.client].revokedBefore || int64(rec.iat) < m.subjectCutoff[rec.subject]:
		return domain.StatusRevoked
	case int64(rec.exp) <= now:
		return domain.StatusExpired
	}
	return domain.StatusActive
}

// Lookup finds the token with this jti whose recorded hash matches hash
// (domain.TokenHash of the presented token).
func (m *Tokens) Lookup(jti, hash string, now int64) (TokenInfo, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(hash)
	if err != nil || len(raw) != 16 {
		return TokenInfo{}, false
	}
	key := keyOf(jti)
	m.mu.RLock()
	defer m.mu.RUnlock()
	rec, ok := m.byJTI[key]
	if !ok || [16]byte(raw) != rec.hash {
		return TokenInfo{}, false
	}
	return m.info(key, rec, now), true
}

// ByJTI finds a token by id alone, for the admin API.
func (m *Tokens) ByJTI(jti string, now int64) (TokenInfo, bool) {
	key := keyOf(jti)
	m.mu.RLock()
	defer m.mu.RUnlock()
	rec, ok := m.byJTI[key]
	if !ok {
		return TokenInfo{}, false
	}
	return m.info(key, rec, now), true
}

// SessionFilter narrows a sessions listing; empty fields match all.
type SessionFilter struct {
	ClientID string
	Subject  string
	Status   domain.TokenStatus
}

// Cursor is a position in a sessions listing: after the token with issue
// order Ord of client number Client.
type Cursor struct {
	Client int
	Ord    uint32
}

// Sessions lists tokens grouped by client (clients in first-seen order,
// tokens in issue order) after cursor, at most limit, and the cursor of the
// next page (nil at the end).
func (m *Tokens) Sessions(f SessionFilter, after *Cursor, limit int, now int64) ([]TokenInfo, *Cursor) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var wantClient, wantSubject uint32
	if f.ClientID != "" {
		id, ok := m.strings.lookup(f.ClientID)
		if !ok {
			return nil, nil
		}
		wantClient = id
	}
	if f.Subject != "" {
		id, ok := m.strings.lookup(f.Subject)
		if !ok {
			return nil, nil
		}
		wantSubject = id
	}
	out := make([]TokenInfo, 0, min(limit, 256))
	startClient := 0
	if after != nil {
		startClient = after.Client
	}
	for ci := startClient; ci < len(m.clients); ci++ {
		ct := m.clients[ci]
		if f.ClientID != "" && ct.id != wantClient {
			continue
		}
		start := 0
		if after != nil && ci == after.Client {
			start = sort.Search(len(ct.jtis), func(i int) bool { return m.byJTI[ct.jtis[i]].ord > after.Ord })
		}
		for _, key := range ct.jtis[start:] {
			rec := m.byJTI[key]
			if f.Subject != "" && rec.subject != wantSubject {
				continue
			}
			st := m.status(rec, now)
			if f.Status != "" && st != f.Status {
				continue
			}
			if len(out) == limit {
				prev := m.byJTI[keyOf(out[len(out)-1].JTI)]
				return out, &Cursor{Client: m.byClient[prev.client].index, Ord: prev.ord}
			}
			out = append(out, m.info(key, rec, now))
		}
	}
	return out, nil
}

// ClientLastUsed is when a token of the client was last issued or seen in
// use (Unix seconds); false when it never had a token.
func (m *Tokens) ClientLastUsed(clientID string) (int64, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	id, ok := m.strings.lookup(clientID)
	if !ok || m.byClient[id] == nil || m.byClient[id].lastUsed == 0 {
		return 0, false
	}
	return m.byClient[id].lastUsed, true
}

// Len is the number of tokens in the model (active, revoked or recently
// expired).
func (m *Tokens) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.byJTI)
}

// joinAccess and splitAccess keep a token's preset and nodes as one
// interned string: tokens of one client share it.
func joinAccess(preset string, nodes []string) string {
	return strings.Join(append([]string{preset}, nodes...), " ")
}

func splitAccess(s string) (string, []string) {
	parts := strings.Fields(s)
	if len(parts) == 0 {
		return "", nil
	}
	if strings.HasPrefix(s, " ") { // no preset, only nodes
		return "", parts
	}
	return parts[0], parts[1:]
}

// interner maps repeated strings (client ids, subjects, scope strings) to
// small numbers, so each token stores numbers instead of strings.
type interner struct {
	ids  map[string]uint32
	strs []string
}

func newInterner() interner { return interner{ids: map[string]uint32{"": 0}, strs: []string{""}} }

func (in *interner) id(s string) uint32 {
	if id, ok := in.ids[s]; ok {
		return id
	}
	id := uint32(len(in.strs))
	in.ids[s] = id
	in.strs = append(in.strs, s)
	return id
}

func (in *interner) lookup(s string) (uint32, bool) {
	id, ok := in.ids[s]
	return id, ok
}

func (in *interner) str(id uint32) string { return in.strs[id] }
