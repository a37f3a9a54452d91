package eventstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
)

// forge publishes a message straight to JetStream, as anyone with publish
// rights on the stream could, with the headers given.
func forge(t *testing.T, st *eventstore.Store, subject string, body []byte, header nats.Header) uint64 {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = body
	for k, v := range header {
		m.Header[k] = v
	}
	ack, err := st.JetStream().PublishMsg(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// forgedClient is a client.created event as an attacker would write it:
// well-formed, for a client of their own.
func forgedClient(t *testing.T, realm, id string) []byte {
	t.Helper()
	return fmt.Appendf(nil, `{"id":%q,"type":"client.created","realm":%q,"aggregate":"client/%s","time":%q,"actor":"system","client_id":"","request_id":"","ip":"","data":{"client_id":%q,"name":"evil","secret_hash":"00"}}`,
		uuid.NewString(), realm, id, time.Now().UTC().Format(time.RFC3339Nano), id)
}

// A message without a valid MAC is foreign on every read path: scans,
// tails, ranges, pages, aggregate histories, live subscriptions and
// last-message lookups mark it or leave it out, never decode it as an
// event, and report it once, by subject and sequence.
func TestForeignMessagesAreNeverEvents(t *testing.T) {
	ts := estest.Start(t, t.TempDir())
	ctx := context.Background()
	newRealm(t, ts.Store, "acme")
	real := domain.ClientRef(uuid.NewString())
	if _, err := ts.Store.Append(ctx, "acme", real, 0, testMeta(), domain.ClientCreated{ClientID: real.ID, ClientSettings: domain.ClientSettings{Name: "real"}}); err != nil {
		t.Fatal(err)
	}
	last, ok, err := ts.Store.LastMsg(ctx, "acme", eventstore.Subject("acme", real, domain.TypeClientCreated))
	if err != nil || !ok || !last.Authenticated {
		t.Fatalf("the store's own message: %+v %v %v", last, ok, err)
	}

	evil := domain.ClientRef(uuid.NewString())
	evilSubject := eventstore.Subject("acme", evil, domain.TypeClientCreated)
	noMAC := forge(t, ts.Store, evilSubject, forgedClient(t, "acme", evil.ID), nil)
	// A MAC copied from a real message does not cover another body.
	stolen, _ := ts.Store.JetStream().Stream(ctx, eventstore.StreamName("acme"))
	realMsg, err := stolen.GetMsg(ctx, last.Seq)
	if err != nil {
		t.Fatal(err)
	}
	badMAC := forge(t, ts.Store, evilSubject, forgedClient(t, "acme", evil.ID), nats.Header{"Lk-Mac": realMsg.Header.Values("Lk-Mac")})
	// Nor the same body on another subject.
	moved := forge(t, ts.Store, eventstore.Subject("acme", domain.ClientRef(uuid.NewString()), domain.TypeClientCreated), realMsg.Data, nats.Header{"Lk-Mac": realMsg.Header.Values("Lk-Mac")})
	rule := forge(t, ts.Store, eventstore.RevocationsSubject("acme"), []byte(`{"client_id":"x","issued_before":9999999999,"forget_after":9999999999}`), nil)
	foreign := []uint64{noMAC, badMAC, moved, rule}
	if _, err := ts.Store.Append(ctx, "acme", real, last.Seq, testMeta(), domain.ClientDeleted{}); err != nil {
		t.Fatal(err)
	}

	// Scan, ReadRange and TailRaw mark them; their envelopes are none.
	var marked []uint64
	_, err = ts.Store.Scan(ctx, "acme", eventstore.ScanOptions{}, func(m *eventstore.RawMsg) error {
		envs, err := m.Envelopes()
		switch {
		case m.Foreign && (m.Authenticated || len(envs) != 0 || err != nil):
			t.Errorf("foreign seq %d: authenticated %v, %d envelopes, %v", m.Seq, m.Authenticated, len(envs), err)
		case m.Foreign:
			marked = append(marked, m.Seq)
		case !m.Authenticated:
			t.Errorf("seq %d is neither authenticated nor foreign", m.Seq)
		}
		return nil
	})
	if err != nil || !slices.Equal(marked, foreign) {
		t.Fatalf("Scan marked %v as foreign (%v), want %v", marked, err, foreign)
	}
	window, err := ts.Store.ReadRange(ctx, "acme", 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	marked = nil
	for _, m := range window {
		if m.Foreign {
			marked = append(marked, m.Seq)
		}
	}
	if !slices.Equal(marked, foreign) {
		t.Fatalf("ReadRange marked %v, want %v", marked, foreign)
	}
	tailed := make(chan eventstore.RawMsg, 16)
	tail, err := ts.Store.TailRaw(ctx, "acme", noMAC, func(m *eventstore.RawMsg) { tailed <- *m }, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	if m := <-tailed; m.Seq != noMAC || !m.Foreign {
		t.Fatalf("TailRaw delivered seq %d, foreign %v", m.Seq, m.Foreign)
	}
	tail.Stop()
	if m, ok, err := ts.Store.LastMsg(ctx, "acme", evilSubject); err != nil || !ok || !m.Foreign || m.Seq != badMAC {
		t.Fatalf("LastMsg of the forged subject: seq %d foreign %v (%v %v)", m.Seq, m.Foreign, ok, err)
	}

	// Event readers leave them out.
	page, err := ts.Store.ReadRealm(ctx, "acme", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page {
		if slices.Contains(foreign, e.Seq) {
			t.Errorf("ReadRealm returned foreign seq %d as event %s", e.Seq, e.Type)
		}
	}
	if len(page) != 2 {
		t.Errorf("ReadRealm returned %d events, want the 2 the store wrote", len(page))
	}
	// A page that starts at foreign messages reaches past them: they do
	// not count against its limit.
	if next, err := ts.Store.ReadRealm(ctx, "acme", last.Seq, 1); err != nil || len(next) != 1 || next[0].Type != domain.TypeClientDeleted {
		t.Errorf("a one-message page after the real client: %+v, %v; want its client.deleted", next, err)
	}
	if history, err := ts.Store.ReadAggregate(ctx, "acme", evil); err != nil || len(history) != 0 {
		t.Errorf("the forged client's history: %d events, %v", len(history), err)
	}
	got := make(chan []eventstore.Envelope, 16)
	sub, err := ts.Store.Subscribe(ctx, "acme", 1, func(_ uint64, envs []eventstore.Envelope) { got <- envs }, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	_, lastSeq, _, err := ts.Store.StreamBounds(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	events := 0
	for range lastSeq {
		events += len(<-got)
	}
	sub.Stop()
	if events != 2 {
		t.Errorf("Subscribe delivered %d events, want 2", events)
	}

	// Each was reported once, by where it is.
	reported := map[uint64]eventstore.ForeignMessage{}
	for _, f := range ts.Foreign() {
		if _, twice := reported[f.Seq]; twice {
			t.Errorf("seq %d reported twice", f.Seq)
		}
		reported[f.Seq] = f
	}
	want := map[uint64]string{noMAC: "no MAC", badMAC: "bad MAC", moved: "bad MAC", rule: "no MAC"}
	for seq, reason := range want {
		f, ok := reported[seq]
		if !ok || f.Realm != "acme" || f.Reason != reason || f.Subject == "" {
			t.Errorf("seq %d reported as %+v, want reason %q", seq, f, reason)
		}
	}
	if len(reported) != len(want) {
		t.Errorf("reported %v, want seqs %v", reported, foreign)
	}
}

// A store without the key (another master key) finds nothing of a realm's
// history authentic.
func TestAnotherKeyAuthenticatesNothing(t *testing.T) {
	ts := estest.Start(t, t.TempDir())
	ctx := context.Background()
	newRealm(t, ts.Store, "acme")
	if _, err := ts.Store.Append(ctx, "acme", domain.RealmRef("acme"), 0, testMeta(), domain.RealmCreated{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	var reports []eventstore.ForeignMessage
	other, err := eventstore.New(ts.NC, eventstore.Options{EventKey: []byte("not the key"), OnForeign: func(f eventstore.ForeignMessage) { reports = append(reports, f) }})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if envs, err := other.ReadRealm(ctx, "acme", 0, 10); err != nil || len(envs) != 0 {
		t.Fatalf("ReadRealm with another key: %d events, %v", len(envs), err)
	}
	// The boundary itself does not verify: reported, and read as 1.
	if from, recorded, err := other.MACBoundary(ctx, "acme"); err != nil || !recorded || from != 1 {
		t.Fatalf("MACBoundary with another key = %d %v %v, want 1 true", from, recorded, err)
	}
	if len(reports) != 2 || reports[0].Seq != 0 || reports[1].Seq != 1 {
		t.Fatalf("reports %+v, want the boundary's, then seq 1's", reports)
	}
}

// A stream written before MACs existed keeps working: until a server
// records its boundary, every message without a MAC is legacy; the
// boundary goes after its last message, and anything written without a
// MAC after it is foreign. A boundary removed from an upgraded stream is
// found again at its first authenticated message, not moved past a
// forgery; one changed without the key does not verify.
func TestStreamsWrittenBeforeMACs(t *testing.T) {
	ts := estest.Start(t, t.TempDir())
	ctx := context.Background()
	// What an earlier version wrote: no MAC, no boundary.
	old, err := eventstore.New(ts.NC, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	newRealm(t, old, "acme")
	for i := range 3 {
		if _, err := old.Append(ctx, "acme", domain.RealmRef("acme"), eventstore.AnyVersion, testMeta(), domain.ScopeDefined{Name: fmt.Sprint("s", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if from, recorded, err := ts.Store.MACBoundary(ctx, "acme"); err != nil || recorded {
		t.Fatalf("boundary of a stream written before MACs: %d %v %v", from, recorded, err)
	}
	legacy := func(st *eventstore.Store, want int) {
		t.Helper()
		envs, err := st.ReadRealm(ctx, "acme", 0, 100)
		if err != nil || len(envs) != want {
			t.Fatalf("ReadRealm: %d events (%v), want %d", len(envs), err, want)
		}
	}
	legacy(ts.Store, 3)

	upgraded, err := ts.Store.RequireMACs(ctx)
	if err != nil || len(upgraded) != 1 || upgraded["acme"] != 4 {
		t.Fatalf("RequireMACs = %v, %v; want acme from seq 4", upgraded, err)
	}
	if again, err := ts.Store.RequireMACs(ctx); err != nil || len(again) != 0 {
		t.Fatalf("RequireMACs again = %v, %v; want nothing to record", again, err)
	}
	if _, err := ts.Store.Append(ctx, "acme", domain.RealmRef("acme"), eventstore.AnyVersion, testMeta(), domain.ScopeDefined{Name: "after"}); err != nil {
		t.Fatal(err)
	}
	forged := forge(t, ts.Store, "lk.acme.realm.acme.scope_defined", []byte(`{"type":"scope.defined","data":{"name":"forged"}}`), nil)
	legacy(ts.Store, 4)
	if fs := ts.Foreign(); len(fs) != 1 || fs[0].Seq != forged {
		t.Fatalf("foreign reported: %+v, want seq %d", fs, forged)
	}

	// A fresh store reads the recorded boundary.
	fresh := func() *eventstore.Store {
		st, err := eventstore.New(ts.NC, eventstore.Options{EventKey: estest.EventKey})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		return st
	}
	if from, recorded, err := fresh().MACBoundary(ctx, "acme"); err != nil || !recorded || from != 4 {
		t.Fatalf("recorded boundary = %d %v %v, want 4", from, recorded, err)
	}

	// Removed: found again at the first authenticated message (seq 4),
	// so the forgery after it stays foreign.
	setBoundary := func(v string) {
		t.Helper()
		stream, err := ts.Store.JetStream().Stream(ctx, eventstore.StreamName("acme"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := stream.CachedInfo().Config
		if v == "" {
			delete(cfg.Metadata, "latchkey_mac_boundary")
		} else {
			cfg.Metadata["latchkey_mac_boundary"] = v
		}
		if _, err := ts.Store.JetStream().UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	setBoundary("")
	st := fresh()
	if upgraded, err := st.RequireMACs(ctx); err != nil || upgraded["acme"] != 4 {
		t.Fatalf("RequireMACs after the boundary was removed = %v, %v; want acme from seq 4 again", upgraded, err)
	}
	legacy(st, 4)

	// Changed without the key: it does not verify, so no message without
	// a MAC is legacy any more.
	setBoundary("99.AAAA")
	legacy(fresh(), 1)
}

// A rule message carries its signature beside the MAC; a rule published
// without one carries none.
func TestRulesCarryTheirSignature(t *testing.T) {
	ts := estest.Start(t, t.TempDir())
	ctx := context.Background()
	newRealm(t, ts.Store, "acme")
	rule := domain.SignedRule{Body: []byte(`{"jti":"j","forget_after":1}`), JWS: "header..signature"}
	if _, err := ts.Store.AppendRevocation(ctx, "acme", domain.ClientRef("c1"), eventstore.AnyVersion, testMeta(), domain.TokenRevoked{JTI: "j"}, rule); err != nil {
		t.Fatal(err)
	}
	stream, _ := ts.Store.JetStream().Stream(ctx, eventstore.StreamName("acme"))
	m, err := stream.GetLastMsgForSubject(ctx, eventstore.RevocationsSubject("acme"))
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != string(rule.Body) || m.Header.Get(domain.RuleJWSHeader) != rule.JWS || m.Header.Get("Lk-Mac") == "" {
		t.Fatalf("rule message %s with headers %v", m.Data, m.Header)
	}
}
