package domain_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/domain"
)

// msgs is a toy stream: seq → (subject, body).
type msgs map[uint64][2]string

func (m msgs) digest(seq uint64) ([32]byte, bool) {
	v, ok := m[seq]
	if !ok {
		return [32]byte{}, false
	}
	return domain.MessageDigest(v[0], []byte(v[1])), true
}

func (m msgs) clone() msgs {
	out := msgs{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// build checkpoints seqs 1..10 of a stream where 4 and 7 expire at 100
// and 6 was already missing.
func build(t *testing.T) (domain.CheckpointBody, msgs) {
	t.Helper()
	stream := msgs{}
	var entries []domain.ChainEntry
	for seq := uint64(1); seq <= 10; seq++ {
		if seq == 6 {
			continue
		}
		stream[seq] = [2]string{"lk.acme.client.c1.token.issued", fmt.Sprintf(`{"n":%d}`, seq)}
		d, _ := stream.digest(seq)
		e := domain.ChainEntry{Seq: seq, Digest: d}
		if seq == 4 || seq == 7 {
			e.Until = 100
		}
		entries = append(entries, e)
	}
	body, err := domain.BuildCheckpoint("acme", domain.CheckpointRef{}, 1, entries, 50)
	if err != nil {
		t.Fatal(err)
	}
	if body.FromSeq != 1 || body.ToSeq != 10 || body.Messages != 9 || len(body.Gaps) != 1 || body.Gaps[0] != (domain.SeqRange{6, 6}) || body.Prev != "" {
		t.Fatalf("body %+v", body)
	}
	return body, stream
}

func kinds(fs []domain.Finding) string {
	s := ""
	for _, f := range fs {
		s += fmt.Sprintf("%d:%s ", f.Seq, f.Kind)
	}
	return s
}

func TestCheckRange(t *testing.T) {
	body, stream := build(t)
	check := func(s msgs, now int64) string {
		t.Helper()
		fs, err := body.CheckRange([32]byte{}, s.digest, now)
		if err != nil {
			t.Fatal(err)
		}
		return kinds(fs)
	}
	if got := check(stream, 60); got != "6:unattested " {
		t.Fatalf("intact range: %s", got)
	}
	gone := stream.clone()
	delete(gone, 4)
	delete(gone, 7)
	if got := check(gone, 100); got != "4:retention 6:unattested 7:retention " {
		t.Fatalf("expired messages: %s", got)
	}
	if got := check(gone, 99); got != "4:removed 6:unattested 7:removed " {
		t.Fatalf("messages gone before their expiry: %s", got)
	}
	removed := stream.clone()
	delete(removed, 5)
	if got := check(removed, 1000); got != "5:removed 6:unattested " {
		t.Fatalf("a removed message: %s", got)
	}
	altered := stream.clone()
	altered[8] = [2]string{altered[8][0], `{"n":80}`}
	if got := check(altered, 60); got != "6:unattested 8:altered " {
		t.Fatalf("an altered message: %s", got)
	}
	swapped := stream.clone()
	swapped[2], swapped[3] = stream[3], stream[2]
	if got := check(swapped, 60); got != "2:reordered 3:reordered 6:unattested " {
		// The digest covers subject and body, not the seq: a swap shows
		// as each holding the other's message.
		t.Fatalf("swapped messages: %s", got)
	}
	inserted := stream.clone()
	inserted[6] = [2]string{"lk.acme.x", "{}"}
	if got := check(inserted, 60); got != "6:inserted " {
		t.Fatalf("a message in a gap: %s", got)
	}
	// The head binds the chain to its predecessor.
	fs, _ := body.CheckRange([32]byte{1}, stream.digest, 60)
	if kinds(fs) != "6:unattested 1:head_mismatch " {
		t.Fatalf("another prev: %s", kinds(fs))
	}
}

func TestCheckpointSignature(t *testing.T) {
	body, _ := build(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cp, err := domain.SignCheckpoint(body, "kid-1", key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if kid, _ := cp.SignerKid(); kid != "kid-1" {
		t.Fatalf("kid %q", kid)
	}
	if err := cp.VerifySignature(&key.PublicKey); err != nil {
		t.Fatal(err)
	}
	// Through the event codec and back, it still verifies.
	raw, _ := json.Marshal(cp)
	p, err := domain.DecodePayload(domain.TypeAuditCheckpoint, raw)
	if err != nil {
		t.Fatal(err)
	}
	back := p.(domain.Checkpoint)
	if err := back.VerifySignature(&key.PublicKey); err != nil {
		t.Fatal(err)
	}
	back.Messages++
	if err := back.VerifySignature(&key.PublicKey); err != domain.ErrBadSignature {
		t.Fatalf("altered body: %v", err)
	}
	if _, err := back.Covered(); err == nil {
		t.Fatal("a body whose count disagrees with its fingerprints is accepted")
	}
	next, err := domain.BuildCheckpoint("acme", cp.Ref(11), 11, []domain.ChainEntry{{Seq: 11}}, 60)
	if err != nil || next.Prev != domain.EncodeHash(cp.Hash()) || next.PrevSeq != 11 {
		t.Fatalf("next checkpoint %+v %v", next, err)
	}
}

var b64 = base64.RawURLEncoding

func digestOf(s string) [32]byte { return domain.MessageDigest("lk.acme.x", []byte(s)) }

// The digest, chain start and chain step are the format an outside
// verifier reimplements: these tests pin them to the package comment.
func TestChainFormat(t *testing.T) {
	spec := sha256.Sum256(append([]byte{0, 0, 0, 2}, "ab"+"c"...))
	if got := domain.MessageDigest("ab", []byte("c")); got != spec {
		t.Errorf("MessageDigest is not SHA-256(len(subject) BE32 || subject || data)")
	}
	if domain.MessageDigest("ab", []byte("c")) == domain.MessageDigest("a", []byte("bc")) {
		t.Error("the subject's length does not separate subject from data")
	}

	prev := sha256.Sum256([]byte("previous body"))
	start := sha256.New()
	start.Write([]byte("latchkey/audit/v1\x00acme\x00"))
	start.Write(prev[:])
	start.Write(binary.BigEndian.AppendUint64(nil, 42))
	if got := domain.ChainStart("acme", prev, 42); !bytes.Equal(got[:], start.Sum(nil)) {
		t.Error("ChainStart is not SHA-256(domain || 0 || realm || 0 || prev || from_seq BE64)")
	}
	for _, other := range [][32]byte{
		domain.ChainStart("acme2", prev, 42), domain.ChainStart("acme", [32]byte{}, 42), domain.ChainStart("acme", prev, 43),
	} {
		if other == domain.ChainStart("acme", prev, 42) {
			t.Error("the chain start ignores its realm, prev or first sequence")
		}
	}

	head, d := sha256.Sum256([]byte("head")), digestOf("m")
	step := sha256.Sum256(slices.Concat(head[:], binary.BigEndian.AppendUint64(nil, 7), d[:]))
	if domain.ChainStep(head, 7, d) != step {
		t.Error("ChainStep is not SHA-256(head || seq BE64 || digest)")
	}
	if domain.ChainStep(head, 8, d) == step {
		t.Error("the chain step ignores the sequence")
	}
	if fp := domain.FingerprintOf(d); !bytes.Equal(fp[:], d[:domain.FingerprintSize]) {
		t.Error("a fingerprint is not the digest's first bytes")
	}
}

func TestHashFields(t *testing.T) {
	h := sha256.Sum256([]byte("x"))
	for _, tc := range []struct {
		in   string
		want [32]byte
		err  string
	}{
		{in: "", want: [32]byte{}},
		{in: domain.EncodeHash(h), want: h},
		{in: "!!", err: `checkpoint: bad hash "!!"`},
		{in: b64.EncodeToString(h[:31]), err: `checkpoint: bad hash "` + b64.EncodeToString(h[:31]) + `"`},
		{in: base64.URLEncoding.EncodeToString(h[:]), err: `checkpoint: bad hash "` + base64.URLEncoding.EncodeToString(h[:]) + `"`},
	} {
		got, err := domain.DecodeHash(tc.in)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("DecodeHash(%q) error = %v, want %s", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("DecodeHash(%q) = %x, %v", tc.in, got, err)
		}
	}
}

func TestBuildCheckpoint(t *testing.T) {
	e := func(seq uint64, until int64) domain.ChainEntry {
		return domain.ChainEntry{Seq: seq, Digest: digestOf(fmt.Sprint(seq)), Until: until}
	}
	prevBody := domain.CheckpointBody{V: 1, Realm: "acme", FromSeq: 1, ToSeq: 2}
	prev := prevBody.Ref(3)
	if prev != (domain.CheckpointRef{Hash: prevBody.Hash(), Seq: 3, ToSeq: 2}) {
		t.Fatalf("Ref = %+v", prev)
	}

	entries := []domain.ChainEntry{e(5, 0), e(6, 900), e(9, 0), e(10, 950)}
	body, err := domain.BuildCheckpoint("acme", prev, 3, entries, 77)
	if err != nil {
		t.Fatal(err)
	}
	head := domain.ChainStart("acme", prev.Hash, 3)
	var fp, exp []byte
	for _, x := range entries {
		head = domain.ChainStep(head, x.Seq, x.Digest)
		fp = append(fp, x.Digest[:8]...)
	}
	for _, x := range []domain.ChainEntry{entries[1], entries[3]} {
		exp = binary.BigEndian.AppendUint64(exp, x.Seq)
		exp = binary.BigEndian.AppendUint64(exp, uint64(x.Until))
		exp = append(exp, x.Digest[:]...)
	}
	want := domain.CheckpointBody{
		V: 1, Realm: "acme", FromSeq: 3, ToSeq: 10, Messages: 4,
		Gaps: []domain.SeqRange{{3, 4}, {7, 8}}, Prev: domain.EncodeHash(prevBody.Hash()), PrevSeq: 3,
		Head: domain.EncodeHash(head), Fingerprints: b64.EncodeToString(fp), Expiring: b64.EncodeToString(exp), At: 77,
	}
	if !reflect.DeepEqual(body, want) {
		t.Fatalf("body =\n  %+v\nwant\n  %+v", body, want)
	}

	// What the body says of each sequence of its range.
	covered, err := body.Covered()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range covered {
		switch {
		case c.Gap:
			got = append(got, fmt.Sprintf("%d:gap", c.Seq))
		case c.Expiring:
			if c.Fingerprint != domain.FingerprintOf(c.Digest) {
				t.Errorf("seq %d: fingerprint and digest disagree", c.Seq)
			}
			got = append(got, fmt.Sprintf("%d:until %d", c.Seq, c.Until))
		default:
			got = append(got, fmt.Sprintf("%d:fp %x", c.Seq, c.Fingerprint[:2]))
		}
	}
	d := func(seq int) string { x := digestOf(fmt.Sprint(seq)); return fmt.Sprintf("%x", x[:2]) }
	if w := []string{"3:gap", "4:gap", "5:fp " + d(5), "6:until 900", "7:gap", "8:gap", "9:fp " + d(9), "10:until 950"}; !reflect.DeepEqual(got, w) {
		t.Errorf("Covered =\n  %q\nwant\n  %q", got, w)
	}

	// A realm's first checkpoint names no predecessor and no expiring.
	first, err := domain.BuildCheckpoint("acme", domain.CheckpointRef{}, 1, []domain.ChainEntry{e(1, 0)}, 1)
	if err != nil || first.Prev != "" || first.PrevSeq != 0 || first.Gaps != nil || first.Expiring != "" {
		t.Fatalf("first checkpoint %+v, %v", first, err)
	}
	if enc := string(first.Encode()); strings.Contains(enc, `"gaps"`) || strings.Contains(enc, `"exp"`) || !strings.HasPrefix(enc, `{"v":1,"realm":"acme","from_seq":1,"to_seq":1,`) {
		t.Errorf("canonical encoding %s", enc)
	}

	for _, tc := range []struct {
		name    string
		from    uint64
		entries []domain.ChainEntry
		err     string
	}{
		{"nothing to cover", 1, nil, "checkpoint: nothing to cover"},
		{"out of order", 1, []domain.ChainEntry{e(3, 0), e(2, 0)}, "checkpoint: seq 2 out of order (expected 4 or later)"},
		{"a sequence twice", 1, []domain.ChainEntry{e(3, 0), e(3, 0)}, "checkpoint: seq 3 out of order (expected 4 or later)"},
		{"before the range", 5, []domain.ChainEntry{e(4, 0)}, "checkpoint: seq 4 out of order (expected 5 or later)"},
	} {
		if _, err := domain.BuildCheckpoint("acme", prev, tc.from, tc.entries, 1); err == nil || err.Error() != tc.err {
			t.Errorf("%s: error = %v, want %s", tc.name, err, tc.err)
		}
	}
}

// TestCovered refuses every body whose parts disagree.
func TestCovered(t *testing.T) {
	body, _ := build(t) // seqs 1..10, 6 a gap, 4 and 7 expiring
	fp, _ := b64.DecodeString(body.Fingerprints)
	exp, _ := b64.DecodeString(body.Expiring)
	const rec = 8 + 8 + 32
	for _, tc := range []struct {
		name   string
		change func(*domain.CheckpointBody)
		err    string
	}{
		{"another version", func(b *domain.CheckpointBody) { b.V = 3 }, "checkpoint: unknown version 3"},
		{"foreign messages in a version 1 body", func(b *domain.CheckpointBody) { b.Foreign = []domain.SeqRange{{6, 6}} },
			"checkpoint: version 1 lists foreign messages"},
		{"a sequence both a gap and foreign", func(b *domain.CheckpointBody) { b.V, b.Foreign = 2, []domain.SeqRange{{6, 6}} },
			"checkpoint: seq 6 is both a gap and foreign"},
		{"a foreign sequence also fingerprinted", func(b *domain.CheckpointBody) { b.V, b.Foreign = 2, []domain.SeqRange{{9, 9}} },
			"checkpoint: 8 messages in range, body says 9"},
		{"an inverted range", func(b *domain.CheckpointBody) { b.FromSeq, b.ToSeq = 5, 4 }, "checkpoint: bad range 5..4"},
		{"a range too long to list", func(b *domain.CheckpointBody) { b.ToSeq = b.FromSeq + 1<<26 + 1 },
			fmt.Sprintf("checkpoint: bad range 1..%d", 1+1<<26+1)},
		{"fingerprints not base64url", func(b *domain.CheckpointBody) { b.Fingerprints = "!!" }, "checkpoint: fp holds 0 bytes for 9 messages"},
		{"a fingerprint short", func(b *domain.CheckpointBody) { b.Fingerprints = b64.EncodeToString(fp[:len(fp)-1]) },
			"checkpoint: fp holds 71 bytes for 9 messages"},
		{"a message more than fingerprints", func(b *domain.CheckpointBody) { b.Messages++ }, "checkpoint: fp holds 72 bytes for 10 messages"},
		{"exp not base64url", func(b *domain.CheckpointBody) { b.Expiring = "!!" }, "checkpoint: bad exp"},
		{"an exp record cut short", func(b *domain.CheckpointBody) { b.Expiring = b64.EncodeToString(exp[:len(exp)-1]) }, "checkpoint: bad exp"},
		{"a gap dropped: more messages in range than fingerprints", func(b *domain.CheckpointBody) { b.Gaps, b.Expiring = nil, "" },
			"checkpoint: fewer fingerprints than messages in range"},
		{"a gap added: fewer messages in range than the body says", func(b *domain.CheckpointBody) {
			b.Gaps, b.Expiring = []domain.SeqRange{{5, 6}}, ""
		}, "checkpoint: 8 messages in range, body says 9"},
		{"exp and fp disagree", func(b *domain.CheckpointBody) {
			bad := slices.Clone(exp)
			bad[16] ^= 1 // the first digest byte of the record of seq 4
			b.Expiring = b64.EncodeToString(bad)
		}, "checkpoint: exp and fp disagree at seq 4"},
		{"exp records out of order", func(b *domain.CheckpointBody) {
			b.Expiring = b64.EncodeToString(slices.Concat(exp[rec:], exp[:rec]))
		}, "checkpoint: 9 messages in range, body says 9"},
		{"an exp record for a gap", func(b *domain.CheckpointBody) {
			gap := slices.Clone(exp[:rec])
			binary.BigEndian.PutUint64(gap, 6)
			b.Expiring = b64.EncodeToString(slices.Concat(exp[:rec], gap, exp[rec:]))
		}, "checkpoint: 9 messages in range, body says 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := body
			tc.change(&b)
			if _, err := b.Covered(); err == nil || err.Error() != tc.err {
				t.Errorf("Covered error = %v, want %s", err, tc.err)
			}
			// A verifier checking the range fails the same way.
			if _, err := b.CheckRange([32]byte{}, func(uint64) ([32]byte, bool) { return [32]byte{}, false }, 0); err == nil || err.Error() != tc.err {
				t.Errorf("CheckRange error = %v, want %s", err, tc.err)
			}
		})
	}
}

// A message without a valid MAC is listed as foreign, never chained: the
// checkpoint does not vouch for it, whether it stays stored or is removed;
// and an attacker cannot turn a chained message into a foreign one.
func TestCheckpointListsForeignMessages(t *testing.T) {
	d := func(seq uint64) [32]byte { return digestOf(fmt.Sprint(seq)) }
	entries := []domain.ChainEntry{{Seq: 1, Digest: d(1)}, {Seq: 2, Digest: d(2), Foreign: true}, {Seq: 3, Digest: d(3), Foreign: true},
		{Seq: 5, Digest: d(5)}, {Seq: 6, Digest: d(6), Foreign: true}, {Seq: 7, Digest: d(7)}}
	body, err := domain.BuildCheckpoint("acme", domain.CheckpointRef{}, 1, entries, 50)
	if err != nil {
		t.Fatal(err)
	}
	head := domain.ChainStart("acme", [32]byte{}, 1)
	for _, seq := range []uint64{1, 5, 7} {
		head = domain.ChainStep(head, seq, d(seq))
	}
	if body.V != domain.CheckpointVersionForeign || body.Messages != 3 || body.Head != domain.EncodeHash(head) ||
		!reflect.DeepEqual(body.Foreign, []domain.SeqRange{{2, 3}, {6, 6}}) || !reflect.DeepEqual(body.Gaps, []domain.SeqRange{{4, 4}}) {
		t.Fatalf("body %+v", body)
	}
	if enc := string(body.Encode()); !strings.Contains(enc, `"foreign":[[2,3],[6,6]]`) {
		t.Errorf("canonical encoding %s", enc)
	}
	covered, err := body.Covered()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range covered {
		switch {
		case c.Foreign:
			got = append(got, fmt.Sprintf("%d:foreign", c.Seq))
		case c.Gap:
			got = append(got, fmt.Sprintf("%d:gap", c.Seq))
		default:
			got = append(got, fmt.Sprint(c.Seq))
		}
	}
	if w := []string{"1", "2:foreign", "3:foreign", "4:gap", "5", "6:foreign", "7"}; !reflect.DeepEqual(got, w) {
		t.Errorf("Covered = %q, want %q", got, w)
	}
	for _, tc := range []struct {
		name   string
		stored map[uint64][32]byte
		want   string
	}{
		{"as stored", map[uint64][32]byte{1: d(1), 2: d(2), 3: d(3), 5: d(5), 6: d(6), 7: d(7)}, "4:unattested "},
		{"the foreign messages removed", map[uint64][32]byte{1: d(1), 5: d(5), 7: d(7)}, "4:unattested "},
		{"a foreign message changed", map[uint64][32]byte{1: d(1), 2: d(9), 3: d(3), 5: d(5), 6: d(6), 7: d(7)}, "4:unattested "},
		{"a chained message removed", map[uint64][32]byte{1: d(1), 2: d(2), 3: d(3), 6: d(6), 7: d(7)}, "4:unattested 5:removed "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := body.CheckRange([32]byte{}, func(seq uint64) ([32]byte, bool) { x, ok := tc.stored[seq]; return x, ok }, 60)
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(fs); got != tc.want {
				t.Errorf("findings %q, want %q", got, tc.want)
			}
		})
	}
	// Listing a chained message as foreign (to hide a change to it)
	// changes the body, and the signature with it; the range no longer
	// adds up either.
	hidden := body
	hidden.Foreign = []domain.SeqRange{{2, 3}, {5, 6}}
	if _, err := hidden.Covered(); err == nil {
		t.Error("a chained message relabelled foreign: Covered accepts the body")
	}
}

// TestCheckRangeDigests covers what a fingerprint alone cannot tell.
func TestCheckRangeDigests(t *testing.T) {
	real1, real2 := digestOf("one"), digestOf("two")
	// collide shares real's fingerprint but not its digest.
	collide := func(d [32]byte) [32]byte { d[31] ^= 0xff; return d }
	body, err := domain.BuildCheckpoint("acme", domain.CheckpointRef{}, 1,
		[]domain.ChainEntry{{Seq: 1, Digest: real1}, {Seq: 2, Digest: real2, Until: 100}}, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		stored map[uint64][32]byte
		want   string
	}{
		{"unchanged", map[uint64][32]byte{1: real1, 2: real2}, ""},
		{"an expiring message with its fingerprint but another digest", map[uint64][32]byte{1: real1, 2: collide(real2)}, "2:altered "},
		{"a message with its fingerprint but another digest: only the head tells", map[uint64][32]byte{1: collide(real1), 2: real2},
			"1:head_mismatch "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := body.CheckRange([32]byte{}, func(seq uint64) ([32]byte, bool) { d, ok := tc.stored[seq]; return d, ok }, 60)
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(fs); got != tc.want {
				t.Errorf("findings %q, want %q", got, tc.want)
			}
		})
	}
	stored := func(seq uint64) ([32]byte, bool) { return map[uint64][32]byte{1: real1, 2: real2}[seq], true }
	bad := body
	bad.Head = "!!"
	if _, err := bad.CheckRange([32]byte{}, stored, 60); err == nil || err.Error() != `checkpoint: bad hash "!!"` {
		t.Errorf("an unreadable head: %v", err)
	}
	bad.Head = domain.EncodeHash(sha256.Sum256([]byte("forged")))
	fs, _ := bad.CheckRange([32]byte{}, stored, 60)
	if len(fs) != 1 || fs[0] != (domain.Finding{Seq: 1, Kind: domain.FindingHead, Detail: "seqs 1..2 do not hash to the checkpoint's head"}) {
		t.Errorf("a forged head: %+v", fs)
	}
}

// TestCheckpointLinks follows one checkpoint to the next: each names the
// hash of the previous body and starts its chain from it.
func TestCheckpointLinks(t *testing.T) {
	first, stream := build(t) // covers 1..10
	stream[11] = [2]string{"lk.acme.audit.acme.checkpoint", string(first.Encode())}
	stream[12] = [2]string{"lk.acme.client.c1.created", "{}"}
	var entries []domain.ChainEntry
	for _, seq := range []uint64{11, 12} {
		d, _ := stream.digest(seq)
		entries = append(entries, domain.ChainEntry{Seq: seq, Digest: d})
	}
	second, err := domain.BuildCheckpoint("acme", first.Ref(11), 11, entries, 60)
	if err != nil {
		t.Fatal(err)
	}
	if second.Prev != domain.EncodeHash(first.Hash()) || second.PrevSeq != 11 || second.FromSeq != first.ToSeq+1 {
		t.Fatalf("second checkpoint does not link to the first: %+v", second)
	}
	linked, _ := domain.DecodeHash(second.Prev)
	if fs, _ := second.CheckRange(linked, stream.digest, 60); len(fs) != 0 {
		t.Fatalf("an intact link: %s", kinds(fs))
	}
	// A first checkpoint rewritten afterwards (to hide a change) no
	// longer hashes to what the second names, and the second's chain,
	// started from the rewritten one, does not reach its head.
	rewritten := first
	rewritten.At++
	if rewritten.Hash() == linked {
		t.Fatal("a rewritten body keeps its hash")
	}
	if fs, _ := second.CheckRange(rewritten.Hash(), stream.digest, 60); kinds(fs) != "11:head_mismatch " {
		t.Fatalf("a broken link: %s", kinds(fs))
	}
}

// fakeSigner claims a P-256 key and answers with sig, or err.
type fakeSigner struct {
	pub *ecdsa.PublicKey
	sig []byte
	err error
}

func (s fakeSigner) Public() crypto.PublicKey { return s.pub }
func (s fakeSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return s.sig, s.err
}

func TestSignCheckpointRefusals(t *testing.T) {
	body, _ := build(t)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name   string
		signer crypto.Signer
		err    string
	}{
		{"a P-384 key", p384, "checkpoint: ES256 needs a P-256 key"},
		{"an Ed25519 key", ed, "checkpoint: ES256 needs a P-256 key"},
		{"a key store that fails", fakeSigner{pub: &p256.PublicKey, err: errors.New("sealed")}, "sealed"},
		{"a signature that is no DER", fakeSigner{pub: &p256.PublicKey, sig: []byte("junk")}, "checkpoint: signature: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp, err := domain.SignCheckpoint(body, "k", tc.signer, rand.Reader)
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) || cp.JWS != "" {
				t.Errorf("SignCheckpoint = %q, %v; want an error %q", cp.JWS, err, tc.err)
			}
		})
	}
}

func TestVerifySignature(t *testing.T) {
	body, _ := build(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	foreign, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cp, err := domain.SignCheckpoint(body, "kid-1", key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	protected, sig, _ := strings.Cut(cp.JWS, "..")
	hdr, _ := b64.DecodeString(protected)
	if string(hdr) != `{"alg":"ES256","kid":"kid-1","typ":"latchkey-checkpoint+jws"}` {
		t.Fatalf("protected header %s", hdr)
	}
	header := func(h string) string { return b64.EncodeToString([]byte(h)) }
	const notDetached = "checkpoint: jws is not a detached compact JWS"
	for _, tc := range []struct {
		name   string
		change func(*domain.Checkpoint)
		key    *ecdsa.PublicKey
		err    string // "" verifies; the kid is read unless the error is about the JWS's shape
	}{
		{"as signed", func(*domain.Checkpoint) {}, &key.PublicKey, ""},
		{"a foreign key", func(*domain.Checkpoint) {}, &foreign.PublicKey, domain.ErrBadSignature.Error()},
		{"the body changed", func(c *domain.Checkpoint) { c.At++ }, &key.PublicKey, domain.ErrBadSignature.Error()},
		{"a range moved", func(c *domain.Checkpoint) { c.FromSeq, c.ToSeq = c.FromSeq+1, c.ToSeq+1 }, &key.PublicKey, domain.ErrBadSignature.Error()},
		{"another kid in the header", func(c *domain.Checkpoint) {
			c.JWS = header(`{"alg":"ES256","kid":"kid-2","typ":"latchkey-checkpoint+jws"}`) + ".." + sig
		}, &key.PublicKey, domain.ErrBadSignature.Error()},
		{"a signature cut short", func(c *domain.Checkpoint) { c.JWS = protected + ".." + sig[:len(sig)-2] }, &key.PublicKey, domain.ErrBadSignature.Error()},
		{"a signature of a few bytes", func(c *domain.Checkpoint) { c.JWS = protected + "..AAAA" }, &key.PublicKey, domain.ErrBadSignature.Error()},
		{"no JWS", func(c *domain.Checkpoint) { c.JWS = "" }, &key.PublicKey, notDetached},
		{"an attached payload", func(c *domain.Checkpoint) { c.JWS = protected + "." + b64.EncodeToString(c.Encode()) + "." + sig },
			&key.PublicKey, notDetached},
		{"a fourth part", func(c *domain.Checkpoint) { c.JWS = protected + ".." + sig + ".x" }, &key.PublicKey, notDetached},
		{"a header not base64url", func(c *domain.Checkpoint) { c.JWS = "!!.." + sig }, &key.PublicKey, "checkpoint: bad jws header"},
		{"a header not JSON", func(c *domain.Checkpoint) { c.JWS = header("alg=ES256") + ".." + sig }, &key.PublicKey, "checkpoint: bad jws header"},
		{"a signature not base64url", func(c *domain.Checkpoint) { c.JWS = protected + "..!!" }, &key.PublicKey,
			"checkpoint: bad jws signature encoding"},
		{"another algorithm", func(c *domain.Checkpoint) {
			c.JWS = header(`{"alg":"RS256","kid":"kid-1","typ":"latchkey-checkpoint+jws"}`) + ".." + sig
		}, &key.PublicKey, `checkpoint: jws alg "RS256" typ "latchkey-checkpoint+jws", want ES256 latchkey-checkpoint+jws`},
		{"another type", func(c *domain.Checkpoint) {
			c.JWS = header(`{"alg":"ES256","kid":"kid-1","typ":"JWT"}`) + ".." + sig
		}, &key.PublicKey, `checkpoint: jws alg "ES256" typ "JWT", want ES256 latchkey-checkpoint+jws`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cp
			tc.change(&c)
			err := c.VerifySignature(tc.key)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || err.Error() != tc.err {
				t.Fatalf("VerifySignature = %v, want %s", err, tc.err)
			}
			_, kidErr := c.SignerKid()
			if shape := strings.HasPrefix(tc.err, "checkpoint: jws is") || strings.HasPrefix(tc.err, "checkpoint: bad jws"); shape != (kidErr != nil) {
				t.Errorf("SignerKid error = %v", kidErr)
			}
		})
	}
}

func TestFindingTampering(t *testing.T) {
	for _, kind := range []string{domain.FindingRemoved, domain.FindingAltered, domain.FindingReordered, domain.FindingUnattested,
		domain.FindingInserted, domain.FindingHead, domain.FindingSignature, domain.FindingChain, domain.FindingUnverified, domain.FindingForeign} {
		if !(domain.Finding{Kind: kind}).Tampering() {
			t.Errorf("%s is not tampering", kind)
		}
	}
	if (domain.Finding{Kind: domain.FindingRetention}).Tampering() {
		t.Error("retention is tampering")
	}
}
