package domain_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
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
