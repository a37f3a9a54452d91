package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
	"github.com/latchkeyhq/latchkey/realms"
)

// runReplayCmd runs `latchkey replay` and returns stdout, stderr and the
// exit code.
func runReplayCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(latchkeyBin, append([]string{"replay"}, args...)...)
	cmd.Env = childEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("replay %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

type replayLine struct {
	Seq       uint64          `json:"seq"`
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Aggregate string          `json:"aggregate"`
	Actor     string          `json:"actor"`
	ClientID  string          `json:"client_id"`
	Data      json.RawMessage `json:"data"`
}

func parseLines(t *testing.T, out string) []replayLine {
	t.Helper()
	var lines []replayLine
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l replayLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not a JSON line: %v\n%s", err, sc.Text())
		}
		lines = append(lines, l)
	}
	return lines
}

// TestReplayFromAStoppedServer drives the real binary: a server writes a
// realm's history with fast checkpoints and stops; replay prints it like
// the events API, filters it, rebuilds every model identically and verifies
// the checkpoint chain; after a message is deleted, verify names its seq.
func TestReplayFromAStoppedServer(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	const adminSecret = "e2e-replay-admin-secret-not-for-production-0001"
	lk := startLatchkey(t, serverOpts{name: "replay", data: data, bootstrapSecret: adminSecret,
		args: []string{"--checkpoint-interval", "200ms", "--checkpoint-every", "6"}})
	admin := lk.adminToken(t, adminSecret).AccessToken
	lk.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(admin)).requireStatus(t, http.StatusCreated)
	backend := lk.createClient(t, admin, "acme", `{"name":"backend","scopes":["read","write"]}`)
	other := lk.createClient(t, admin, "acme", `{"name":"other","scopes":["read"]}`)
	var backendTokens []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			id, secret := backend.ClientID, backend.ClientSecret
			if i%3 == 0 {
				id, secret = other.ClientID, other.ClientSecret
			}
			tok := lk.clientToken(t, "acme", id, secret, "read").AccessToken
			if id == backend.ClientID {
				mu.Lock()
				backendTokens = append(backendTokens, tok)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	lk.postForm(t, "/realms/acme/protocol/openid-connect/revoke", "token="+backendTokens[0], withBasic(backend.ClientID, backend.ClientSecret)).requireStatus(t, http.StatusOK)

	// Wait until a checkpoint is the last event: everything before it is
	// covered.
	var api eventsPage
	deadline := time.Now().Add(20 * time.Second)
	for {
		api = lk.events(t, admin, "acme", "after_seq=0&limit=1000")
		if n := len(api.Events); n > 0 && api.Events[n-1].Type == domain.TypeAuditCheckpoint {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint after the history:\n%s", api.resp)
		}
		time.Sleep(50 * time.Millisecond)
	}
	lk.stop(t)

	t.Run("json lines", func(t *testing.T) {
		out, errOut, code := runReplayCmd(t, "--realm", "acme", "--data", data)
		if code != 0 || errOut != "" {
			t.Fatalf("exit %d, stderr %q (nothing on stderr when it is not a terminal)", code, errOut)
		}
		lines := parseLines(t, out)
		if len(lines) < len(api.Events) {
			t.Fatalf("replay printed %d events, the API lists %d", len(lines), len(api.Events))
		}
		for i, e := range api.Events {
			if lines[i].Seq != e.Seq || lines[i].Type != e.Type {
				t.Fatalf("event %d: replay seq %d %s, API seq %d %s", i, lines[i].Seq, lines[i].Type, e.Seq, e.Type)
			}
		}
		requireNoSecrets(t, "replay output", []byte(out), backend.ClientSecret, other.ClientSecret)
		// Asked for, the progress bar goes to stderr, never stdout.
		out2, bar, code := runReplayCmd(t, "--realm", "acme", "--data", data, "--progress", "always")
		if code != 0 || out2 != out || !strings.Contains(bar, "events/s") || !strings.Contains(bar, "ETA") {
			t.Errorf("--progress always: exit %d, stderr %q, stdout same: %v", code, bar, out2 == out)
		}
		if strings.Contains(out, `"hash"`) {
			t.Error("replay output holds token hashes")
		}
	})

	t.Run("filters", func(t *testing.T) {
		count := func(args ...string) []replayLine {
			out, errOut, code := runReplayCmd(t, append([]string{"--realm", "acme", "--data", data}, args...)...)
			if code != 0 {
				t.Fatalf("replay %v: exit %d: %s", args, code, errOut)
			}
			return parseLines(t, out)
		}
		issued := count("--type", "token.issued")
		if len(issued) != 12 {
			t.Errorf("--type token.issued: %d events, want 12", len(issued))
		}
		if tok := count("--type", "token."); len(tok) != 13 {
			t.Errorf("--type token.: %d events, want 12 issued + 1 revoked", len(tok))
		}
		// The audit API's prefix form, "*", means the same here.
		if tok := count("--type", "token.*"); len(tok) != 13 {
			t.Errorf("--type token.*: %d events, want 13 as for token.", len(tok))
		}
		if a, b := len(count("--target", "client*")), len(count("--target", "client/")); a != b || a == 0 {
			t.Errorf("--target client*: %d events, --target client/: %d", a, b)
		}
		for _, l := range count("--client-id", other.ClientID) {
			if l.ClientID != other.ClientID {
				t.Errorf("--client-id %s printed %+v", other.ClientID, l)
			}
		}
		if n := len(count("--client-id", other.ClientID, "--type", "token.issued")); n != 4 {
			t.Errorf("other's tokens: %d, want 4", n)
		}
		if n := len(count("--actor", "client:latchkey-admin")); n < 9 {
			t.Errorf("--actor admin: %d events, want the realm's and the clients' creation", n)
		}
		tgt := count("--target", "client/"+backend.ClientID)
		if len(tgt) != 10 { // created, 8 tokens, 1 revoked
			t.Errorf("--target client/%s: %d events, want 10", backend.ClientID, len(tgt))
		}
		if n := len(count("--target", "audit/")); n == 0 {
			t.Error("--target audit/ found no checkpoint")
		}
		from := count("--from-seq", "9")
		if len(from) == 0 || from[0].Seq != 9 {
			t.Errorf("--from-seq 9 starts at %+v", from)
		}
		future := count("--since", time.Now().Add(time.Hour).Format(time.RFC3339))
		if len(future) != 0 {
			t.Errorf("--since in the future printed %d events", len(future))
		}
		// --since and --until select by the event's own time, both
		// inclusive, as the audit API does (a message is stored a little
		// after its event's time).
		var at eventView
		for _, e := range api.Events {
			if e.Type == "token.revoked" {
				at = e
			}
		}
		exact := count("--since", at.Time, "--until", at.Time, "--type", "token.revoked")
		if len(exact) != 1 || exact[0].Seq != at.Seq {
			t.Errorf("--since %s --until %s (the revocation's own time): %+v, want seq %d", at.Time, at.Time, exact, at.Seq)
		}
		out, _, code := runReplayCmd(t, "--realm", "acme", "--data", data, "--format", "table", "--type", "client.created")
		if code != 0 || !strings.HasPrefix(out, "SEQ") || strings.Count(out, "client.created") != 3 { // the console's, then two
			t.Errorf("table:\n%s", out)
		}
	})

	t.Run("rebuild", func(t *testing.T) {
		out, errOut, code := runReplayCmd(t, "--realm", "acme", "--data", data, "--rebuild")
		if code != 0 || strings.Contains(out, "DIFFERENT") || !strings.Contains(out, "tokens") {
			t.Fatalf("rebuild: exit %d\n%s%s", code, out, errOut)
		}
		if !strings.Contains(out, "snapshot@") {
			t.Errorf("rebuild did not compare with the snapshot the server saved at shutdown:\n%s", out)
		}
	})

	t.Run("verify", func(t *testing.T) {
		out, errOut, code := runReplayCmd(t, "--realm", "acme", "--data", data, "--verify")
		if code != 0 || !strings.Contains(out, "OK") {
			t.Fatalf("verify of a clean history: exit %d\n%s%s", code, out, errOut)
		}
		out, _, code = runReplayCmd(t, "--realm", "master", "--data", data, "--verify", "--format", "json")
		var rep struct {
			Checkpoints int `json:"checkpoints"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Checkpoints == 0 {
			t.Fatalf("verify master: exit %d\n%s", code, out)
		}
	})

	t.Run("verify names a deleted message", func(t *testing.T) {
		// An ordinary event from the middle of the history (deleting a
		// checkpoint is reported differently, and tested in realms).
		var victim uint64
		for _, e := range api.Events[len(api.Events)/2:] {
			if e.Type != domain.TypeAuditCheckpoint {
				victim = e.Seq
				break
			}
		}
		ns, err := eventstore.StartEmbedded(eventstore.EmbeddedConfig{DataDir: data})
		if err != nil {
			t.Fatal(err)
		}
		nc, _ := eventstore.ConnectInProcess(ns)
		js, _ := jetstream.New(nc)
		stream, err := js.Stream(context.Background(), eventstore.StreamName("acme"))
		if err == nil {
			err = stream.DeleteMsg(context.Background(), victim)
		}
		nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
		if err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runReplayCmd(t, "--realm", "acme", "--data", data, "--verify")
		want := fmt.Sprintf("history removed at seq %d", victim)
		if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(out, "TAMPERED") {
			t.Fatalf("verify after deleting seq %d: exit %d, want 1 and %q\n%s%s", victim, code, want, out, errOut)
		}
	})

	t.Run("bad usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"--data", data},
			{"--realm", "Bad.Realm", "--data", data},
			{"--realm", "acme", "--data", t.TempDir()},
			{"--realm", "nope", "--data", data},
			{"--realm", "acme", "--data", data, "--rebuild", "--type", "token."},
			{"--realm", "acme", "--data", data, "--format", "xml"},
			{"--realm", "acme", "--data", data, "--since", "2026-12-05T00:00:00Z", "--until", "2026-12-04T00:00:00Z"},
		} {
			if _, errOut, code := runReplayCmd(t, args...); code == 0 || errOut == "" {
				t.Errorf("replay %v: exit %d, stderr %q", args, code, errOut)
			}
		}
	})

	t.Run("a foreign message shows as such within a time window", func(t *testing.T) {
		ns, err := eventstore.StartEmbedded(eventstore.EmbeddedConfig{DataDir: data})
		if err != nil {
			t.Fatal(err)
		}
		nc, _ := eventstore.ConnectInProcess(ns)
		js, _ := jetstream.New(nc)
		_, err = js.Publish(context.Background(), "lk.acme.client.garbled", []byte("not an envelope"))
		nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
		if err != nil {
			t.Fatal(err)
		}
		since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
		out, errOut, code := runReplayCmd(t, "--realm", "acme", "--data", data, "--since", since)
		if code != 0 || !strings.Contains(out, `"subject":"lk.acme.client.garbled","foreign":true}`) {
			t.Errorf("replay --since %s: exit %d, want the foreign message listed:\n%s%s", since, code, out, errOut)
		}
		if strings.Contains(out, "not an envelope") || !strings.Contains(errOut, "foreign message at seq") {
			t.Errorf("replay shows what the foreign message holds, or does not report it:\n%s%s", out, errOut)
		}
		if out, _, _ := runReplayCmd(t, "--realm", "acme", "--data", data, "--type", "client."); strings.Contains(out, "foreign") {
			t.Errorf("replay --type client. lists a foreign message, which matches no filter:\n%s", out)
		}
		// Without the master key, MACs cannot be checked: the message is
		// undecodable, and replay says MACs were not checked.
		keyless := t.TempDir()
		copyTree(t, data, keyless, realms.MasterKeyFile)
		out, errOut, _ = runReplayCmd(t, "--realm", "acme", "--data", keyless, "--since", since)
		if !strings.Contains(out, `"undecodable":"not an envelope"`) || !strings.Contains(errOut, "event MACs are not checked") {
			t.Errorf("replay without the master key:\n%s%s", out, errOut)
		}
	})
}

// TestRebuildReportsADifference: two runs whose models differ are printed
// line by line, without hash values, and fail.
func TestRebuildReportsADifference(t *testing.T) {
	a, b := projections.NewModels(), projections.NewModels()
	ev := func(seq uint64, name string) projections.Event {
		return projections.Event{
			Envelope: eventstore.Envelope{Seq: seq, Type: domain.TypeClientCreated, Aggregate: "client/c1"},
			Payload:  domain.ClientCreated{ClientID: "c1", SecretHash: "deadbeefdeadbeef", ClientSettings: domain.ClientSettings{Name: name}},
		}
	}
	for _, f := range a.Folds() {
		f.Apply(ev(1, "one"))
	}
	for _, f := range b.Folds() {
		f.Apply(ev(1, "two"))
	}
	var buf bytes.Buffer
	out := bufio.NewWriter(&buf)
	compare := func(runs ...projections.RebuildRun) error {
		rep := &projections.RebuildReport{Realm: "acme"}
		projections.CompareRuns(rep, runs)
		return printRebuildReport(out, false, rep)
	}
	err := compare(projections.RebuildRun{Name: "rebuild", Models: a}, projections.RebuildRun{Name: "again", Models: b})
	if err == nil || !strings.Contains(err.Error(), "clients") {
		t.Fatalf("compareRuns: %v", err)
	}
	s := buf.String()
	if !strings.Contains(s, `client c1: name: "one" → "two"`) || !strings.Contains(s, "DIFFERENT") {
		t.Fatalf("difference not shown:\n%s", s)
	}
	if strings.Contains(s, "deadbeef") {
		t.Fatalf("a secret hash was printed:\n%s", s)
	}
	buf.Reset()
	if err := compare(projections.RebuildRun{Name: "rebuild", Models: a}, projections.RebuildRun{Name: "again", Models: a}); err != nil {
		t.Fatal(err)
	}
}

// ---- benchmarks ----

// benchHistory is a realm of about 1 M events written straight to its
// stream in big async batches on a server without fsync: one realm, 100
// clients, token.issued events (one per message, as under light load, and
// every 50th message a group of 8 as under heavy load), token.used and a
// revocation now and then. Event time advances 20 ms per message, so the
// tokens model keeps about 3 h of tokens, as a server would.
type benchHistory struct {
	store  *eventstore.Store
	msgs   int
	events int
	close  func()
}

const benchEvents = 1_000_000

// loadBenchHistory builds the history for one benchmark; the server and
// its directory go when the benchmark ends.
func loadBenchHistory(b *testing.B) *benchHistory {
	b.Helper()
	h, err := buildBenchHistory(b.TempDir(), benchEvents)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.close)
	return h
}

func buildBenchHistory(dir string, events int) (_ *benchHistory, err error) {
	ns, err := eventstore.StartEmbedded(eventstore.EmbeddedConfig{DataDir: dir, NoSync: true})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			ns.Shutdown()
		}
	}()
	nc, err := eventstore.ConnectInProcess(ns)
	if err != nil {
		return nil, err
	}
	st, err := eventstore.New(nc, eventstore.Options{})
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	const realm = "acme"
	if err := st.EnsureRealmStream(ctx, realm); err != nil {
		return nil, err
	}
	h := &benchHistory{store: st, close: func() {
		st.Close()
		nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
	}}
	js := st.JetStream()
	t0 := time.Unix(1_800_000_000, 0).UTC()
	env := func(agg domain.AggregateRef, at time.Time, actor, clientID string, p domain.Payload) []byte {
		data, _ := json.Marshal(p)
		body, _ := json.Marshal(eventstore.Envelope{ID: uuid.NewString(), Type: p.EventType(), Realm: realm, Aggregate: agg.String(),
			Time: at, Actor: actor, ClientID: clientID, RequestID: "req-" + uuid.NewString()[:24], IP: "10.0.0.1", Data: data})
		return body
	}
	pending := 0
	publish := func(subject string, body []byte) error {
		if _, err := js.PublishAsync(subject, body); err != nil {
			return err
		}
		h.msgs++
		if pending++; pending == 20_000 {
			pending = 0
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				return errors.New("publish stalled")
			}
		}
		return nil
	}
	sys := domain.RealmRef(realm)
	for _, p := range []domain.Payload{domain.RealmCreated{Name: realm}, domain.ScopeDefined{Name: "read", Description: "Read"}} {
		if err := publish(eventstore.Subject(realm, sys, p.EventType()), env(sys, t0, "system", "", p)); err != nil {
			return nil, err
		}
		h.events++
	}
	var clients []string
	for i := range 100 {
		id := uuid.NewString()
		clients = append(clients, id)
		agg := domain.ClientRef(id)
		p := domain.ClientCreated{ClientID: id, SecretHash: strings.Repeat("ab", 32), ClientSettings: domain.ClientSettings{
			Name: fmt.Sprint("client ", i), Type: "confidential", Kind: "service", GrantTypes: []string{"client_credentials"},
			Scopes: []string{"read"}, AccessTokenLifetime: 3600}}
		if err := publish(eventstore.Subject(realm, agg, p.EventType()), env(agg, t0, "client:latchkey-admin", "latchkey-admin", p)); err != nil {
			return nil, err
		}
		h.events++
	}
	for i := 0; h.events < events; i++ {
		at := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		id := clients[i%len(clients)]
		agg := domain.ClientRef(id)
		issued := func() []byte {
			return env(agg, at, "client:"+id, id, domain.TokenIssued{JTI: uuid.NewString(), Hash: "Xq1b2c3d4e5f6g7h8i9j0k",
				Subject: id, Scope: "read", GrantType: "client_credentials", Kid: "kid-1", IssuedAt: at.Unix(), ExpiresAt: at.Unix() + 3600})
		}
		var body []byte
		n := 1
		switch {
		case i%50 == 49: // a group commit
			n = 8
			parts := make([][]byte, n)
			for j := range parts {
				parts[j] = issued()
			}
			body = bytes.Join(parts, []byte{'\n'})
		case i%97 == 96:
			body = env(agg, at, "system", id, domain.TokenUsed{JTI: uuid.NewString(), At: at.Unix()})
		case i%5003 == 5002:
			p := domain.ClientTokensRevoked{IssuedBefore: at.Unix(), ForgetAfter: at.Unix() + 3600, Reason: "bench"}
			if err := publish(eventstore.Subject(realm, agg, p.EventType()), env(agg, at, "client:latchkey-admin", "latchkey-admin", p)); err != nil {
				return nil, err
			}
			h.events++
			rule, _ := json.Marshal(domain.RevocationRule{ClientID: id, IssuedBefore: at.Unix(), ForgetAfter: at.Unix() + 3600})
			if err := publish(eventstore.RevocationsSubject(realm), rule); err != nil {
				return nil, err
			}
			continue
		default:
			body = issued()
		}
		if err := publish(eventstore.Subject(realm, agg, domain.TypeTokenIssued), body); err != nil {
			return nil, err
		}
		h.events += n
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return nil, errors.New("publish stalled")
	}
	return h, nil
}

// BenchmarkReplayJSONLines: `latchkey replay` without filters, JSON lines
// to a discarding writer, over about 1 M events.
func BenchmarkReplayJSONLines(b *testing.B) {
	h := loadBenchHistory(b)
	ctx := context.Background()
	out := bufio.NewWriterSize(io.Discard, 256<<10)
	cfg := replayConfig{realm: "acme"}
	defer debug.SetGCPercent(replayGC(cfg)) // as the command runs
	var events uint64
	b.ResetTimer()
	for b.Loop() {
		st, err := runReplay(ctx, h.store, cfg, out, nil)
		if err != nil {
			b.Fatal(err)
		}
		if st.Matched != uint64(h.events) {
			b.Fatalf("printed %d events, want %d", st.Matched, h.events)
		}
		events += st.Matched
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(h.msgs)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkRebuild1M: `latchkey replay --rebuild`'s fold of about 1 M events
// from scratch through every read model (one rebuild; the command does it
// twice).
func BenchmarkRebuild1M(b *testing.B) {
	h := loadBenchHistory(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		models, res, err := projections.Rebuild(ctx, h.store, "acme", projections.RebuildOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Events != uint64(h.events) || models[0].Tokens.Len() == 0 {
			b.Fatalf("folded %d events, want %d", res.Events, h.events)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/rebuild")
	b.ReportMetric(float64(h.events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// copyTree copies a directory, leaving out the files named skip.
func copyTree(t *testing.T, from, to, skip string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		target := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Name() == skip || d.Name() == "LOCK":
			return nil
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
