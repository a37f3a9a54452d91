package projections

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"slices"
	"strconv"

	"github.com/google/uuid"
)

// Digests make "the same events give the same model" checkable: each model
// writes its state as lines in a canonical order (one line per entity,
// "<kind> <key> <value>"), independent of map iteration and of how the
// model got there (a fold from the first event, or a snapshot and the rest),
// and its Digest is the SHA-256 of those lines. Two models with equal
// digests hold the same state; when they differ, diffing their lines says
// where.

// Digest is the SHA-256 of a model's canonical lines.
type Digest [32]byte

func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Canonical is a model that can write its state canonically.
type Canonical interface {
	WriteCanonical(w io.Writer) error
}

// DigestOf hashes a model's canonical lines.
func DigestOf(m Canonical) Digest {
	h := sha256.New()
	bw := bufio.NewWriterSize(h, 64<<10)
	_ = m.WriteCanonical(bw) // a hash never fails to write
	_ = bw.Flush()
	var d Digest
	h.Sum(d[:0])
	return d
}

// NamedModel is one model of a realm, by name.
type NamedModel struct {
	Name  string
	Model Canonical
}

// Named lists every model with a canonical form, in a fixed order.
func (m *Models) Named() []NamedModel {
	return []NamedModel{
		{"realm", m.Realm}, {"clients", m.Clients}, {"tokens", m.Tokens},
		{"nodes", m.Nodes}, {"users", m.Users}, {"authz", m.Authz},
	}
}

// lineWriter builds canonical lines; the first error sticks.
type lineWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func (lw *lineWriter) line(kind, key string, value any) {
	if lw.err != nil {
		return
	}
	lw.buf = append(lw.buf[:0], kind...)
	if key != "" {
		lw.buf = append(lw.buf, ' ')
		lw.buf = append(lw.buf, key...)
	}
	lw.buf = append(lw.buf, ' ')
	switch v := value.(type) {
	case string:
		lw.buf = append(lw.buf, v...)
	case []byte:
		lw.buf = append(lw.buf, v...)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			lw.err = err
			return
		}
		lw.buf = append(lw.buf, raw...)
	}
	lw.buf = append(lw.buf, '\n')
	_, lw.err = lw.w.Write(lw.buf)
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// WriteCanonical writes the realm's state: name, keys in order, catalog.
func (m *Realm) WriteCanonical(w io.Writer) error {
	lw := &lineWriter{w: w}
	lw.line("realm", "", m.State())
	return lw.err
}

// Digest of the realm model.
func (m *Realm) Digest() Digest { return DigestOf(m) }

// WriteCanonical writes the live clients in creation order, each in full.
func (m *Clients) WriteCanonical(w io.Writer) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	lw := &lineWriter{w: w}
	lw.line("clients", "count", strconv.Itoa(len(m.byID)))
	for _, id := range m.order {
		lw.line("client", id, m.byID[id])
	}
	if len(m.order) != len(m.byID) {
		// An entry missing from the order is invisible in listings.
		ordered := make(map[string]bool, len(m.order))
		for _, id := range m.order {
			ordered[id] = true
		}
		for _, id := range sortedKeys(m.byID) {
			if !ordered[id] {
				lw.line("client.unordered", id, m.byID[id])
			}
		}
	}
	return lw.err
}

// Digest of the clients model.
func (m *Clients) Digest() Digest { return DigestOf(m) }

// WriteCanonical writes the tree by slug, tombstones included.
func (m *Nodes) WriteCanonical(w io.Writer) error {
	lw := &lineWriter{w: w}
	tree := m.Tree()
	for _, slug := range sortedKeys(tree) {
		lw.line("node", slug, tree[slug])
	}
	return lw.err
}

// Digest of the nodes model.
func (m *Nodes) Digest() Digest { return DigestOf(m) }

// WriteCanonical writes the users by id, and the username index.
func (m *Users) WriteCanonical(w io.Writer) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	lw := &lineWriter{w: w}
	for _, id := range sortedKeys(m.byID) {
		lw.line("user", id, m.byID[id])
	}
	for _, name := range sortedKeys(m.byUsername) {
		lw.line("user.username", name, m.byUsername[name])
	}
	return lw.err
}

// Digest of the users model.
func (m *Users) Digest() Digest { return DigestOf(m) }

// WriteCanonical writes codes, grants (with their access tokens), sessions,
// each by id, and the time of the last sweep. A grant without tokens and a
// grant absent from the token index are the same state.
func (m *Authz) WriteCanonical(w io.Writer) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	lw := &lineWriter{w: w}
	lw.line("authz.swept_at", "", strconv.FormatInt(m.sweptAt, 10))
	for _, id := range sortedKeys(m.codes) {
		lw.line("authz.code", id, m.codes[id])
	}
	for _, id := range sortedKeys(m.grants) {
		lw.line("authz.grant", id, m.grants[id])
	}
	for _, id := range sortedKeys(m.tokens) {
		list := m.tokens[id]
		if len(list) == 0 {
			continue
		}
		var b []byte
		for i, t := range list {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, t.jti...)
			b = append(b, ':')
			b = strconv.AppendInt(b, t.exp, 10)
		}
		lw.line("authz.grant_tokens", id, b)
	}
	for _, id := range sortedKeys(m.sessions) {
		lw.line("authz.session", id, m.sessions[id])
	}
	for _, id := range sortedKeys(m.devices) {
		lw.line("authz.device", id, m.devices[id])
	}
	for _, id := range sortedKeys(m.pushed) {
		lw.line("authz.pushed", id, m.pushed[id])
	}
	return lw.err
}

// Digest of the authz model.
func (m *Authz) Digest() Digest { return DigestOf(m) }

// WriteCanonical writes the tokens model: counters, subject cut-offs by
// subject, then each client (in first-seen order) and its tokens (in issue
// order), strings resolved rather than interned numbers.
func (m *Tokens) WriteCanonical(w io.Writer) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	lw := &lineWriter{w: w}
	str := m.strings.str
	var b []byte
	b = strconv.AppendUint(b[:0], uint64(m.nextOrd), 10)
	b = append(b, " swept_at="...)
	b = strconv.AppendInt(b, m.sweptAt, 10)
	b = append(b, " count="...)
	b = strconv.AppendInt(b, int64(len(m.byJTI)), 10)
	lw.line("tokens", "next_ord", b)
	cutoffs := make([]string, 0, len(m.subjectCutoff))
	bySubject := make(map[string]int64, len(m.subjectCutoff))
	for id, v := range m.subjectCutoff {
		cutoffs = append(cutoffs, str(id))
		bySubject[str(id)] = v
	}
	slices.Sort(cutoffs)
	for _, s := range cutoffs {
		lw.line("tokens.subject_cutoff", s, strconv.FormatInt(bySubject[s], 10))
	}
	listed := 0
	for i, ct := range m.clients {
		b = strconv.AppendInt(b[:0], int64(i), 10)
		b = append(b, " revoked_before="...)
		b = strconv.AppendInt(b, ct.revokedBefore, 10)
		b = append(b, " last_used="...)
		b = strconv.AppendInt(b, ct.lastUsed, 10)
		b = append(b, " tokens="...)
		b = strconv.AppendInt(b, int64(len(ct.jtis)), 10)
		lw.line("tokens.client", str(ct.id), b)
		for _, key := range ct.jtis {
			rec, ok := m.byJTI[key]
			if !ok {
				lw.line("token.dangling", uuid.UUID(key).String(), "")
				continue
			}
			listed++
			lw.line("token", uuid.UUID(key).String(), m.appendRec(b[:0], key, rec))
		}
	}
	if listed != len(m.byJTI) {
		// Records no client lists: not reachable by listings, still state.
		keys := make([]tokenKey, 0)
		inList := make(map[tokenKey]bool, listed)
		for _, ct := range m.clients {
			for _, k := range ct.jtis {
				inList[k] = true
			}
		}
		for k := range m.byJTI {
			if !inList[k] {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(a, b tokenKey) int { return slices.Compare(a[:], b[:]) })
		for _, k := range keys {
			lw.line("token.unlisted", uuid.UUID(k).String(), m.appendRec(b[:0], k, m.byJTI[k]))
		}
	}
	return lw.err
}

func (m *Tokens) appendRec(b []byte, key tokenKey, rec *tokenRec) []byte {
	str := m.strings.str
	b = strconv.AppendUint(b, uint64(rec.ord), 10)
	b = append(b, " client="...)
	b = append(b, str(rec.client)...)
	b = append(b, " sub="...)
	b = strconv.AppendQuote(b, str(rec.subject))
	b = append(b, " scope="...)
	b = strconv.AppendQuote(b, str(rec.scope))
	b = append(b, " access="...)
	b = strconv.AppendQuote(b, str(rec.access))
	b = append(b, " iat="...)
	b = strconv.AppendUint(b, uint64(rec.iat), 10)
	b = append(b, " exp="...)
	b = strconv.AppendUint(b, uint64(rec.exp), 10)
	b = append(b, " used="...)
	b = strconv.AppendUint(b, uint64(rec.lastUsed), 10)
	b = append(b, " revoked="...)
	b = strconv.AppendBool(b, rec.revoked)
	b = append(b, " hash="...)
	sum := sha256.Sum256(rec.hash[:]) // the hash of a hash: comparable, never shown
	b = hex.AppendEncode(b, sum[:6])
	if grant := str(rec.grant); grant != "" {
		b = append(b, " grant="...)
		b = append(b, grant...)
	}
	if jkt := m.bound[key]; jkt != "" {
		b = append(b, " jkt="...)
		b = append(b, jkt...)
	}
	return b
}

// Digest of the tokens model.
func (m *Tokens) Digest() Digest { return DigestOf(m) }
