package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
)

// startTestServer runs a real embedded server for the test.
func startTestServer(t testing.TB, dir string) *estest.Server { return estest.Start(t, dir) }

func testMeta() eventstore.Meta {
	return eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
}

func newRealm(t testing.TB, st *eventstore.Store, realm string) {
	t.Helper()
	if err := st.EnsureRealmStream(context.Background(), realm); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentWritersExactlyOneWinsEachRound(t *testing.T) {
	ts := startTestServer(t, t.TempDir())
	ctx := context.Background()
	newRealm(t, ts.Store, "acme")
	agg := domain.ClientRef("3f9c0c4e-7d1a-4d2b-9a51-0d4c2a3b5e61")

	const writers, rounds = 8, 20
	version := uint64(0)
	var winners []string
	for round := range rounds {
		seqs, results := raceAppends(writers, func(w int) (uint64, error) {
			name := fmt.Sprintf("r%d-w%d", round, w)
			return ts.Store.Append(ctx, "acme", agg, version, testMeta(),
				domain.ClientCreated{ClientID: agg.ID, ClientSettings: domain.ClientSettings{Name: name}})
		})
		wins := 0
		for w, err := range results {
			switch {
			case err == nil:
				wins++
				version = seqs[w]
				winners = append(winners, fmt.Sprintf("r%d-w%d", round, w))
			case !errors.Is(err, eventstore.ErrConflict):
				t.Fatalf("round %d writer %d: unexpected error %v", round, w, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d writers won, want exactly 1", round, wins)
		}
	}

	history, err := ts.Store.ReadAggregate(ctx, "acme", agg)
	if err != nil {
		t.Fatal(err)
	}
	if len(history) != rounds {
		t.Fatalf("history has %d events, want %d (lost or duplicated)", len(history), rounds)
	}
	for i, env := range history {
		p, err := env.Payload()
		if err != nil {
			t.Fatal(err)
		}
		if got := p.(domain.ClientCreated).Name; got != winners[i] {
			t.Fatalf("event %d is %q, want winner %q", i, got, winners[i])
		}
	}
}

func TestAcknowledgedEventsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ts := startTestServer(t, dir)
	ctx := context.Background()
	newRealm(t, ts.Store, "acme")

	var acked []uint64
	for i := range 50 {
		agg := domain.ClientRef(fmt.Sprintf("client-%d", i%5))
		seq, err := ts.Store.Append(ctx, "acme", agg, eventstore.AnyVersion, testMeta(), domain.ClientCreated{ClientID: agg.ID, ClientSettings: domain.ClientSettings{Name: fmt.Sprint(i)}})
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, seq)
	}
	for i := range 50 {
		seq, err := ts.Store.AppendToken(ctx, "acme", domain.ClientRef("client-0"), testMeta(), domain.TokenIssued{JTI: fmt.Sprint("t", i)}, eventstore.Requirement{})
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, seq)
	}
	ts.Stop()

	ts2 := startTestServer(t, dir)
	all, err := ts2.Store.ReadRealm(ctx, "acme", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(acked) {
		t.Fatalf("after restart %d events, want %d", len(all), len(acked))
	}
	for i, env := range all {
		if env.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: out of order", i, env.Seq)
		}
	}
	realms, err := ts2.Store.Realms(ctx)
	if err != nil || len(realms) != 1 || realms[0] != "acme" {
		t.Fatalf("realms after restart = %v, %v", realms, err)
	}
}

func TestMultiEventAppendIsAtomic(t *testing.T) {
	ts := startTestServer(t, t.TempDir())
	ctx := context.Background()
	newRealm(t, ts.Store, "acme")
	agg := domain.RealmRef("acme")

	seq, err := ts.Store.Append(ctx, "acme", agg, 0, testMeta(), domain.RealmCreated{Name: "acme"}, domain.KeyAdded{Kid: "k1"}, domain.KeyAdded{Kid: "k2"})
	if err != nil {
		t.Fatal(err)
	}
	if seq != 3 {
		t.Fatalf("last seq = %d, want 3", seq)
	}
	// A stale batch writes none of its events.
	_, err = ts.Store.Append(ctx, "acme", agg, 0, testMeta(), domain.KeyAdded{Kid: "k3"}, domain.KeyAdded{Kid: "k4"})
	if !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("stale batch: err = %v, want eventstore.ErrConflict", err)
	}
	last, err := ts.Store.LastSeq(ctx, "acme")
	if err != nil || last != 3 {
		t.Fatalf("last seq after refused batch = %d, %v; want 3", last, err)
	}
}

func TestTokenEventsStayOutOfTheClientVersion(t *testing.T) {
	ts := startTestServer(t, t.TempDir())
	ctx := context.Background()
	newRealm(t, ts.Store, "acme")
	agg := domain.ClientRef("c1")
	v, err := ts.Store.Append(ctx, "acme", agg, 0, testMeta(), domain.ClientCreated{ClientID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Store.AppendToken(ctx, "acme", agg, testMeta(), domain.TokenIssued{JTI: "j1"}, eventstore.Requirement{}); err != nil {
		t.Fatal(err)
	}
	// The client's version is unchanged by its token event.
	if _, err := ts.Store.Append(ctx, "acme", agg, v, testMeta(), domain.ClientCreated{ClientID: "c1", ClientSettings: domain.ClientSettings{Name: "again"}}); err != nil {
		t.Fatalf("append at version %d after a token event: %v", v, err)
	}
}

func TestConcurrentTokenEventsAreAllStoredOnce(t *testing.T) {
	ts := startTestServer(t, t.TempDir())
	ctx := context.Background()
	newRealm(t, ts.Store, "acme")
	const n = 500
	var wg sync.WaitGroup
	seqs := make([]uint64, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Two clients, so rounds hold events of more than one subject.
			client := domain.ClientRef(fmt.Sprint("c", i%2))
			seqs[i], errs[i] = ts.Store.AppendToken(ctx, "acme", client, testMeta(), domain.TokenIssued{JTI: fmt.Sprint(i)}, eventstore.Requirement{})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	all, err := ts.Store.ReadRealm(ctx, "acme", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("stream holds %d events, want %d", len(all), n)
	}
	seen := map[string]bool{}
	for _, env := range all {
		p, err := env.Payload()
		if err != nil {
			t.Fatal(err)
		}
		jti := p.(domain.TokenIssued).JTI
		if seen[jti] {
			t.Fatalf("jti %s stored twice", jti)
		}
		seen[jti] = true
		var i int
		fmt.Sscan(jti, &i)
		// The sequence each caller was told is the message holding its event,
		// under its own client's subject.
		if env.Seq != seqs[i] {
			t.Fatalf("jti %s is in message %d, caller was told %d", jti, env.Seq, seqs[i])
		}
		if want := fmt.Sprint("client/c", i%2); env.Type != domain.TypeTokenIssued || env.Aggregate != want {
			t.Fatalf("event %s: type %s aggregate %s, want %s", jti, env.Type, env.Aggregate, want)
		}
	}
}

func TestNamesThatWouldBreakASubjectAreRefused(t *testing.T) {
	ts := startTestServer(t, t.TempDir())
	ctx := context.Background()
	for _, realm := range []string{"a.b", "a*", ">", "a b", "", "A"} {
		if err := ts.Store.EnsureRealmStream(ctx, realm); err == nil {
			t.Errorf("realm %q accepted", realm)
		}
	}
	newRealm(t, ts.Store, "acme")
	for _, id := range []string{"x.y", "*", ">", "with space"} {
		if _, err := ts.Store.Append(ctx, "acme", domain.ClientRef(id), eventstore.AnyVersion, testMeta(), domain.ClientCreated{}); err == nil {
			t.Errorf("aggregate id %q accepted", id)
		}
	}
	if last, _ := ts.Store.LastSeq(ctx, "acme"); last != 0 {
		t.Fatalf("refused appends wrote %d events", last)
	}
}

func TestAppendToUnknownRealm(t *testing.T) {
	ts := startTestServer(t, t.TempDir())
	_, err := ts.Store.Append(context.Background(), "nope", domain.ClientRef("c1"), eventstore.AnyVersion, testMeta(), domain.ClientCreated{})
	if !errors.Is(err, eventstore.ErrNoRealm) {
		t.Fatalf("err = %v, want eventstore.ErrNoRealm", err)
	}
}

// TestReadsLeaveNoConsumerBehind: every read and subscription deletes its
// server-side consumer; a stream holds at most 1,000, so leftovers would
// eventually stop every reader of the realm.
func TestReadsLeaveNoConsumerBehind(t *testing.T) {
	ts := startTestServer(t, t.TempDir())
	ctx := context.Background()
	newRealm(t, ts.Store, "acme")
	if _, err := ts.Store.Append(ctx, "acme", domain.ClientRef("c1"), 0, testMeta(), domain.ClientCreated{ClientID: "c1"}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := ts.Store.ReadRealm(ctx, "acme", 0, 10); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.Store.ReadAggregate(ctx, "acme", domain.ClientRef("c1")); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := ts.Store.Subscribe(ctx, "acme", 1, func(uint64, []eventstore.Envelope) {}, func(error) {})
	if err != nil {
		t.Fatal(err)
	}
	sub.Stop()
	st, err := ts.Store.JetStream().Stream(ctx, eventstore.StreamName("acme"))
	if err != nil {
		t.Fatal(err)
	}
	// Left behind means for minutes (an ephemeral ordered consumer's
	// inactivity threshold is 5): a deletion still being applied on a
	// loaded machine gets two seconds.
	var names []string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		names = names[:0]
		lister := st.ConsumerNames(ctx)
		for name := range lister.Name() {
			names = append(names, name)
		}
		if err := lister.Err(); err != nil {
			t.Fatalf("listing the stream's consumers: %v", err)
		}
		if len(names) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(names) != 0 {
		t.Fatalf("consumers %v left on the stream after reads and a stopped subscription", names)
	}
}

// raceAppends releases writers appends at the same instant and returns each
// one's sequence and error, indexed by writer.
func raceAppends(writers int, appendOne func(w int) (uint64, error)) ([]uint64, []error) {
	var wg sync.WaitGroup
	seqs := make([]uint64, writers)
	errs := make([]error, writers)
	start := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			seqs[w], errs[w] = appendOne(w)
		}()
	}
	close(start)
	wg.Wait()
	return seqs, errs
}

// TestTokenEventRequiresTheClientVersion: a token event written with a
// requirement on its client is stored while the client is at the version
// its decision read, and refused (ErrConflict, nothing stored) once the
// client has changed; tokens of one round decided at different versions
// go out as separate messages, each with its own check.
func TestTokenEventRequiresTheClientVersion(t *testing.T) {
	ts := startTestServer(t, t.TempDir())
	ctx := context.Background()
	newRealm(t, ts.Store, "acme")
	agg := domain.ClientRef("c1")
	v1, err := ts.Store.Append(ctx, "acme", agg, 0, testMeta(), domain.ClientCreated{ClientID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Store.AppendToken(ctx, "acme", agg, testMeta(), domain.TokenIssued{JTI: "at-v1"}, eventstore.Requirement{Aggregate: agg, Version: v1}); err != nil {
		t.Fatalf("token at the client's version: %v", err)
	}
	v2, err := ts.Store.Append(ctx, "acme", agg, v1, testMeta(), domain.ClientDisabled{TokensRevokedBefore: 1})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := ts.Store.LastSeq(ctx, "acme")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, v := range []uint64{v1, v2} {
		wg.Go(func() {
			_, errs[i] = ts.Store.AppendToken(ctx, "acme", agg, testMeta(), domain.TokenIssued{JTI: fmt.Sprint("at-", v)}, eventstore.Requirement{Aggregate: agg, Version: v})
		})
	}
	wg.Wait()
	if !errors.Is(errs[0], eventstore.ErrConflict) {
		t.Errorf("token decided before the client changed: err = %v, want ErrConflict", errs[0])
	}
	if errs[1] != nil {
		t.Errorf("token decided at the client's current version: %v", errs[1])
	}
	after, _ := ts.Store.LastSeq(ctx, "acme")
	envs, err := ts.Store.ReadRealm(ctx, "acme", before, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after != before+1 || len(envs) != 1 || !strings.Contains(string(envs[0].Data), fmt.Sprint("at-", v2)) {
		t.Fatalf("stored after the change: %d messages %v, want the one token decided at version %d", after-before, envs, v2)
	}
}

// TestRequirementsBeyondTheEventsGetAGuard: a write with more version
// checks than events carries the extra ones on a guard message, which is
// refused with the write when stale and which readers of events skip.
func TestRequirementsBeyondTheEventsGetAGuard(t *testing.T) {
	ts := startTestServer(t, t.TempDir())
	ctx := context.Background()
	newRealm(t, ts.Store, "acme")
	user, client := domain.UserRef("u1"), domain.ClientRef("c1")
	vu, err := ts.Store.Append(ctx, "acme", user, 0, testMeta(), domain.UserCreated{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	vc, err := ts.Store.Append(ctx, "acme", client, 0, testMeta(), domain.ClientCreated{ClientID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	grant := domain.GrantRef("g1")
	write := func(userVersion uint64) (uint64, error) {
		return ts.Store.AppendChanges(ctx, "acme", testMeta(),
			[]eventstore.Change{{Aggregate: grant, Expected: eventstore.AnyVersion, Payload: domain.GrantCreated{GrantID: "g1"}}}, nil,
			[]eventstore.Requirement{{Aggregate: client, Version: vc}, {Aggregate: user, Version: userVersion}})
	}
	seq, err := write(vu)
	if err != nil {
		t.Fatalf("write at current versions: %v", err)
	}
	// One event carries the client's check, a guard the user's.
	var subjects []string
	if _, err := ts.Store.Scan(ctx, "acme", eventstore.ScanOptions{FromSeq: vc + 1}, func(m *eventstore.RawMsg) error {
		subjects = append(subjects, fmt.Sprintf("%s:%v", m.Subject, m.NoEvents()))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(subjects) != 2 || subjects[1] != "lk.acme.guards:true" {
		t.Fatalf("stored %v, want the event and a guard that carries no event", subjects)
	}
	envs, err := ts.Store.ReadRealm(ctx, "acme", vc, 0)
	if err != nil || len(envs) != 1 || envs[0].Type != domain.TypeGrantCreated {
		t.Fatalf("events read = %v (%v), want the grant's only", envs, err)
	}
	if _, err := ts.Store.Append(ctx, "acme", user, vu, testMeta(), domain.UserDisabled{TokensRevokedBefore: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := write(vu); !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("write after the user changed: err = %v, want ErrConflict", err)
	}
	if last, _ := ts.Store.LastSeq(ctx, "acme"); last != seq+1 {
		t.Fatalf("last seq %d after a refused write, want %d (the user's change only)", last, seq+1)
	}
}
