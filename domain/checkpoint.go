package domain

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Tamper evidence. At intervals the service appends an audit.checkpoint
// event that commits to every message stored since the previous one:
//
//   - digest(m) = SHA-256(len(subject) as 4 bytes BE || subject || data),
//     over the message body exactly as stored (one envelope, several token
//     envelopes joined by '\n', or a revocation rule);
//   - the chain starts at SHA-256("latchkey/audit/v1" || 0 || realm || 0 ||
//     prev || from_seq) and takes one step per message present, in stream
//     order: head = SHA-256(head || seq as 8 bytes BE || digest(m));
//   - fp holds the first 8 bytes of every chained digest, so a verifier
//     names the exact sequence that changed, not just the range;
//   - exp holds, for each message that carries a TTL (token events under a
//     retention setting), its sequence, when it may expire and its full
//     digest: once it has expired, the chain still verifies across the hole,
//     and a message missing before its time, or one never listed, is
//     tampering rather than retention;
//   - gaps lists sequences already missing when the checkpointer read the
//     range: it never saw them, so it cannot vouch for them;
//   - foreign lists sequences whose message carried no valid MAC (written
//     by someone else; see eventstore): they are neither chained nor
//     counted, so the checkpoint never vouches for them as Latchkey's, and
//     removing them later breaks nothing;
//   - prev is the SHA-256 of the previous checkpoint's body, so checkpoints
//     form a chain too, and jws is a detached compact JWS (RFC 7515,
//     appendix F), ES256 with the realm's active key, over the body.
//
// The checkpoint message itself is stored after its range, so the next
// checkpoint covers it like any other message.

// TypeAuditCheckpoint is the event type of a checkpoint.
const TypeAuditCheckpoint = "audit.checkpoint"

// AggregateAudit is the aggregate type of a realm's checkpoint chain. Its
// own-events subject holds only checkpoints, so appending one at the
// previous one's sequence keeps the chain linear across replicas.
const AggregateAudit = "audit"

// AuditRef is the aggregate of a realm's checkpoints.
func AuditRef(realm string) AggregateRef { return AggregateRef{Type: AggregateAudit, ID: realm} }

// Checkpoint format constants.
const (
	CheckpointVersion = 1
	// CheckpointVersionForeign is the version of a checkpoint that lists
	// foreign messages: a verifier that predates the list refuses it
	// rather than misreading its range.
	CheckpointVersionForeign = 2
	// FingerprintSize is the length of each fingerprint in fp.
	FingerprintSize = 8
	// expiringSize is one record of exp: seq, until, digest.
	expiringSize = 8 + 8 + sha256.Size
	// CheckpointJWSType is the "typ" of a checkpoint's JWS header.
	CheckpointJWSType = "latchkey-checkpoint+jws"
	chainDomain       = "latchkey/audit/v1"
)

// SeqRange is an inclusive range of stream sequences.
type SeqRange [2]uint64

// CheckpointBody is what a checkpoint commits to; its canonical bytes
// (Encode) are the JWS payload.
type CheckpointBody struct {
	V     int    `json:"v"`
	Realm string `json:"realm"`
	// FromSeq and ToSeq bound the range covered, inclusive.
	FromSeq uint64 `json:"from_seq"`
	ToSeq   uint64 `json:"to_seq"`
	// Messages counts the messages chained (the range less its gaps).
	Messages uint64     `json:"messages"`
	Gaps     []SeqRange `json:"gaps,omitempty"`
	// Foreign are the sequences whose message had no valid MAC (version 2).
	Foreign []SeqRange `json:"foreign,omitempty"`
	// Prev is the base64url SHA-256 of the previous checkpoint's body
	// (empty for a realm's first) and PrevSeq where it is stored.
	Prev    string `json:"prev"`
	PrevSeq uint64 `json:"prev_seq"`
	// Head is the base64url chain head after the last message.
	Head string `json:"head"`
	// Fingerprints is base64url: FingerprintSize bytes per chained message.
	Fingerprints string `json:"fp"`
	// Expiring is base64url: per message with a TTL, its seq and the Unix
	// second from which it may be gone (8 bytes BE each) and its digest.
	Expiring string `json:"exp,omitempty"`
	// At is when the checkpoint was made (Unix seconds).
	At int64 `json:"at"`
}

// Checkpoint is the payload of an audit.checkpoint event.
type Checkpoint struct {
	CheckpointBody
	// JWS is "<protected header>..<signature>", the payload detached: it
	// is the body's canonical encoding.
	JWS string `json:"jws"`
}

func (Checkpoint) EventType() string { return TypeAuditCheckpoint }

func init() { decoders[TypeAuditCheckpoint] = decodeAs[Checkpoint] }

// Encode is the body's canonical JSON: the JWS payload and what Hash covers.
func (b CheckpointBody) Encode() []byte {
	out, err := json.Marshal(b)
	if err != nil { // only plain fields: cannot fail
		panic(err)
	}
	return out
}

// Hash identifies a checkpoint: the next one names it as prev.
func (b CheckpointBody) Hash() [32]byte { return sha256.Sum256(b.Encode()) }

var b64 = base64.RawURLEncoding

// EncodeHash renders a hash as a checkpoint field.
func EncodeHash(h [32]byte) string { return b64.EncodeToString(h[:]) }

// DecodeHash reads a hash field; "" is the zero hash.
func DecodeHash(s string) ([32]byte, error) {
	var h [32]byte
	if s == "" {
		return h, nil
	}
	raw, err := b64.DecodeString(s)
	if err != nil || len(raw) != len(h) {
		return h, fmt.Errorf("checkpoint: bad hash %q", s)
	}
	copy(h[:], raw)
	return h, nil
}

// MessageDigest is the digest of one stored message.
func MessageDigest(subject string, data []byte) [32]byte {
	h := sha256.New()
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(subject)))
	h.Write(n[:])
	io.WriteString(h, subject)
	h.Write(data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ChainStart is the head before a checkpoint's first message.
func ChainStart(realm string, prev [32]byte, fromSeq uint64) [32]byte {
	h := sha256.New()
	io.WriteString(h, chainDomain)
	h.Write([]byte{0})
	io.WriteString(h, realm)
	h.Write([]byte{0})
	h.Write(prev[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], fromSeq)
	h.Write(n[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ChainStep adds one message to the chain.
func ChainStep(head [32]byte, seq uint64, digest [32]byte) [32]byte {
	var buf [32 + 8 + 32]byte
	copy(buf[:32], head[:])
	binary.BigEndian.PutUint64(buf[32:40], seq)
	copy(buf[40:], digest[:])
	return sha256.Sum256(buf[:])
}

// Fingerprint is the short form of a digest kept for every message.
type Fingerprint [FingerprintSize]byte

// FingerprintOf shortens a digest.
func FingerprintOf(d [32]byte) Fingerprint { return Fingerprint(d[:FingerprintSize]) }

// ChainEntry is one message a checkpointer read.
type ChainEntry struct {
	Seq    uint64
	Digest [32]byte
	// Until is the Unix second from which the message may be gone: its
	// stored time + TTL (less a second of slack); 0 when it has no TTL.
	Until int64
	// Foreign: the message had no valid MAC; it is listed, not chained.
	Foreign bool
}

// BuildCheckpoint makes the body covering entries (in stream order, all
// after prevTo) from fromSeq on; every sequence from fromSeq to the last
// entry not among them is a gap, and every foreign entry is listed as such.
func BuildCheckpoint(realm string, prev CheckpointRef, fromSeq uint64, entries []ChainEntry, at int64) (CheckpointBody, error) {
	if len(entries) == 0 {
		return CheckpointBody{}, errors.New("checkpoint: nothing to cover")
	}
	prevHash := prev.Hash
	head := ChainStart(realm, prevHash, fromSeq)
	fp := make([]byte, 0, len(entries)*FingerprintSize)
	var exp []byte
	var gaps, foreign []SeqRange
	next := fromSeq
	chained := uint64(0)
	for _, e := range entries {
		if e.Seq < next {
			return CheckpointBody{}, fmt.Errorf("checkpoint: seq %d out of order (expected %d or later)", e.Seq, next)
		}
		if e.Seq > next {
			gaps = append(gaps, SeqRange{next, e.Seq - 1})
		}
		if e.Foreign {
			if n := len(foreign); n > 0 && foreign[n-1][1] == e.Seq-1 {
				foreign[n-1][1] = e.Seq
			} else {
				foreign = append(foreign, SeqRange{e.Seq, e.Seq})
			}
			next = e.Seq + 1
			continue
		}
		chained++
		head = ChainStep(head, e.Seq, e.Digest)
		fp = append(fp, e.Digest[:FingerprintSize]...)
		if e.Until > 0 {
			exp = binary.BigEndian.AppendUint64(exp, e.Seq)
			exp = binary.BigEndian.AppendUint64(exp, uint64(e.Until))
			exp = append(exp, e.Digest[:]...)
		}
		next = e.Seq + 1
	}
	body := CheckpointBody{
		V: CheckpointVersion, Realm: realm,
		FromSeq: fromSeq, ToSeq: next - 1, Messages: chained, Gaps: gaps, Foreign: foreign,
		PrevSeq: prev.Seq, Head: EncodeHash(head),
		Fingerprints: b64.EncodeToString(fp), At: at,
	}
	if prev.Seq != 0 {
		body.Prev = EncodeHash(prevHash)
	}
	if len(exp) > 0 {
		body.Expiring = b64.EncodeToString(exp)
	}
	if len(foreign) > 0 {
		body.V = CheckpointVersionForeign
	}
	return body, nil
}

// CheckpointRef is where a chain continues from: the previous checkpoint's
// hash, where it is stored and the last sequence it covered. The zero
// value starts a realm's chain.
type CheckpointRef struct {
	Hash  [32]byte
	Seq   uint64
	ToSeq uint64
}

// Ref is how the next checkpoint refers to this one, stored at seq.
func (b CheckpointBody) Ref(seq uint64) CheckpointRef {
	return CheckpointRef{Hash: b.Hash(), Seq: seq, ToSeq: b.ToSeq}
}

// Covered is what a checkpoint says about one sequence of its range.
type Covered struct {
	Seq uint64
	// Gap: the sequence was already missing when the checkpoint was made.
	Gap bool
	// Foreign: its message had no valid MAC; the checkpoint does not
	// vouch for it.
	Foreign     bool
	Fingerprint Fingerprint
	// Expiring messages carry their full digest and expiry.
	Expiring bool
	Digest   [32]byte
	Until    int64
}

// Covered lists every sequence of the range, in order, with what the
// checkpoint recorded for it. A body whose parts disagree is an error.
func (b CheckpointBody) Covered() ([]Covered, error) {
	switch {
	case b.V != CheckpointVersion && b.V != CheckpointVersionForeign:
		return nil, fmt.Errorf("checkpoint: unknown version %d", b.V)
	case b.V == CheckpointVersion && len(b.Foreign) > 0:
		return nil, errors.New("checkpoint: version 1 lists foreign messages")
	}
	if b.ToSeq < b.FromSeq || b.ToSeq-b.FromSeq > 1<<26 {
		return nil, fmt.Errorf("checkpoint: bad range %d..%d", b.FromSeq, b.ToSeq)
	}
	fp, err := b64.DecodeString(b.Fingerprints)
	if err != nil || uint64(len(fp)) != b.Messages*FingerprintSize {
		return nil, fmt.Errorf("checkpoint: fp holds %d bytes for %d messages", len(fp), b.Messages)
	}
	exp, err := b64.DecodeString(b.Expiring)
	if err != nil || len(exp)%expiringSize != 0 {
		return nil, errors.New("checkpoint: bad exp")
	}
	out := make([]Covered, 0, b.ToSeq-b.FromSeq+1)
	gaps, foreign := b.Gaps, b.Foreign
	chained := 0
	for seq := b.FromSeq; seq <= b.ToSeq; seq++ {
		for len(gaps) > 0 && gaps[0][1] < seq {
			gaps = gaps[1:]
		}
		for len(foreign) > 0 && foreign[0][1] < seq {
			foreign = foreign[1:]
		}
		gap, isForeign := len(gaps) > 0 && gaps[0][0] <= seq, len(foreign) > 0 && foreign[0][0] <= seq
		if gap && isForeign {
			return nil, fmt.Errorf("checkpoint: seq %d is both a gap and foreign", seq)
		}
		if gap || isForeign {
			out = append(out, Covered{Seq: seq, Gap: gap, Foreign: isForeign})
			continue
		}
		if (chained+1)*FingerprintSize > len(fp) {
			return nil, errors.New("checkpoint: fewer fingerprints than messages in range")
		}
		c := Covered{Seq: seq, Fingerprint: Fingerprint(fp[chained*FingerprintSize:])}
		chained++
		if len(exp) > 0 && binary.BigEndian.Uint64(exp) == seq {
			c.Expiring = true
			c.Until = int64(binary.BigEndian.Uint64(exp[8:]))
			c.Digest = [32]byte(exp[16:expiringSize])
			if FingerprintOf(c.Digest) != c.Fingerprint {
				return nil, fmt.Errorf("checkpoint: exp and fp disagree at seq %d", seq)
			}
			exp = exp[expiringSize:]
		}
		out = append(out, c)
	}
	if uint64(chained) != b.Messages || len(exp) != 0 {
		return nil, fmt.Errorf("checkpoint: %d messages in range, body says %d", chained, b.Messages)
	}
	return out, nil
}

// SignCheckpoint signs a body with an ES256 key (a crypto.Signer over
// P-256, as the realm's key store holds it).
func SignCheckpoint(body CheckpointBody, kid string, signer crypto.Signer, rand io.Reader) (Checkpoint, error) {
	jws, err := signDetached("checkpoint", jwsHeader{Kid: kid, Typ: CheckpointJWSType}, body.Encode(), signer, rand)
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{CheckpointBody: body, JWS: jws}, nil
}

// SignerKid returns the kid in the JWS header, to pick the key to verify
// with.
func (c Checkpoint) SignerKid() (string, error) {
	h, _, err := splitDetached("checkpoint", c.JWS)
	return h.Kid, err
}

// ErrBadSignature: the JWS does not verify with the key.
var ErrBadSignature = errors.New("checkpoint: signature does not verify")

// VerifySignature checks the detached JWS over the body with pub.
func (c Checkpoint) VerifySignature(pub *ecdsa.PublicKey) error {
	h, sig, err := splitDetached("checkpoint", c.JWS)
	if err != nil {
		return err
	}
	if h.Alg != AlgES256 || h.Typ != CheckpointJWSType {
		return fmt.Errorf("checkpoint: jws alg %q typ %q, want %s %s", h.Alg, h.Typ, AlgES256, CheckpointJWSType)
	}
	if !verifyES256(pub, c.JWS, c.Encode(), sig) {
		return ErrBadSignature
	}
	return nil
}

// Kinds of what a verifier finds. Retention is no tampering; every other
// kind means the history is not what the service recorded.
const (
	// FindingRemoved: a message the checkpoint chained is gone and was
	// not expirable (or not yet expired).
	FindingRemoved = "removed"
	// FindingAltered: the message stored at a sequence is not the one
	// chained.
	FindingAltered = "altered"
	// FindingReordered: the message at a sequence is one the checkpoint
	// chained at another sequence.
	FindingReordered = "reordered"
	// FindingRetention: an expirable message is gone after its expiry.
	FindingRetention = "retention"
	// FindingUnattested: the sequence was already missing when the
	// checkpoint was made; nothing vouches for what it held.
	FindingUnattested = "unattested"
	// FindingInserted: a message is stored at a sequence the checkpoint
	// recorded as missing.
	FindingInserted = "inserted"
	// FindingHead: the chain head differs although no single message
	// could be named (a fingerprint collision: the range was altered).
	FindingHead = "head_mismatch"
	// FindingSignature: a checkpoint's JWS does not verify (or names no
	// known key); the checkpoint is ignored.
	FindingSignature = "bad_signature"
	// FindingChain: a checkpoint does not follow the previous one (wrong
	// prev hash, a range that skips or overlaps, a missing predecessor).
	FindingChain = "chain_broken"
	// FindingUnverified: messages no valid checkpoint covers although a
	// later one exists (their own checkpoint is gone or invalid).
	FindingUnverified = "unverified"
	// FindingForeign: a message without a valid MAC: someone else with
	// write access to the stream stored it. No reader takes it for an
	// event, and no checkpoint may vouch for it.
	FindingForeign = "foreign"
)

// Finding is one thing a verifier reports about one sequence (or, with
// LastSeq, a range of them).
type Finding struct {
	Seq     uint64 `json:"seq"`
	LastSeq uint64 `json:"last_seq,omitempty"`
	Kind    string `json:"kind"`
	Detail  string `json:"detail,omitempty"`
}

// Tampering reports whether the finding means the history was changed.
func (f Finding) Tampering() bool {
	return f.Kind != FindingRetention
}

// CheckRange compares a checkpoint's range with what the stream holds now:
// stored(seq) gives the digest of the message stored at seq, if any. prev
// is the hash the chain started from (the previous checkpoint's, as the
// verifier computed it). It returns what it found, in sequence order; none
// means every message chained is stored unchanged.
func (b CheckpointBody) CheckRange(prev [32]byte, stored func(seq uint64) ([32]byte, bool), now int64) ([]Finding, error) {
	covered, err := b.Covered()
	if err != nil {
		return nil, err
	}
	wantHead, err := DecodeHash(b.Head)
	if err != nil {
		return nil, err
	}
	var findings []Finding
	bySum := map[Fingerprint]uint64{}
	for _, c := range covered {
		if !c.Gap && !c.Foreign {
			bySum[c.Fingerprint] = c.Seq
		}
	}
	head := ChainStart(b.Realm, prev, b.FromSeq)
	localized := false
	for _, c := range covered {
		if c.Foreign {
			continue // never ours: whether it is still stored says nothing
		}
		d, ok := stored(c.Seq)
		switch {
		case c.Gap && ok:
			findings = append(findings, Finding{Seq: c.Seq, Kind: FindingInserted, Detail: "a message is stored where the checkpoint recorded none"})
			localized = true
		case c.Gap:
			findings = append(findings, Finding{Seq: c.Seq, Kind: FindingUnattested, Detail: "already missing when the checkpoint was made"})
		case !ok && c.Expiring && now >= c.Until:
			findings = append(findings, Finding{Seq: c.Seq, Kind: FindingRetention, Detail: fmt.Sprintf("expired by its TTL (from %d)", c.Until)})
			head = ChainStep(head, c.Seq, c.Digest)
		case !ok && c.Expiring:
			findings = append(findings, Finding{Seq: c.Seq, Kind: FindingRemoved, Detail: fmt.Sprintf("removed before its TTL expiry (%d)", c.Until)})
			localized = true
		case !ok:
			findings = append(findings, Finding{Seq: c.Seq, Kind: FindingRemoved})
			localized = true
		case FingerprintOf(d) != c.Fingerprint || c.Expiring && d != c.Digest:
			f := Finding{Seq: c.Seq, Kind: FindingAltered}
			if other, moved := bySum[FingerprintOf(d)]; moved && other != c.Seq {
				f.Kind, f.Detail = FindingReordered, fmt.Sprintf("holds the message chained at seq %d", other)
			}
			findings = append(findings, f)
			localized = true
		default:
			head = ChainStep(head, c.Seq, d)
		}
	}
	if !localized && head != wantHead {
		findings = append(findings, Finding{Seq: b.FromSeq, Kind: FindingHead, Detail: fmt.Sprintf("seqs %d..%d do not hash to the checkpoint's head", b.FromSeq, b.ToSeq)})
	}
	return findings, nil
}
