package eventstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

func scanAll(t testing.TB, st *eventstore.Store, realm string, opts eventstore.ScanOptions) []eventstore.RawMsg {
	t.Helper()
	var out []eventstore.RawMsg
	_, err := st.Scan(context.Background(), realm, opts, func(m *eventstore.RawMsg) error {
		c := *m
		c.Data = bytes.Clone(m.Data)
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestScanReadsEveryMessageAsStored(t *testing.T) {
	ts := startTestServer(t, t.TempDir())
	ctx := context.Background()
	newRealm(t, ts.Store, "acme")
	client := domain.ClientRef(uuid.NewString())
	if _, err := ts.Store.Append(ctx, "acme", domain.RealmRef("acme"), 0, testMeta(), domain.RealmCreated{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Store.Append(ctx, "acme", client, 0, testMeta(), domain.ClientCreated{ClientID: client.ID, ClientSettings: domain.ClientSettings{Name: "c"}}); err != nil {
		t.Fatal(err)
	}
	// A group-committed message: several token events in one body.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := ts.Store.AppendToken(ctx, "acme", client, testMeta(), domain.TokenIssued{JTI: uuid.NewString()}, eventstore.Requirement{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	if _, err := ts.Store.AppendRevocation(ctx, "acme", client, eventstore.AnyVersion, testMeta(),
		domain.ClientTokensRevoked{IssuedBefore: 1}, unsignedRule(domain.RevocationRule{ClientID: client.ID, IssuedBefore: 1, ForgetAfter: 2})); err != nil {
		t.Fatal(err)
	}
	// A message with a TTL: token events under a retention setting.
	ts.Store.SetTokenRetention("acme", time.Hour)
	if _, err := ts.Store.AppendToken(ctx, "acme", client, testMeta(), domain.TokenIssued{JTI: "x"}, eventstore.Requirement{}); err != nil {
		t.Fatal(err)
	}

	all := scanAll(t, ts.Store, "acme", eventstore.ScanOptions{})
	_, last, n, err := ts.Store.StreamBounds(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(all)) != n || all[len(all)-1].Seq != last {
		t.Fatalf("scan read %d messages up to seq %d; stream holds %d up to %d", len(all), all[len(all)-1].Seq, n, last)
	}
	events, rules := 0, 0
	for i, m := range all {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d", i, m.Seq)
		}
		if m.Time.IsZero() || time.Since(m.Time) > time.Minute {
			t.Errorf("seq %d: stored time %v", m.Seq, m.Time)
		}
		if !m.Authenticated || m.Foreign {
			t.Errorf("seq %d on %s: authenticated %v, foreign %v; every message the store appends carries a valid MAC", m.Seq, m.Subject, m.Authenticated, m.Foreign)
		}
		if m.NoEvents() {
			rules++
			continue
		}
		envs, err := m.Envelopes()
		if err != nil {
			t.Fatalf("seq %d: %v", m.Seq, err)
		}
		events += len(envs)
	}
	if rules != 1 || events != 2+20+1+1 {
		t.Fatalf("read %d events and %d rules, want 24 and 1", events, rules)
	}
	if ttl := all[len(all)-1].TTL; ttl != time.Hour {
		t.Errorf("TTL of the last message = %v, want 1h", ttl)
	}
	if all[0].TTL != 0 {
		t.Errorf("TTL of an ordinary message = %v", all[0].TTL)
	}

	// The raw body is what ReadRealm decodes.
	envs, err := ts.Store.ReadRealm(ctx, "acme", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var first eventstore.Envelope
	if err := json.Unmarshal(all[0].Data, &first); err != nil || first.ID != envs[0].ID {
		t.Fatalf("raw body %s does not hold event %s", all[0].Data, envs[0].ID)
	}

	from := scanAll(t, ts.Store, "acme", eventstore.ScanOptions{FromSeq: 3, ToSeq: 4})
	if len(from) != 2 || from[0].Seq != 3 || from[1].Seq != 4 {
		t.Fatalf("FromSeq 3 ToSeq 4 read %d messages", len(from))
	}
	since := scanAll(t, ts.Store, "acme", eventstore.ScanOptions{Since: mid})
	if len(since) == 0 || !since[0].NoEvents() && since[0].Time.Before(mid) {
		t.Fatalf("Since read %d messages, first %+v", len(since), since)
	}
	for _, m := range since {
		if m.Time.Before(mid) {
			t.Errorf("Since %v read seq %d stored at %v", mid, m.Seq, m.Time)
		}
	}
	if got := scanAll(t, ts.Store, "acme", eventstore.ScanOptions{FromSeq: last + 1}); len(got) != 0 {
		t.Fatalf("a scan past the end read %d messages", len(got))
	}

	// A deleted message is skipped; the scan still ends.
	stream, _ := ts.Store.JetStream().Stream(ctx, eventstore.StreamName("acme"))
	if err := stream.DeleteMsg(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := stream.DeleteMsg(ctx, last); err != nil {
		t.Fatal(err)
	}
	after := scanAll(t, ts.Store, "acme", eventstore.ScanOptions{})
	if len(after) != len(all)-2 || after[1].Seq != 3 {
		t.Fatalf("after deleting seqs 2 and %d: %d messages, second seq %d", last, len(after), after[1].Seq)
	}

	// The last message on a subject, by direct get.
	lm, ok, err := ts.Store.LastMsg(ctx, "acme", eventstore.RevocationsSubject("acme"))
	if err != nil || !ok || !lm.NoEvents() {
		t.Fatalf("LastMsg = %+v %v %v", lm, ok, err)
	}
	if _, ok, err := ts.Store.LastMsg(ctx, "acme", "lk.acme.nothing.here"); ok || err != nil {
		t.Fatalf("LastMsg of an empty subject = %v %v", ok, err)
	}
	if _, err := ts.Store.Scan(ctx, "nope", eventstore.ScanOptions{}, func(*eventstore.RawMsg) error { return nil }); err != eventstore.ErrNoRealm {
		t.Fatalf("scan of a missing realm: %v", err)
	}
}

func TestTailRawFollowsTheStream(t *testing.T) {
	ts := startTestServer(t, t.TempDir())
	ctx := context.Background()
	newRealm(t, ts.Store, "acme")
	for range 3 {
		if _, err := ts.Store.Append(ctx, "acme", domain.NodeRef("n"), eventstore.AnyVersion, testMeta(), domain.NodeRenamed{Name: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan uint64, 10)
	sub, err := ts.Store.TailRaw(ctx, "acme", 2, func(m *eventstore.RawMsg) { got <- m.Seq }, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	if _, err := ts.Store.Append(ctx, "acme", domain.NodeRef("n"), eventstore.AnyVersion, testMeta(), domain.NodeRenamed{Name: "y"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []uint64{2, 3, 4} {
		select {
		case seq := <-got:
			if seq != want {
				t.Fatalf("tail delivered seq %d, want %d", seq, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("tail did not deliver seq %d", want)
		}
	}
}

// BenchmarkScan reads a realm of one-event messages as raw bytes. The
// stream is filled once with async publishes on a server without fsync.
func BenchmarkScan(b *testing.B) {
	const n = 200_000
	ns, err := eventstore.StartEmbedded(eventstore.EmbeddedConfig{DataDir: b.TempDir(), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := eventstore.ConnectInProcess(ns)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	st, err := eventstore.New(nc, eventstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := st.EnsureRealmStream(ctx, "acme"); err != nil {
		b.Fatal(err)
	}
	client := uuid.NewString()
	subject := "lk.acme.client." + client + ".token.issued"
	js := st.JetStream()
	for i := range n {
		env := eventstore.Envelope{ID: uuid.NewString(), Type: domain.TypeTokenIssued, Realm: "acme", Aggregate: "client/" + client,
			Time: time.Unix(1_800_000_000+int64(i), 0).UTC(), Actor: "client:" + client, ClientID: client, RequestID: uuid.NewString(), IP: "127.0.0.1"}
		env.Data, _ = json.Marshal(domain.TokenIssued{JTI: uuid.NewString(), Hash: "0123456789abcdefghijkl", Subject: client, Scope: "read write", GrantType: "client_credentials", Kid: "kid", IssuedAt: 1_800_000_000, ExpiresAt: 1_800_003_600})
		body, _ := json.Marshal(env)
		if _, err := js.PublishAsync(subject, body); err != nil {
			b.Fatal(err)
		}
		if i%10_000 == 9_999 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	b.ResetTimer()
	var bytesRead uint64
	for b.Loop() {
		stats, err := st.Scan(ctx, "acme", eventstore.ScanOptions{}, func(m *eventstore.RawMsg) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		if stats.Messages != n {
			b.Fatalf("read %d messages, want %d", stats.Messages, n)
		}
		bytesRead += stats.Bytes
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// referenceDecode is DecodeMessage done with encoding/json, the reference
// the faster decoder must agree with.
func referenceDecode(data []byte, seq uint64) ([]eventstore.Envelope, error) {
	var out []eventstore.Envelope
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		var e eventstore.Envelope
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, err
		}
		e.Seq = seq
		out = append(out, e)
	}
	return out, nil
}

// DecodeMessage gives exactly encoding/json's result on any input.
func FuzzDecodeMessage(f *testing.F) {
	env := eventstore.Envelope{ID: uuid.NewString(), Type: domain.TypeTokenIssued, Realm: "acme", Aggregate: "client/c1",
		Time: time.Unix(1_800_000_000, 123456789).UTC(), Actor: "client:c1", OnBehalfOf: "user:u", ClientID: "c1", RequestID: "r", IP: "::1",
		Data: json.RawMessage(`{"jti":"j","hash":"h","sub":"s\u00e9","nodes":["a","b"],"iat":1,"exp":2}`)}
	one, _ := json.Marshal(env)
	env.OnBehalfOf, env.Data = "", json.RawMessage(`{"name":"Zürich \"q\" \\ x","n":null,"f":1.5e3,"t":true}`)
	two, _ := json.Marshal(env)
	for _, seed := range []string{
		string(one), string(one) + "\n" + string(two), string(two),
		`{}`, ` { "id" : "x" , "data" : [ 1 , 2 ] } `, `{"ID":"upper"}`, `{"id":"a\u0041"}`, `{"id":"é"}`,
		`{"id":"x","id":"y"}`, `{"data":null}`, `{"data":{"a":"}"}}`, `{"data":"str","seq":12}`, `{"seq":012}`,
		`{"time":"2026-01-02T03:04:05Z"}`, `{"time":"2026-01-02 03:04:05"}`, `{"id":1}`, `{"other":1}`,
		`{"data":{"a":1}`, `{"id":"x"} trailing`, `{"data":tru}`, `{"data":{"a":[}}`, "{\"id\":\"\xff\"}", `{"data":{}}{}`,
		`[]`, ``, `{"id":"x",}`, `{"data":1 2}`, `{"ip":"a\tb"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := referenceDecode(data, 7)
		got, gerr := eventstore.DecodeMessage(data, 7)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: encoding/json error %v, DecodeMessage %v", data, werr, gerr)
		}
		if werr != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d envelopes, want %d", data, len(got), len(want))
		}
		for i := range want {
			w, g := want[i], got[i]
			if !w.Time.Equal(g.Time) || w.Time.Location().String() != g.Time.Location().String() {
				t.Fatalf("%q: time %v, want %v", data, g.Time, w.Time)
			}
			w.Time, g.Time = time.Time{}, time.Time{}
			if fmt.Sprintf("%#v", w) != fmt.Sprintf("%#v", g) {
				t.Fatalf("%q:\nfast %#v\nwant %#v", data, g, w)
			}
		}
	})
}

// Envelope.Payload gives exactly encoding/json's result for token.issued.
func FuzzTokenPayload(f *testing.F) {
	body, _ := json.Marshal(domain.TokenIssued{JTI: uuid.NewString(), Hash: "h", Subject: "s", Scope: "read write", GrantType: "client_credentials",
		Kid: "k", Nodes: []string{"a", "b"}, Preset: "full", IssuedAt: 1_800_000_000, ExpiresAt: 1_800_003_600})
	for _, seed := range []string{string(body), `{}`, `{"nodes":[]}`, `{"nodes":null}`, `{"iat":-5}`, `{"iat":1.0}`, `{"iat":1e3}`,
		`{"iat":01}`, `{"iat":99999999999999999999}`, `{"JTI":"x"}`, `{"jti":"\u0041"}`, `{"jti":1}`, `{"x":1}`, `{"nodes":["a",1]}`,
		`{"jti":"a","jti":"b"}`, `{"nodes":["a"],"nodes":["b"]}`, `{"exp":-0}`, ` { "sub" : "é" } `, `{"iat":1}x`, `[]`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e := eventstore.Envelope{Type: domain.TypeTokenIssued, Data: data}
		want, werr := domain.DecodePayload(e.Type, e.Data)
		got, gerr := e.Payload()
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: encoding/json error %v, Payload %v", data, werr, gerr)
		}
		if fmt.Sprintf("%#v", want) != fmt.Sprintf("%#v", got) {
			t.Fatalf("%q:\nfast %#v\nwant %#v", data, got, want)
		}
	})
}

// unsignedRule is a revocation rule as published, without the signature
// the realm adds: the store checks none (resource servers do).
func unsignedRule(r domain.RevocationRule) domain.SignedRule {
	body, _ := json.Marshal(r)
	return domain.SignedRule{Rule: r, Body: body}
}
