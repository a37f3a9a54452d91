package eventstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Events are authenticated at the source. Every message Latchkey appends
// (events, atomic batches, group-committed token events, revocation rules,
// checkpoints) carries in header Lk-Mac an HMAC-SHA-256 over its subject and
// body under a key derived from the master key (PurposeEventMAC). Every
// reader of this package checks it: a message without a valid MAC was
// written by someone else with publish rights on the stream. It is foreign:
// never read as an event (RawMsg.Foreign, RawMsg.Envelopes), and reported
// to Options.OnForeign, once per message and process.
//
// Streams written before MACs existed keep working. A realm's stream
// records, in its configuration's metadata, its MAC boundary: the sequence
// from which every message must carry a MAC. It is MAC'd itself, so only the
// master key's holder can set it; one that does not verify makes every
// message without a MAC foreign. A new stream's boundary is 1. An existing
// stream gets one when a server first opens it (RequireMACs): the sequence
// of its first authenticated message, or the one after its last message.
// A message stored before the boundary without a MAC is legacy and read as
// before; a message after it cannot be legacy, since sequences only grow.
// A stream with no boundary yet (only a reader that never writes, such as
// replay, can see one) is legacy throughout, and MACBoundary says so.

// headerMAC carries a message's MAC.
const headerMAC = "Lk-Mac"

// metaMACBoundary is the stream metadata key of the MAC boundary:
// "<seq>.<mac>".
const metaMACBoundary = "latchkey_mac_boundary"

// ForeignMessage is a stored message without a valid MAC, as reported:
// where it is, never what it holds.
type ForeignMessage struct {
	Realm   string
	Subject string
	Seq     uint64
	// Reason: "no MAC", "bad MAC", or for Seq 0 a MAC boundary that does
	// not verify.
	Reason string
}

// macs authenticates a store's messages.
type macs struct {
	hashers   sync.Pool // *macHasher keyed with the MAC key
	onForeign func(ForeignMessage)

	mu         sync.Mutex
	boundaries map[string]uint64 // realm → recorded boundary (it never changes)
	reported   map[foreignKey]struct{}
}

type foreignKey struct {
	realm string
	seq   uint64
}

// maxReported bounds the memory of foreign messages already reported;
// beyond it, reporting starts over.
const maxReported = 10000

func newMACs(key []byte, onForeign func(ForeignMessage)) *macs {
	m := &macs{onForeign: onForeign, boundaries: map[string]uint64{}, reported: map[foreignKey]struct{}{}}
	m.hashers.New = func() any { return &macHasher{h: hmac.New(sha256.New, key)} }
	return m
}

// macHasher is a keyed HMAC and a buffer for what it hashes first, so that
// a MAC costs no allocation.
type macHasher struct {
	h    hash.Hash
	head []byte
}

// sum is the MAC of a message: HMAC-SHA-256 over the subject's length
// (4 bytes, big-endian), the subject and the body, base64url.
func (m *macs) sum(subject string, data []byte) string {
	var raw [sha256.Size]byte
	m.raw(&raw, subject, data)
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

func (m *macs) raw(out *[sha256.Size]byte, subject string, data []byte) {
	mh := m.hashers.Get().(*macHasher)
	mh.h.Reset()
	mh.head = binary.BigEndian.AppendUint32(mh.head[:0], uint32(len(subject)))
	mh.head = append(mh.head, subject...)
	mh.h.Write(mh.head)
	mh.h.Write(data)
	mh.h.Sum(out[:0])
	m.hashers.Put(mh)
}

// valid checks a MAC in constant time.
func (m *macs) valid(subject string, data []byte, mac string) bool {
	var got, want [sha256.Size]byte
	var enc [43]byte // base64url of 32 bytes
	if len(mac) != len(enc) {
		return false
	}
	copy(enc[:], mac)
	if _, err := base64.RawURLEncoding.Decode(got[:], enc[:]); err != nil {
		return false
	}
	m.raw(&want, subject, data)
	return hmac.Equal(got[:], want[:])
}

// boundaryValue is a realm's MAC boundary as stored: bound to the realm by
// its MAC, under a name no message subject can have.
func (m *macs) boundaryValue(realm string, from uint64) string {
	seq := strconv.FormatUint(from, 10)
	return seq + "." + m.sum("mac boundary of "+realm, []byte(seq))
}

// parseBoundary reads a stored boundary; ok is false when it does not
// verify.
func (m *macs) parseBoundary(realm, v string) (uint64, bool) {
	seq, mac, found := strings.Cut(v, ".")
	from, err := strconv.ParseUint(seq, 10, 64)
	if !found || err != nil || !m.valid("mac boundary of "+realm, []byte(seq), mac) {
		return 0, false
	}
	return from, true
}

// report passes a foreign message on once.
func (m *macs) report(f ForeignMessage) {
	if m.onForeign == nil {
		return
	}
	k := foreignKey{f.Realm, f.Seq}
	m.mu.Lock()
	_, seen := m.reported[k]
	if !seen {
		if len(m.reported) >= maxReported {
			clear(m.reported)
		}
		m.reported[k] = struct{}{}
	}
	m.mu.Unlock()
	if !seen {
		m.onForeign(f)
	}
}

// ChecksMACs reports whether the store has the MAC key: without it
// (Options.EventKey unset) it writes no MAC and checks none.
func (s *Store) ChecksMACs() bool { return s.macs != nil }

// signMsg puts the MAC on a message about to be published.
func (s *Store) signMsg(subject string, data []byte, set func(key, value string)) {
	if s.macs != nil {
		set(headerMAC, s.macs.sum(subject, data))
	}
}

// legacyThroughout is the boundary of a stream that records none: no
// sequence reaches it.
const legacyThroughout = math.MaxUint64

// MACBoundary returns the sequence from which every message of the realm
// must carry a MAC, and whether the stream records one (when not, from is
// math.MaxUint64: every message without a MAC is legacy). A recorded
// boundary that does not verify is reported and read as 1.
func (s *Store) MACBoundary(ctx context.Context, realm string) (from uint64, recorded bool, err error) {
	if s.macs == nil {
		return legacyThroughout, false, nil
	}
	s.macs.mu.Lock()
	from, known := s.macs.boundaries[realm]
	s.macs.mu.Unlock()
	if known {
		return from, true, nil
	}
	stream, err := s.js.Stream(ctx, StreamName(realm))
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return 0, false, ErrNoRealm
		}
		return 0, false, err
	}
	v, ok := stream.CachedInfo().Config.Metadata[metaMACBoundary]
	if !ok {
		return legacyThroughout, false, nil
	}
	from, valid := s.macs.parseBoundary(realm, v)
	if !valid {
		s.macs.report(ForeignMessage{Realm: realm, Reason: "the stream's MAC boundary does not verify: every message without a MAC is refused"})
		from = 1
	}
	s.macs.mu.Lock()
	s.macs.boundaries[realm] = from
	s.macs.mu.Unlock()
	return from, true, nil
}

// judge decides whether a message read at seq is ours: authenticated (a
// valid MAC), legacy (no MAC, before the boundary), or foreign (reported).
func (s *Store) judge(realm string, from, seq uint64, subject string, data []byte, mac string) (authenticated, foreign bool) {
	if s.macs == nil {
		return false, false
	}
	reason := "no MAC"
	switch {
	case mac != "" && s.macs.valid(subject, data, mac):
		return true, false
	case mac != "":
		reason = "bad MAC"
	case seq < from:
		return false, false
	}
	s.macs.report(ForeignMessage{Realm: realm, Subject: subject, Seq: seq, Reason: reason})
	return false, true
}

// RequireMACs records the MAC boundary of every realm stream that has none
// yet and returns the boundaries it recorded, by realm: a server calls it
// once it has started, before it reads any realm. The boundary is the
// stream's first authenticated message (a boundary removed from an
// upgraded stream is found again where it was), or the sequence after its
// last message when none is authenticated (a stream written before MACs).
func (s *Store) RequireMACs(ctx context.Context) (map[string]uint64, error) {
	if s.macs == nil {
		return nil, errors.New("eventstore: no MAC key")
	}
	realms, err := s.Realms(ctx)
	if err != nil {
		return nil, err
	}
	recorded := map[string]uint64{}
	for _, realm := range realms {
		if _, ok, err := s.MACBoundary(ctx, realm); err != nil || ok {
			if err != nil {
				return nil, fmt.Errorf("realm %s: %w", realm, err)
			}
			continue
		}
		from, err := s.firstAuthenticated(ctx, realm)
		if err != nil {
			return nil, fmt.Errorf("realm %s: %w", realm, err)
		}
		if err := s.recordBoundary(ctx, realm, from); err != nil {
			return nil, fmt.Errorf("realm %s: recording its MAC boundary: %w", realm, err)
		}
		recorded[realm] = from
	}
	return recorded, nil
}

// firstAuthenticated is the sequence of the realm's first message with a
// valid MAC, or the one after its last message when there is none.
func (s *Store) firstAuthenticated(ctx context.Context, realm string) (uint64, error) {
	_, last, _, err := s.StreamBounds(ctx, realm)
	if err != nil {
		return 0, err
	}
	from := last + 1
	_, err = s.Scan(ctx, realm, ScanOptions{ToSeq: last}, func(m *RawMsg) error {
		if m.Authenticated {
			from = m.Seq
			return ErrStopScan
		}
		return nil
	})
	return from, err
}

// recordBoundary stores the realm's MAC boundary in its stream's metadata.
func (s *Store) recordBoundary(ctx context.Context, realm string, from uint64) error {
	stream, err := s.js.Stream(ctx, StreamName(realm))
	if err != nil {
		return err
	}
	cfg := stream.CachedInfo().Config
	if cfg.Metadata == nil {
		cfg.Metadata = map[string]string{}
	}
	cfg.Metadata[metaMACBoundary] = s.macs.boundaryValue(realm, from)
	if _, err := s.js.UpdateStream(ctx, cfg); err != nil {
		return err
	}
	s.macs.mu.Lock()
	s.macs.boundaries[realm] = from
	s.macs.mu.Unlock()
	return nil
}
