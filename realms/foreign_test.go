package realms_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/realms"
)

// The attack of a forged client.created (issue 14, item 1): someone with
// publish rights on the stream stores a well-formed event for a client of
// their own, with a secret hash of their choosing, between real events.
// It reaches no read model, so the client cannot authenticate; the next
// checkpoint lists it as foreign instead of vouching for it; verification
// names it, and nothing else.
func TestForgedEventReachesNothing(t *testing.T) {
	srv, _, rl := acmeRealm(t, fastAudit)
	ctx := context.Background()
	waitCovered(t, srv.Store, "acme")

	id := uuid.NewString()
	const secret = "the attacker's own secret"
	body := fmt.Appendf(nil, `{"id":%q,"type":"client.created","realm":"acme","aggregate":"client/%s","time":%q,"actor":"system","client_id":"","request_id":"","ip":"",`+
		`"data":{"client_id":%q,"name":"backdoor","kind":"service","grant_types":["client_credentials"],"scopes":["management"],"secret_hash":%q}}`,
		uuid.NewString(), id, time.Now().UTC().Format(time.RFC3339Nano), id, domain.HashSecret(secret))
	ack, err := srv.Store.JetStream().Publish(ctx, eventstore.Subject("acme", domain.ClientRef(id), domain.TypeClientCreated), body)
	if err != nil {
		t.Fatal(err)
	}
	// A real event after it, so that a checkpoint falls due.
	if _, err := rl.Structure().CreateNode(ctx, domain.CreateNode{Slug: "org", Kind: domain.NodeOrganization}, sysMeta()); err != nil {
		t.Fatal(err)
	}
	covered := waitCovered(t, srv.Store, "acme")
	if covered < ack.Sequence {
		t.Fatalf("covered to %d, before the forged seq %d", covered, ack.Sequence)
	}

	if _, err := rl.Clients().Get(id); err == nil {
		t.Fatal("the forged client is in the read models")
	}
	if _, err := rl.Clients().Authenticate(ctx, realms.ClientAuth{Method: domain.AuthSecretBasic, ClientID: id, Secret: secret}, time.Now()); err == nil {
		t.Fatal("the forged client authenticated")
	}

	// The checkpoint that covers it lists it as foreign.
	var covering *domain.Checkpoint
	_, err = srv.Store.Scan(ctx, "acme", eventstore.ScanOptions{FromSeq: ack.Sequence}, func(m *eventstore.RawMsg) error {
		if m.Subject != realms.CheckpointSubject("acme") {
			return nil
		}
		envs, err := m.Envelopes()
		if err != nil || len(envs) != 1 {
			return fmt.Errorf("checkpoint at seq %d: %d events, %v", m.Seq, len(envs), err)
		}
		p, err := envs[0].Payload()
		if err != nil {
			return err
		}
		if c := p.(domain.Checkpoint); c.FromSeq <= ack.Sequence && ack.Sequence <= c.ToSeq {
			covering = &c
			return eventstore.ErrStopScan
		}
		return nil
	})
	if err != nil || covering == nil {
		t.Fatalf("no checkpoint covers the forged seq %d (%v)", ack.Sequence, err)
	}
	if c := covering; c.V != domain.CheckpointVersionForeign || len(c.Foreign) != 1 || c.Foreign[0] != (domain.SeqRange{ack.Sequence, ack.Sequence}) {
		t.Fatalf("the checkpoint covering seq %d: v%d, foreign %v", ack.Sequence, c.V, c.Foreign)
	}

	rep := verify(t, srv.Store, "acme", time.Now())
	f, tampered := rep.Tampered()
	if !tampered || f.Seq != ack.Sequence || f.Kind != domain.FindingForeign || len(rep.Findings) != 1 {
		t.Fatalf("verify: %d findings, want one foreign at seq %d:\n%s", len(rep.Findings), ack.Sequence, findingsText(rep))
	}
	if !rep.MACsChecked || rep.MACBoundary != 1 || rep.Foreign != 1 || rep.Legacy != 0 {
		t.Errorf("report: macs checked %v, boundary %d, foreign %d, legacy %d", rep.MACsChecked, rep.MACBoundary, rep.Foreign, rep.Legacy)
	}
	if fs := srv.Foreign(); len(fs) == 0 || fs[0].Seq != ack.Sequence || fs[0].Reason != "no MAC" {
		t.Errorf("reported foreign messages: %+v", fs)
	}

	// Removing the forged message leaves a history that verifies.
	stream, _ := srv.Store.JetStream().Stream(ctx, eventstore.StreamName("acme"))
	if err := stream.DeleteMsg(ctx, ack.Sequence); err != nil {
		t.Fatal(err)
	}
	if rep := verify(t, srv.Store, "acme", time.Now()); len(rep.Findings) != 0 {
		t.Fatalf("after removing the forged message:\n%s", findingsText(rep))
	}
}

// A forged checkpoint is no checkpoint: the chain does not continue from
// it, and verification names it.
func TestForgedCheckpointIsNotTheChainsEnd(t *testing.T) {
	srv, _, _ := acmeRealm(t, fastAudit)
	ctx := context.Background()
	waitCovered(t, srv.Store, "acme")
	before, err := realms.LastCheckpoint(ctx, srv.Store, "acme")
	if err != nil {
		t.Fatal(err)
	}
	last, _, err := srv.Store.LastMsg(ctx, "acme", realms.CheckpointSubject("acme"))
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the real last checkpoint, without its MAC.
	ack, err := srv.Store.JetStream().Publish(ctx, realms.CheckpointSubject("acme"), last.Data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := realms.LastCheckpoint(ctx, srv.Store, "acme"); err == nil {
		t.Fatal("the chain continues from a forged checkpoint")
	}
	rep := verify(t, srv.Store, "acme", time.Now())
	if f, ok := rep.Tampered(); !ok || f.Seq != ack.Sequence || f.Kind != domain.FindingForeign {
		t.Fatalf("verify:\n%s", findingsText(rep))
	}
	if rep.Checkpoints == 0 || rep.CoveredTo != before.ToSeq {
		t.Errorf("verify took the forged copy for a checkpoint: %d checkpoints, covered to %d (want %d)", rep.Checkpoints, rep.CoveredTo, before.ToSeq)
	}
}
