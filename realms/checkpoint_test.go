package realms_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/highwayhash"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
	"github.com/latchkeyhq/latchkey/projections"
	"github.com/latchkeyhq/latchkey/realms"
)

// fastAudit checkpoints often, so tests do not wait a minute.
var fastAudit = realms.AuditConfig{CheckpointEvery: 8, CheckpointInterval: 100 * time.Millisecond}

// auditRegistry opens a registry with fast checkpoints, without snapshots.
func auditRegistry(t *testing.T, srv *estest.Server, cfg realms.AuditConfig) *realms.Registry {
	t.Helper()
	ctx := context.Background()
	keys, err := realms.OpenKeyStore(ctx, srv.Store, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	passwords, err := realms.OpenPasswordStore(ctx, srv.Store, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	reg := realms.NewRegistry(srv.Store, keys, passwords, "https://id.example.test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := reg.SetAudit(cfg); err != nil {
		t.Fatal(err)
	}
	if err := reg.LoadAll(ctx); err != nil {
		t.Fatal(err)
	}
	return reg
}

// acmeRealm starts a server, opens a registry with cfg (closed when the
// test ends) and creates realm acme in it.
func acmeRealm(t *testing.T, cfg realms.AuditConfig) (*estest.Server, *realms.Registry, *realms.Realm) {
	t.Helper()
	srv := estest.Start(t, t.TempDir())
	reg := auditRegistry(t, srv, cfg)
	t.Cleanup(reg.Close)
	rl, err := reg.Create(context.Background(), "acme", sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	return srv, reg, rl
}

func sysMeta() eventstore.Meta {
	return eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
}

// history writes a realm's worth of varied history: structure, clients,
// concurrent (group-committed) tokens, revocations with their rules, a
// key rotation, a deleted client.
func history(t *testing.T, reg *realms.Registry) (clients []string) {
	t.Helper()
	ctx := context.Background()
	rl, err := reg.Create(ctx, "acme", sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rl.Structure().CreateNode(ctx, domain.CreateNode{Slug: "org", Kind: domain.NodeOrganization}, sysMeta()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		c, err := rl.Clients().Create(ctx, "", domain.ClientSettings{Name: fmt.Sprint("client-", i), Scopes: []string{"read"}}, false, sysMeta())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c.Client.ID)
		issueTokens(t, rl, c.Client.ID, 12)
	}
	if err := rl.Clients().RevokeTokens(ctx, clients[1], "test", sysMeta()); err != nil {
		t.Fatal(err)
	}
	if err := rl.Keys().Rotate(ctx, sysMeta()); err != nil {
		t.Fatal(err)
	}
	issueTokens(t, rl, clients[0], 5)
	if _, err := rl.Clients().Delete(ctx, []string{clients[2]}, realms.Condition{}, sysMeta()); err != nil {
		t.Fatal(err)
	}
	return clients
}

// issueTokens issues n tokens concurrently, so that some share a message.
func issueTokens(t *testing.T, rl *realms.Realm, clientID string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			meta := eventstore.Meta{Actor: eventstore.ClientActor(clientID), ClientID: clientID, Time: time.Now()}
			if _, err := rl.IssueAccessToken(context.Background(), domain.ClientRef(clientID), domain.GrantClientCredentials,
				realms.TokenRequest{ClientID: clientID, Subject: clientID, Scope: "read", Lifetime: 3600}, meta); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// waitCovered waits until a checkpoint covers every message but
// checkpoints.
func waitCovered(t *testing.T, st *eventstore.Store, realm string) uint64 {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		last, err := lastEventSeq(st, realm)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := realms.LastCheckpoint(ctx, st, realm)
		if err != nil {
			t.Fatal(err)
		}
		if ref.ToSeq >= last {
			return ref.ToSeq
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no checkpoint covers the history")
	return 0
}

// lastEventSeq is the sequence of the last message that is not a
// checkpoint.
func lastEventSeq(st *eventstore.Store, realm string) (uint64, error) {
	var last uint64
	_, err := st.Scan(context.Background(), realm, eventstore.ScanOptions{}, func(m *eventstore.RawMsg) error {
		if m.Subject != realms.CheckpointSubject(realm) {
			last = m.Seq
		}
		return nil
	})
	return last, err
}

func verify(t *testing.T, st *eventstore.Store, realm string, now time.Time) *realms.VerifyReport {
	t.Helper()
	rep, err := realms.VerifyChain(context.Background(), st, realm, realms.VerifyOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func findingsText(rep *realms.VerifyReport) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		fmt.Fprintf(&b, "  seq %d..%d %s %s\n", f.Seq, f.LastSeq, f.Kind, f.Detail)
	}
	return b.String()
}

// cleanHistory builds a checkpointed history in dir and stops the server.
func cleanHistory(t *testing.T, dir string) (covered uint64, clients []string) {
	t.Helper()
	srv := estest.Start(t, dir)
	reg := auditRegistry(t, srv, fastAudit)
	clients = history(t, reg)
	covered = waitCovered(t, srv.Store, "acme")
	reg.Close()
	srv.Stop()
	return covered, clients
}

func TestCleanHistoryVerifies(t *testing.T) {
	dir := t.TempDir()
	covered, _ := cleanHistory(t, dir)
	srv := estest.Start(t, dir)
	rep := verify(t, srv.Store, "acme", time.Now())
	if len(rep.Findings) != 0 {
		t.Fatalf("a clean history has findings:\n%s", findingsText(rep))
	}
	// The rotation's new key signs only once a checkpoint signed by the old
	// one has covered its key_added event, so one or both keys sign.
	if rep.Checkpoints < 3 || rep.CoveredTo != covered || len(rep.Kids) == 0 || len(rep.GenesisKids) != 1 || rep.Kids[0] != rep.GenesisKids[0] {
		t.Fatalf("report %+v: want several checkpoints up to seq %d, the first signed by the genesis key", rep, covered)
	}
	// Every event is covered; only checkpoints may trail (the last one
	// always does, and under a race one more can).
	if after := typesAfter(t, srv.Store, "acme", rep.CoveredTo); slices.ContainsFunc(after, func(ty string) bool { return ty != domain.TypeAuditCheckpoint }) {
		t.Fatalf("events uncovered after seq %d: %v", rep.CoveredTo, after)
	}
	if rep.Messages != rep.LastSeq {
		t.Fatalf("read %d messages up to seq %d: the clean history has gaps", rep.Messages, rep.LastSeq)
	}
}

// msgOfKind finds, in a stopped server's realm, the first message whose
// subject ends in suffix and that a checkpoint covers.
func msgOfKind(t *testing.T, st *eventstore.Store, suffix string, below uint64) eventstore.RawMsg {
	t.Helper()
	var found eventstore.RawMsg
	_, err := st.Scan(context.Background(), "acme", eventstore.ScanOptions{ToSeq: below}, func(m *eventstore.RawMsg) error {
		if strings.HasSuffix(m.Subject, suffix) && (suffix != "token.issued" || bytes.Count(m.Data, []byte{'\n'}) > 0) {
			found = *m
			found.Data = bytes.Clone(m.Data)
			return eventstore.ErrStopScan
		}
		return nil
	})
	if err != nil || found.Seq == 0 {
		t.Fatalf("no message on *%s below seq %d (%v)", suffix, below, err)
	}
	return found
}

func requireFirstTampered(t *testing.T, rep *realms.VerifyReport, seq uint64, kinds ...string) {
	t.Helper()
	f, ok := rep.Tampered()
	if !ok {
		t.Fatalf("verify found no tampering; want seq %d:\n%s", seq, findingsText(rep))
	}
	if f.Seq != seq || !strings.Contains(strings.Join(kinds, ","), f.Kind) {
		t.Fatalf("first tampering at seq %d (%s), want seq %d (%v):\n%s", f.Seq, f.Kind, seq, kinds, findingsText(rep))
	}
}

func TestVerifyNamesTheExactSequence(t *testing.T) {
	base := t.TempDir()
	covered, _ := cleanHistory(t, base)

	cases := []struct {
		name   string
		suffix string // which message to tamper with
		tamper func(t *testing.T, dir string, m eventstore.RawMsg)
		kinds  []string
	}{
		{"delete a client event", ".tokens_revoked", deleteMsg(false), []string{domain.FindingRemoved}},
		{"delete a node event", "node.org.created", deleteMsg(false), []string{domain.FindingRemoved}},
		{"secure-delete a group of token events", "token.issued", deleteMsg(true), []string{domain.FindingRemoved}},
		{"delete a revocation rule", ".revocations", deleteMsg(false), []string{domain.FindingRemoved}},
		{"delete a checkpoint", ".checkpoint", deleteMsg(false), []string{domain.FindingRemoved}},
		{"replace an event by a modified copy", ".created", replaceMsg, []string{domain.FindingRemoved}},
		// An edited message loses its MAC as well: foreign, and altered.
		{"edit an event on disk", ".created", editOnDisk, []string{domain.FindingForeign, domain.FindingAltered}},
		{"edit a token group on disk", "token.issued", editOnDisk, []string{domain.FindingForeign, domain.FindingAltered}},
		{"edit a checkpoint on disk", ".checkpoint", editOnDisk, []string{domain.FindingForeign, domain.FindingAltered, domain.FindingSignature}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, base, dir)
			srv := estest.Start(t, dir)
			m := msgOfKind(t, srv.Store, tc.suffix, covered)
			srv.Stop()
			tc.tamper(t, dir, m)
			srv = estest.Start(t, dir)
			rep := verify(t, srv.Store, "acme", time.Now())
			requireFirstTampered(t, rep, m.Seq, tc.kinds...)
		})
	}
}

func deleteMsg(secure bool) func(t *testing.T, dir string, m eventstore.RawMsg) {
	return func(t *testing.T, dir string, m eventstore.RawMsg) {
		srv := estest.Start(t, dir)
		defer srv.Stop()
		ctx := context.Background()
		stream, err := srv.Store.JetStream().Stream(ctx, eventstore.StreamName("acme"))
		if err != nil {
			t.Fatal(err)
		}
		if secure {
			err = stream.SecureDeleteMsg(ctx, m.Seq)
		} else {
			err = stream.DeleteMsg(ctx, m.Seq)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// replaceMsg deletes a message and stores a modified copy at the end.
func replaceMsg(t *testing.T, dir string, m eventstore.RawMsg) {
	deleteMsg(false)(t, dir, m)
	srv := estest.Start(t, dir)
	defer srv.Stop()
	forged := bytes.Replace(m.Data, []byte(`"system"`), []byte(`"user:x"`), 1)
	if _, err := srv.Store.JetStream().Publish(context.Background(), m.Subject, forged); err != nil {
		t.Fatal(err)
	}
}

// editOnDisk changes one byte of the message body in the stopped server's
// block file and recomputes the record's checksum, as someone with access
// to the disk could: the server loads the altered message as valid.
func editOnDisk(t *testing.T, dir string, m eventstore.RawMsg) {
	msgs := filepath.Join(dir, "nats", "jetstream", "$G", "streams", eventstore.StreamName("acme"), "msgs")
	blocks, _ := filepath.Glob(filepath.Join(msgs, "*.blk"))
	for _, path := range blocks {
		var index uint32
		if _, err := fmt.Sscanf(filepath.Base(path), "%d.blk", &index); err != nil {
			continue
		}
		buf, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		le := binary.LittleEndian
		for off := 0; off+22 <= len(buf); {
			rl := le.Uint32(buf[off:])
			hasHeaders := rl&(1<<31) != 0
			rl &^= 1 << 31
			if rl == 0 || off+int(rl) > len(buf) {
				break
			}
			rec := buf[off : off+int(rl)]
			seq := le.Uint64(rec[4:])
			slen := int(le.Uint16(rec[20:]))
			data := rec[22 : len(rec)-8]
			body := data[slen:]
			if hasHeaders {
				hl := int(le.Uint32(body))
				body = body[4+hl:]
			}
			if seq == m.Seq && bytes.Equal(body, m.Data) {
				i := bytes.Index(body, []byte(`"acme"`))
				if i < 0 {
					t.Fatalf("seq %d holds no \"acme\"", seq)
				}
				body[i+1] = 'x' // "acme" → "xcme", same length
				key := sha256.Sum256(fmt.Appendf(nil, "%s-%d", eventstore.StreamName("acme"), index))
				hh, _ := highwayhash.New64(key[:])
				hh.Write(rec[4:20])
				hh.Write(data[:slen])
				if hasHeaders {
					hh.Write(data[slen+4:])
				} else {
					hh.Write(data[slen:])
				}
				copy(rec[len(rec)-8:], hh.Sum(nil))
				if err := os.WriteFile(path, buf, 0o600); err != nil {
					t.Fatal(err)
				}
				// Drop the server's caches of the stream state.
				os.Remove(filepath.Join(msgs, "..", "index.db"))
				return
			}
			off += int(rl)
		}
	}
	t.Fatalf("seq %d not found in %s", m.Seq, msgs)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRetentionIsNotTampering: token messages with a TTL that expire are
// reported as retention; one deleted before its expiry is tampering.
func TestRetentionIsNotTampering(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	ctx := context.Background()
	// Retention far below what serve accepts, to see it happen in a test;
	// a server default, so that the checkpointer's periodic re-reading of
	// the settings keeps it.
	const ttl = 3 * time.Second
	cfg := fastAudit
	cfg.TokenRetention = ttl
	reg := auditRegistry(t, srv, fastAudit)
	reg.SetAuditUnchecked(cfg)
	rl, err := reg.Create(ctx, "acme", sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	c, err := rl.Clients().Create(ctx, "", domain.ClientSettings{Name: "c", Scopes: []string{"read"}}, false, sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	issueTokens(t, rl, c.Client.ID, 10)
	issueTokens(t, rl, c.Client.ID, 10)
	written := time.Now()
	covered := waitCovered(t, srv.Store, "acme")

	// Before expiry: delete one token message.
	var victim eventstore.RawMsg
	_, err = srv.Store.Scan(ctx, "acme", eventstore.ScanOptions{ToSeq: covered}, func(m *eventstore.RawMsg) error {
		if m.TTL > 0 && victim.Seq == 0 {
			victim = *m
		}
		return nil
	})
	if err != nil || victim.Seq == 0 {
		t.Fatalf("no message with a TTL (%v)", err)
	}
	if victim.TTL != ttl {
		t.Fatalf("token message TTL %v, want %v", victim.TTL, ttl)
	}
	stream, _ := srv.Store.JetStream().Stream(ctx, eventstore.StreamName("acme"))
	if err := stream.DeleteMsg(ctx, victim.Seq); err != nil {
		t.Fatal(err)
	}
	rep := verify(t, srv.Store, "acme", time.Now())
	requireFirstTampered(t, rep, victim.Seq, domain.FindingRemoved)

	// After expiry JetStream removes them all: retention, not tampering.
	deadline := written.Add(ttl + 15*time.Second)
	for {
		var withTTL int
		_, err := srv.Store.Scan(ctx, "acme", eventstore.ScanOptions{}, func(m *eventstore.RawMsg) error {
			if m.TTL > 0 {
				withTTL++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if withTTL == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d token messages still stored long after their TTL", withTTL)
		}
		time.Sleep(200 * time.Millisecond)
	}
	rep = verify(t, srv.Store, "acme", time.Now())
	if f, bad := rep.Tampered(); bad {
		t.Fatalf("expired messages reported as tampering (%+v):\n%s", f, findingsText(rep))
	}
	if rep.Retention == 0 {
		t.Fatalf("no message reported as retention:\n%s", findingsText(rep))
	}
	reg.Close()
}

// TestReplicasKeepOneChain: two registries serving the same realm (two
// replicas) both checkpoint; the chain stays linear and verifies.
func TestReplicasKeepOneChain(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	ctx := context.Background()
	a := auditRegistry(t, srv, fastAudit)
	rl, err := a.Create(ctx, "acme", sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	b := auditRegistry(t, srv, fastAudit)
	rlB, err := b.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rl.Clients().Create(ctx, "", domain.ClientSettings{Name: "c", Scopes: []string{"read"}}, false, sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	if err := rlB.WaitFor(ctx, c.Client.Version); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		issueTokens(t, rl, c.Client.ID, 7)
		issueTokens(t, rlB, c.Client.ID, 7)
	}
	waitCovered(t, srv.Store, "acme")
	a.Close()
	b.Close()
	rep := verify(t, srv.Store, "acme", time.Now())
	if len(rep.Findings) != 0 || rep.Checkpoints < 2 {
		t.Fatalf("two replicas: %d checkpoints, findings:\n%s", rep.Checkpoints, findingsText(rep))
	}
}

// TestCheckpointSignatureUsesTheRealmKey: a checkpoint verifies with the
// realm's published ES256 key and no other.
func TestCheckpointSignatureUsesTheRealmKey(t *testing.T) {
	srv, _, rl := acmeRealm(t, fastAudit)
	ctx := context.Background()
	waitCovered(t, srv.Store, "acme")
	m, ok, err := srv.Store.LastMsg(ctx, "acme", realms.CheckpointSubject("acme"))
	if err != nil || !ok {
		t.Fatal(err, ok)
	}
	envs, _ := m.Envelopes()
	p, err := envs[0].Payload()
	if err != nil {
		t.Fatal(err)
	}
	cp := p.(domain.Checkpoint)
	kid, _ := cp.SignerKid()
	active, _ := rl.State().ActiveKey(domain.AlgES256)
	if kid != active.Kid || envs[0].Aggregate != "audit/acme" || envs[0].Actor != eventstore.ActorSystem {
		t.Fatalf("checkpoint kid %s aggregate %s actor %s", kid, envs[0].Aggregate, envs[0].Actor)
	}
	pub, alg, ok := rl.PublicKey(kid, time.Now())
	if !ok || alg != domain.AlgES256 {
		t.Fatal("no public key for the checkpoint's kid")
	}
	if err := cp.VerifySignature(pub.(*ecdsa.PublicKey)); err != nil {
		t.Fatal(err)
	}
	forged := cp
	forged.ToSeq++
	if err := forged.VerifySignature(pub.(*ecdsa.PublicKey)); err != domain.ErrBadSignature {
		t.Fatalf("a changed body verifies: %v", err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := cp.VerifySignature(&other.PublicKey); err != domain.ErrBadSignature {
		t.Fatalf("another key verifies: %v", err)
	}
}

// TestLiveModelsMatchARebuild: the read models a running registry built
// event by event, with reads and writes interleaved, hold exactly what a
// fold of the same history from scratch gives (the digests replay
// --rebuild compares).
func TestLiveModelsMatchARebuild(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	ctx := context.Background()
	reg := auditRegistry(t, srv, fastAudit)
	defer reg.Close()
	clients := history(t, reg)
	rl, err := reg.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	// Users, sessions, consent, and the authorization-code flow.
	if _, err := rl.Structure().CreateNode(ctx, domain.CreateNode{Slug: "team-a", Kind: domain.NodeTeam, Parent: "org"}, sysMeta()); err != nil {
		t.Fatal(err)
	}
	app, err := rl.Clients().Create(ctx, "", domain.ClientSettings{Name: "app", Kind: "user_app", Type: "public",
		GrantTypes: []string{domain.GrantAuthorizationCode, domain.GrantRefreshToken}, IssueRefreshTokens: true,
		RedirectURIs: []string{"https://app.example.test/cb"}, Scopes: []string{"read"}}, false, sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		u, err := rl.Users().Create(ctx, realms.NewUser{UserProfile: domain.UserProfile{Username: fmt.Sprint("user", i), Email: fmt.Sprintf("u%d@example.test", i)},
			Password: "a long enough password", Memberships: []domain.Membership{{Node: "team-a", Role: "viewer"}}}, sysMeta())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := rl.Sessions().Create(ctx, u, realms.BrowserInfo{Device: "d", Browser: "b", IP: "10.0.0.1"}, sysMeta()); err != nil {
			t.Fatal(err)
		}
		if err := rl.Users().GrantConsent(ctx, u.ID, app.Client.ID, domain.Consent{Scopes: []string{"read"}, Teams: []string{"team-a"}}, sysMeta()); err != nil {
			t.Fatal(err)
		}
		verifier := "a-pkce-verifier-that-is-long-enough-0123456789abcdef"
		sum := sha256.Sum256([]byte(verifier))
		code, err := rl.Grants().IssueCode(ctx, domain.CodeIssued{ClientID: app.Client.ID, UserID: u.ID, RedirectURI: "https://app.example.test/cb",
			Scope: "read", Challenge: base64URL(sum[:]), AuthTime: time.Now().Unix(), Teams: []string{"team-a"}}, sysMeta())
		if err != nil {
			t.Fatal(err)
		}
		c := realms.ClientAuth{Method: domain.AuthNone, ClientID: app.Client.ID, PublicAllowed: true}
		set, err := rl.Grants().RedeemCode(ctx, c, code, "https://app.example.test/cb", verifier, "", "", sysMeta())
		if err != nil {
			t.Fatalf("redeem: %v", err)
		}
		if set.Refresh != "" {
			if _, err := rl.Grants().Refresh(ctx, c, set.Refresh, "", "", "", sysMeta()); err != nil {
				t.Fatalf("refresh: %v", err)
			}
		}
		if i == 1 {
			if _, err := rl.Users().SetEnabled(ctx, u.ID, false, sysMeta()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := rl.Clients().RevokeTokens(ctx, clients[0], "again", sysMeta()); err != nil {
		t.Fatal(err)
	}
	// Once a checkpoint covers it all, nothing more is written.
	waitCovered(t, srv.Store, "acme")
	last, err := srv.Store.LastSeq(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}

	fresh := projections.NewModels()
	runner, err := projections.StartRunner(ctx, srv.Store, "acme", slog.New(slog.NewTextHandler(io.Discard, nil)), projections.RunnerOptions{}, fresh.Folds()...)
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Stop()
	if err := runner.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}
	if rl.Applied() != last || runner.Applied() != last {
		t.Fatalf("the stream grew during the comparison (%d, %d, %d)", last, rl.Applied(), runner.Applied())
	}
	// And the same models through a snapshot and back.
	snap, err := fresh.Snapshot(last)
	if err != nil {
		t.Fatal(err)
	}
	restored := projections.NewModels()
	if _, err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	live := []projections.Canonical{rl.Models().Clients, rl.Models().Tokens, rl.Models().Nodes, rl.Models().Users, rl.Models().Authz}
	for name, other := range map[string][]projections.Canonical{
		"rebuilt":  {fresh.Clients, fresh.Tokens, fresh.Nodes, fresh.Users, fresh.Authz},
		"restored": {restored.Clients, restored.Tokens, restored.Nodes, restored.Users, restored.Authz},
	} {
		for i := range live {
			if a, b := projections.DigestOf(live[i]), projections.DigestOf(other[i]); a != b {
				var la, lb bytes.Buffer
				live[i].WriteCanonical(&la)
				other[i].WriteCanonical(&lb)
				t.Errorf("model %T differs:\nlive:\n%s\n%s:\n%s", live[i], la.String(), name, lb.String())
			}
		}
	}
	if a, b := rl.State(), fresh.Realm.State(); fmt.Sprintf("%+v", *a) != fmt.Sprintf("%+v", *b) {
		t.Errorf("realm differs:\n%+v\n%+v", *a, *b)
	}
	if fresh.Users.Digest() == (projections.Digest{}) || fresh.Tokens.Len() == 0 {
		t.Error("the rebuilt models miss history")
	}
}

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestBacklogIsCoveredInPieces: history written while no checkpointer ran
// (checkpoints off, or the service down) is covered on the next start by
// several checkpoints of bounded size, and verifies.
func TestBacklogIsCoveredInPieces(t *testing.T) {
	srv := estest.StartWith(t, eventstore.EmbeddedConfig{DataDir: t.TempDir(), NoSync: true})
	ctx := context.Background()
	off := auditRegistry(t, srv, realms.AuditConfig{CheckpointEvery: -1})
	if _, err := off.Create(ctx, "acme", sysMeta()); err != nil {
		t.Fatal(err)
	}
	off.Close()
	const n = 5000
	for i := range n {
		if _, err := srv.Store.Append(ctx, "acme", domain.ClientRef("c1"), eventstore.AnyVersion, sysMeta(), domain.TokenUsed{JTI: fmt.Sprint("j", i), At: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := srv.Store.LastMsg(ctx, "acme", realms.CheckpointSubject("acme")); ok {
		t.Fatal("a checkpoint was written with checkpoints off")
	}
	on := auditRegistry(t, srv, realms.AuditConfig{CheckpointEvery: 1000, CheckpointInterval: 300 * time.Millisecond})
	defer on.Close()
	waitCovered(t, srv.Store, "acme")
	rep := verify(t, srv.Store, "acme", time.Now())
	if len(rep.Findings) != 0 || rep.Checkpoints < n/1000 {
		t.Fatalf("%d checkpoints over %d messages; findings:\n%s", rep.Checkpoints, rep.Messages, findingsText(rep))
	}
}

// TestDeletingTheLastCheckpointWhileRunning: the running service notices
// that the chain's end moved back, checkpoints again from what is left,
// and verify names the removed checkpoint.
func TestDeletingTheLastCheckpointWhileRunning(t *testing.T) {
	srv, _, rl := acmeRealm(t, fastAudit)
	ctx := context.Background()
	waitCovered(t, srv.Store, "acme")
	last, ok, err := srv.Store.LastMsg(ctx, "acme", realms.CheckpointSubject("acme"))
	if err != nil || !ok {
		t.Fatal(err, ok)
	}
	stream, _ := srv.Store.JetStream().Stream(ctx, eventstore.StreamName("acme"))
	if err := stream.DeleteMsg(ctx, last.Seq); err != nil {
		t.Fatal(err)
	}
	if _, err := rl.Structure().CreateNode(ctx, domain.CreateNode{Slug: "org", Kind: domain.NodeOrganization}, sysMeta()); err != nil {
		t.Fatal(err)
	}
	waitCovered(t, srv.Store, "acme")
	rep := verify(t, srv.Store, "acme", time.Now())
	requireFirstTampered(t, rep, last.Seq, domain.FindingRemoved, domain.FindingUnattested)
}

// typesAfter lists the event types of the messages after seq.
func typesAfter(t *testing.T, st *eventstore.Store, realm string, seq uint64) []string {
	t.Helper()
	envs, err := st.ReadRealm(context.Background(), realm, seq, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range envs {
		out = append(out, e.Type)
	}
	return out
}

// TestAKeyAddedToTheStreamIsNotTrusted: someone who can write to the
// stream adds a signing key of their own and a checkpoint signed with it.
// A key added after the realm's genesis is trusted only once a checkpoint
// signed by an already-trusted key covers the event that added it, so the
// forged checkpoint does not verify.
func TestAKeyAddedToTheStreamIsNotTrusted(t *testing.T) {
	dir := t.TempDir()
	cleanHistory(t, dir)
	srv := estest.Start(t, dir)
	ctx := context.Background()
	prev, err := realms.LastCheckpoint(ctx, srv.Store, "acme")
	if err != nil {
		t.Fatal(err)
	}
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	point, _ := attacker.PublicKey.ECDH()
	raw := point.Bytes()
	jwk := fmt.Sprintf(`{"kty":"EC","crv":"P-256","x":"%s","y":"%s","kid":"attacker","alg":"ES256","use":"sig"}`, base64URL(raw[1:33]), base64URL(raw[33:]))
	if _, err := srv.Store.Append(ctx, "acme", domain.RealmRef("acme"), eventstore.AnyVersion, sysMeta(),
		domain.KeyAdded{Kid: "attacker", Alg: domain.AlgES256, Use: "sig", PublicJWK: []byte(jwk)}); err != nil {
		t.Fatal(err)
	}
	var entries []domain.ChainEntry
	if _, err := srv.Store.Scan(ctx, "acme", eventstore.ScanOptions{FromSeq: prev.ToSeq + 1}, func(m *eventstore.RawMsg) error {
		entries = append(entries, domain.ChainEntry{Seq: m.Seq, Digest: domain.MessageDigest(m.Subject, m.Data)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	body, err := domain.BuildCheckpoint("acme", prev, prev.ToSeq+1, entries, time.Now().Unix())
	if err != nil {
		t.Fatal(err)
	}
	forged, err := domain.SignCheckpoint(body, "attacker", attacker, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	seq, err := srv.Store.Append(ctx, "acme", domain.AuditRef("acme"), prev.Seq, sysMeta(), forged)
	if err != nil {
		t.Fatal(err)
	}
	rep := verify(t, srv.Store, "acme", time.Now())
	if !slices.ContainsFunc(rep.Findings, func(f domain.Finding) bool { return f.Seq == seq && f.Kind == domain.FindingSignature }) {
		t.Fatalf("a checkpoint signed with a key added to the stream verified:\n%s", findingsText(rep))
	}
	if slices.Contains(rep.GenesisKids, "attacker") {
		t.Fatalf("the attacker's key was trusted on first use: %v", rep.GenesisKids)
	}
}

// checkpointsAfter counts the checkpoint messages after seq.
func checkpointsAfter(t *testing.T, st *eventstore.Store, realm string, seq uint64) int {
	t.Helper()
	n := 0
	for _, typ := range typesAfter(t, st, realm, seq) {
		if typ == domain.TypeAuditCheckpoint {
			n++
		}
	}
	return n
}

// TestCheckpointSettingsTakeEffectAndStayBounded: checkpoint_every 1 writes
// one checkpoint per event, not a growing run of checkpoints of
// checkpoints; a negative value turns checkpoints off while the service
// runs, and turning them on again covers what was written meanwhile.
func TestCheckpointSettingsTakeEffectAndStayBounded(t *testing.T) {
	srv, _, rl := acmeRealm(t, fastAudit)
	ctx := context.Background()
	settings := func(every int) {
		t.Helper()
		s := rl.State().Settings
		s.CheckpointEvery = every
		if err := rl.UpdateSettings(ctx, s, sysMeta()); err != nil {
			t.Fatal(err)
		}
	}
	newClient := func(name string) { // one event: no scope or node to reference
		t.Helper()
		if _, err := rl.Clients().Create(ctx, "", domain.ClientSettings{Name: name}, false, sysMeta()); err != nil {
			t.Fatal(err)
		}
	}

	// Counting starts once the history written before is covered (with
	// every 1, a backlog is covered one message per checkpoint).
	settings(1)
	waitCovered(t, srv.Store, "acme")
	last, err := realms.LastCheckpoint(ctx, srv.Store, "acme")
	if err != nil {
		t.Fatal(err)
	}
	start := last.Seq
	const events = 6
	for i := range events {
		newClient(fmt.Sprint("every-1-", i))
		waitCovered(t, srv.Store, "acme")
	}
	time.Sleep(300 * time.Millisecond) // a run of checkpoints of checkpoints would go on here
	if n := checkpointsAfter(t, srv.Store, "acme", start); n > events+1 {
		t.Errorf("checkpoint_every 1: %d checkpoints for %d events, want about one each: %v", n, events, typesAfter(t, srv.Store, "acme", start))
	}

	settings(-1)
	off, err := srv.Store.LastSeq(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a checkpoint of the settings change itself may still come
	for i := range 3 {
		newClient(fmt.Sprint("off-", i))
	}
	time.Sleep(500 * time.Millisecond) // five checkpoint intervals
	if ref, err := realms.LastCheckpoint(ctx, srv.Store, "acme"); err != nil || ref.ToSeq > off {
		t.Fatalf("checkpoints off, yet a checkpoint covers up to seq %d (settings changed at %d): %v", ref.ToSeq, off, err)
	}

	settings(8)
	waitCovered(t, srv.Store, "acme")
	if rep := verify(t, srv.Store, "acme", time.Now()); len(rep.Findings) != 0 {
		t.Fatalf("after checkpoints off and on again, verify found:\n%s", findingsText(rep))
	}
}

// TestCheckpointsCannotBeTurnedOffUnderServerRetention: a realm's settings
// are checked over the server's defaults. With token events kept 25 h by
// the server, turning the realm's checkpoints off would let them expire
// unattested (read later as tampering): refused, and nothing written.
func TestCheckpointsCannotBeTurnedOffUnderServerRetention(t *testing.T) {
	_, _, rl := acmeRealm(t, realms.AuditConfig{CheckpointEvery: 8, CheckpointInterval: 100 * time.Millisecond, TokenRetention: 25 * time.Hour})
	ctx := context.Background()
	before := rl.State().Version
	err := rl.UpdateSettings(ctx, domain.RealmSettings{CheckpointEvery: -1}, sysMeta())
	var verr *domain.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("checkpoints off under the server's token retention: err = %v, want a ValidationError", err)
	}
	if rl.State().Version != before || rl.State().Settings.CheckpointEvery != 0 {
		t.Fatalf("a refused settings change was written: %+v", rl.State().Settings)
	}
	// With retention turned off for the realm as well, it is accepted.
	if err := rl.UpdateSettings(ctx, domain.RealmSettings{CheckpointEvery: -1, TokenRetention: -1}, sysMeta()); err != nil {
		t.Fatalf("checkpoints and retention both off: %v", err)
	}
}
