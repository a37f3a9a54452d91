package projections_test

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
)

var t0 = time.Unix(1_800_000_000, 0)

func tokenEvent(seq uint64, client, jti string, at time.Time, lifetime int64) projections.Event {
	return projections.Event{
		Envelope: eventstore.Envelope{Seq: seq, Type: domain.TypeTokenIssued, Aggregate: "client/" + client, ClientID: client, Time: at},
		Payload: domain.TokenIssued{
			JTI: jti, Hash: domain.TokenHash(jti), Subject: client, Scope: "read",
			IssuedAt: at.Unix(), ExpiresAt: at.Unix() + lifetime,
		},
	}
}

func TestTokenStatusFollowsRevocationAndExpiry(t *testing.T) {
	m := projections.NewTokens()
	a, b := uuid.NewString(), uuid.NewString()
	m.Apply(tokenEvent(1, "c1", a, t0, 3600))
	m.Apply(tokenEvent(2, "c1", b, t0, 3600))
	now := t0.Unix() + 10

	if info, ok := m.Lookup(a, domain.TokenHash(a), now); !ok || info.Status != domain.StatusActive || info.ClientID != "c1" {
		t.Fatalf("fresh token: %+v %v", info, ok)
	}
	if _, ok := m.Lookup(a, domain.TokenHash("forged"), now); ok {
		t.Fatal("a token with the right jti but other bytes was found")
	}
	m.Apply(projections.Event{Envelope: eventstore.Envelope{Seq: 3, Aggregate: "client/c1", Time: t0}, Payload: domain.TokenRevoked{JTI: a}})
	if info, _ := m.ByJTI(a, now); info.Status != domain.StatusRevoked {
		t.Fatalf("revoked token status %s", info.Status)
	}
	if info, _ := m.ByJTI(b, now); info.Status != domain.StatusActive {
		t.Fatalf("other token status %s", info.Status)
	}
	// Revoke-all covers tokens issued before the cut-off, not later ones.
	m.Apply(projections.Event{Envelope: eventstore.Envelope{Seq: 4, Aggregate: "client/c1", Time: t0}, Payload: domain.ClientTokensRevoked{IssuedBefore: t0.Unix() + 1}})
	later := uuid.NewString()
	m.Apply(tokenEvent(5, "c1", later, t0.Add(2*time.Second), 3600))
	if info, _ := m.ByJTI(b, now); info.Status != domain.StatusRevoked {
		t.Fatalf("token before revoke-all: %s", info.Status)
	}
	if info, _ := m.ByJTI(later, now); info.Status != domain.StatusActive {
		t.Fatalf("token after revoke-all: %s", info.Status)
	}
	if info, _ := m.ByJTI(later, t0.Unix()+2+3600); info.Status != domain.StatusExpired {
		t.Fatalf("token past exp: %s", info.Status)
	}
}

func TestExpiredTokensLeaveTheModel(t *testing.T) {
	m := projections.NewTokens()
	for i := range 100 {
		m.Apply(tokenEvent(uint64(i+1), "c1", uuid.NewString(), t0, 60))
	}
	// An event well after their expiry sweeps them out.
	m.Apply(tokenEvent(101, "c1", uuid.NewString(), t0.Add(time.Hour), 60))
	if n := m.Len(); n != 1 {
		t.Fatalf("%d tokens left, want 1", n)
	}
}

func TestSessionsPageByClientWithStableCursor(t *testing.T) {
	m := projections.NewTokens()
	var want []string
	for range 7 {
		for _, c := range []string{"c1", "c2"} {
			jti := uuid.NewString()
			m.Apply(tokenEvent(uint64(len(want)+1), c, jti, t0, 3600))
			want = append(want, c+"/"+jti)
		}
	}
	// Grouped by client: all of c1's, then all of c2's, in issue order.
	var grouped []string
	for _, c := range []string{"c1", "c2"} {
		for _, w := range want {
			if w[:2] == c {
				grouped = append(grouped, w)
			}
		}
	}
	var got []string
	var cur *projections.Cursor
	for page := 0; ; page++ {
		items, next := m.Sessions(projections.SessionFilter{}, cur, 3, t0.Unix())
		for _, it := range items {
			got = append(got, it.ClientID+"/"+it.JTI)
		}
		if next == nil {
			break
		}
		cur = next
		if page > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(grouped) {
		t.Fatalf("pages:\n%v\nwant\n%v", got, grouped)
	}
	items, _ := m.Sessions(projections.SessionFilter{ClientID: "c2", Status: domain.StatusActive}, nil, 100, t0.Unix())
	if len(items) != 7 {
		t.Fatalf("c2 filter: %d items", len(items))
	}
}

// BenchmarkTokensMemory reports the heap held per active token in the model.
func BenchmarkTokensMemory(b *testing.B) {
	const n = 200_000
	jtis := make([]string, n)
	for i := range jtis {
		jtis[i] = uuid.NewString()
	}
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m := projections.NewTokens()
		for i, jti := range jtis {
			m.Apply(tokenEvent(uint64(i+1), fmt.Sprint("client-", i%50), jti, t0, 3600))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/token")
		runtime.KeepAlive(m)
	}
}

// BenchmarkSnapshotRestore measures what a restart costs with snapshots:
// restoring read models that hold 1 M active tokens (the realm's history
// length no longer matters, only the size of its live state).
func BenchmarkSnapshotRestore(b *testing.B) {
	const n = 1_000_000
	m := projections.NewModels()
	for i := range n {
		m.Tokens.Apply(tokenEvent(uint64(i+1), fmt.Sprint("client-", i%50), uuid.NewString(), t0, 3600))
	}
	data, err := m.Snapshot(n)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		restored := projections.NewModels()
		if _, err := restored.Restore(data); err != nil {
			b.Fatal(err)
		}
		if restored.Tokens.Len() != n {
			b.Fatalf("restored %d tokens", restored.Tokens.Len())
		}
	}
	b.ReportMetric(float64(len(data))/n, "snapshot-bytes/token")
}

// BenchmarkSnapshotSave measures what taking a snapshot costs the runner
// (capture, on its goroutine) and the process (encoding, in the
// background), with read models holding 1 M active tokens.
func BenchmarkSnapshotSave(b *testing.B) {
	const n = 1_000_000
	m := projections.NewModels()
	for i := range n {
		m.Tokens.Apply(tokenEvent(uint64(i+1), fmt.Sprint("client-", i%50), uuid.NewString(), t0, 3600))
	}
	var capture, encode time.Duration
	for b.Loop() {
		start := time.Now()
		snap := m.Capture(n)
		capture += time.Since(start)
		start = time.Now()
		if _, err := snap.Encode(); err != nil {
			b.Fatal(err)
		}
		encode += time.Since(start)
	}
	b.ReportMetric(float64(capture.Milliseconds())/float64(b.N), "capture-ms")
	b.ReportMetric(float64(encode.Milliseconds())/float64(b.N), "encode-ms")
}

// TestTokenNodesNameTheNodeOfTheirTime: a token's nodes are the nodes their
// slugs named when it was issued. Once a node is deleted no token reaches
// it, and a node created again under the same slug is reached only by
// tokens issued after it.
func TestTokenNodesNameTheNodeOfTheirTime(t *testing.T) {
	m := projections.NewTokens()
	node := func(seq uint64, p domain.Payload) {
		m.Apply(projections.Event{Envelope: eventstore.Envelope{Seq: seq, Type: p.EventType(), Aggregate: "node/team-a", Time: t0}, Payload: p})
	}
	issued := func(seq uint64, jti string) {
		ev := tokenEvent(seq, "c1", jti, t0, 3600)
		p := ev.Payload.(domain.TokenIssued)
		p.Nodes = []string{"team-a", "team-b"}
		ev.Payload = p
		m.Apply(ev)
	}
	nodes := func(jti string) []string {
		info, ok := m.ByJTI(jti, t0.Unix())
		if !ok {
			t.Fatalf("token %s unknown", jti)
		}
		return info.Nodes
	}
	before, old, after := uuid.NewString(), uuid.NewString(), uuid.NewString()
	issued(1, before) // team-a not created yet in this model's history: kept as issued
	node(2, domain.NodeCreated{Slug: "team-a", Kind: domain.NodeTeam})
	issued(3, old)
	if got := nodes(old); !slices.Equal(got, []string{"team-a", "team-b"}) {
		t.Fatalf("nodes of a token of the live node = %v", got)
	}
	node(4, domain.NodeDeleted{})
	if got := nodes(old); !slices.Equal(got, []string{"team-b"}) {
		t.Fatalf("nodes after the node was deleted = %v, want team-b only", got)
	}
	node(5, domain.NodeCreated{Slug: "team-a", Kind: domain.NodeTeam})
	issued(6, after)
	if got := nodes(old); !slices.Equal(got, []string{"team-b"}) {
		t.Fatalf("a token of the deleted node reaches the new one of the same slug: %v", got)
	}
	if got := nodes(after); !slices.Equal(got, []string{"team-a", "team-b"}) {
		t.Fatalf("nodes of a token of the new node = %v", got)
	}
	if got := nodes(before); !slices.Equal(got, []string{"team-b"}) {
		t.Fatalf("nodes of a token older than both nodes = %v", got)
	}
}
