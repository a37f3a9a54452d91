package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/realms"
)

// The attack of issue 14, item 1: whoever reaches the NATS listener as
// Latchkey's own user publishes a forged client.created for realm master,
// with the management scope and a secret of their choosing. Every message
// Latchkey appends carries a MAC; this one has none. The forged client
// gets no token; the events API does not list it; the audit log (pages,
// export, live tail) shows a foreign message where it is stored, never its
// content or an event of the realm's; the log warns (stream.foreign_message,
// without the body), a counter counts it, and replay --verify names it.
func TestForgedEventOnTheNATSListenerIsIgnoredAndReported(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	natsAddr := freeAddr(t)
	const adminSecret = "e2e-foreign-admin-secret-not-for-production-0001"
	lk := startLatchkey(t, serverOpts{name: "forged event", data: data, bootstrapSecret: adminSecret,
		args: []string{"--nats-listen", natsAddr, "--checkpoint-every", "4", "--checkpoint-interval", "200ms"}})
	admin := lk.adminToken(t, adminSecret).AccessToken
	audit := &auEnv{lk: lk, admin: admin, realm: "master"}
	tail := audit.openStream(t, url.Values{}, "")

	raw, err := os.ReadFile(filepath.Join(data, eventstore.NATSPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(raw))
	nc, err := nats.Connect("nats://"+natsAddr, nats.UserInfo(eventstore.ServerUser, password))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	const secret, name = "the-attackers-own-secret-0123456789", "backdoor-admin"
	forged := fmt.Appendf(nil, `{"id":%q,"type":"client.created","realm":"master","aggregate":"client/%s","time":%q,"actor":"system","client_id":"","request_id":"","ip":"",`+
		`"data":{"client_id":%q,"name":%q,"kind":"service","grant_types":["client_credentials"],"scopes":["management"],"access_preset":"full","secret_hash":%q}}`,
		uuid.NewString(), id, time.Now().UTC().Format(time.RFC3339Nano), id, name, hashHex(secret))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := js.Publish(ctx, "lk.master.client."+id+".created", forged)
	if err != nil {
		t.Fatalf("publishing as the server user: %v", err)
	}
	seq := ack.Sequence
	// Real events after it: the read models have passed it when they answer.
	real := lk.createClient(t, admin, "master", `{"name":"after the forgery"}`)

	// No token for the forged client, whatever it asks.
	for _, scope := range []string{"", "management"} {
		lk.postForm(t, tokenPath("master"), url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}.Encode(), withBasic(id, secret)).
			checkError(t, http.StatusUnauthorized, "invalid_client")
	}
	lk.get(t, "/admin/realms/master/clients/"+id, withBearer(admin)).checkError(t, http.StatusNotFound, "not_found")

	// The events API lists the real events around it, not it.
	events := lk.events(t, admin, "master", "limit=1000")
	sawReal := false
	for i, e := range events.Events {
		if strings.Contains(string(events.Raw[i]), id) || strings.Contains(string(events.Raw[i]), name) {
			t.Errorf("the events API lists the forged event: %s", events.Raw[i])
		}
		sawReal = sawReal || e.Type == "client.created" && strings.Contains(string(events.Raw[i]), real.ClientID)
	}
	if !sawReal {
		t.Errorf("the events API misses the real client created after the forgery")
	}

	// The audit log shows where a foreign message is, never as the realm's.
	requireForeignEntry := func(what string, entries []auEntry) {
		t.Helper()
		found := false
		for _, e := range entries {
			if e.Target == "client/"+id && e.Type != "stream.foreign_message" {
				t.Errorf("%s shows the forged message as %s: %+v", what, e.Type, e)
			}
			if e.Seq == seq {
				found = e.Type == "stream.foreign_message" && e.Actor == "" && strings.Contains(e.Summary, "without a valid MAC")
				if !found {
					t.Errorf("%s: entry at seq %d = %+v", what, seq, e)
				}
			}
		}
		if !found {
			t.Errorf("%s has no foreign-message entry at seq %d", what, seq)
		}
	}
	page := lk.get(t, audit.auditPath(url.Values{"limit": {"200"}}), withBearer(admin))
	page.requireStatus(t, http.StatusOK)
	var p auPage
	page.decode(t, &p)
	requireForeignEntry("the audit page", p.Entries)
	requireForeignEntry("the audit export", audit.ndjson(t, url.Values{}))
	var live []auEntry
	for {
		ev := tail.next(t, 10*time.Second)
		live = append(live, ev.entry)
		if ev.entry.Seq >= seq {
			break
		}
	}
	requireForeignEntry("the live audit stream", live)
	for what, body := range map[string]string{"audit page": string(page.body), "audit stream": tail.rawText()} {
		if strings.Contains(body, name) || strings.Contains(body, hashHex(secret)) {
			t.Errorf("the %s shows what the forged message holds", what)
		}
	}

	// A warning in the log, with where it is and never what it holds.
	lk.waitStderr(t, `"msg":"stream.foreign_message"`, 5*time.Second)
	warned := regexp.MustCompile(`"msg":"stream.foreign_message","realm":"master","seq":` + strconv.FormatUint(seq, 10) + `,"subject":"lk.master.client.` + id + `.created","reason":"no MAC"`)
	if logs := lk.stderr.String(); !warned.MatchString(logs) || strings.Contains(logs, name) {
		t.Errorf("log: want one stream.foreign_message warning naming seq %d and its subject, and nothing of its body:\n%s", seq, grepLines(logs, "foreign"))
	}
	if n := strings.Count(lk.stderr.String(), `"msg":"stream.foreign_message"`); n != 1 {
		t.Errorf("%d foreign-message warnings for one message (each reader met it; one is enough)", n)
	}
	metrics := lk.get(t, "/metrics")
	metrics.requireStatus(t, http.StatusOK)
	if !strings.Contains(string(metrics.body), `latchkey_foreign_messages_total{realm="master"} 1`) {
		t.Errorf("metrics:\n%s", grepLines(string(metrics.body), "foreign"))
	}

	// replay --verify names it: a checkpoint lists it as foreign, never
	// chained as the realm's, and the verification fails on it.
	waitFor(t, 10*time.Second, "a checkpoint covering the forgery", func() bool {
		ref, err := lastCheckpointOver(t, "nats://"+natsAddr, password)
		return err == nil && ref >= seq
	})
	out, errOut, code := runLatchkey(t, []string{"LATCHKEY_NATS_PASSWORD=" + password},
		"replay", "--verify", "--nats-url", "nats://"+natsAddr, "--data", data, "--realm", "master")
	wantFinding := fmt.Sprintf("seq %d: foreign: no valid MAC on lk.master.client.%s.created", seq, id)
	if code != 1 || !strings.Contains(out, wantFinding) || !strings.Contains(errOut, fmt.Sprintf("history holds a foreign message at seq %d", seq)) ||
		!strings.Contains(out, "event MACs: checked, required from seq 1 (0 legacy messages before it), 1 foreign") {
		t.Errorf("replay --verify: exit %d, want 1 and the foreign message named\nstdout %s\nstderr %s", code, out, errOut)
	}
}

// lastCheckpointOver is where realm master's checkpoint chain ends, read
// over the listener.
func lastCheckpointOver(t *testing.T, url, password string) (uint64, error) {
	nc, err := nats.Connect(url, nats.UserInfo(eventstore.ServerUser, password))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	stream, err := js.Stream(context.Background(), eventstore.StreamName("master"))
	if err != nil {
		return 0, err
	}
	m, err := stream.GetLastMsgForSubject(context.Background(), realms.CheckpointSubject("master"))
	if err != nil {
		return 0, err
	}
	var env struct {
		Data struct {
			ToSeq uint64 `json:"to_seq"`
		} `json:"data"`
	}
	err = json.Unmarshal(m.Data, &env)
	return env.Data.ToSeq, err
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The data directory of an install from before event MACs keeps working:
// its history (no MACs, no MAC boundary, the admin secret stored as an
// unsalted SHA-256) is read as legacy; the first start records where MACs
// begin; the admin secret still authenticates and is rehashed once; the
// chain then verifies, legacy messages counted as such.
func TestAnInstallFromBeforeEventMACsKeepsWorking(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	const adminSecret = "e2e-legacy-admin-secret-not-for-production-0001"
	first := startLatchkey(t, serverOpts{name: "before MACs", data: data, bootstrapSecret: adminSecret, args: []string{"--checkpoint-every", "-1"}})
	first.adminToken(t, adminSecret)
	first.stop(t)
	legacy := rewriteWithoutMACs(t, data, adminSecret)

	second := startLatchkey(t, serverOpts{name: "after MACs", data: data, bootstrapSecret: adminSecret, addr: first.addr,
		args: []string{"--checkpoint-every", "4", "--checkpoint-interval", "200ms"}})
	second.waitStderr(t, `"msg":"event MACs required","realm":"master","from_seq":`+strconv.FormatUint(legacy+1, 10), 5*time.Second)
	admin := second.adminToken(t, adminSecret).AccessToken
	waitFor(t, 10*time.Second, "the admin secret rehashed", func() bool {
		return second.countEvents(t, admin, "master", "client.secret_rehashed") == 1
	})
	second.adminToken(t, adminSecret) // in its new form
	if strings.Contains(second.stderr.String(), "stream.foreign_message") {
		t.Errorf("legacy messages reported as foreign:\n%s", grepLines(second.stderr.String(), "foreign"))
	}
	time.Sleep(500 * time.Millisecond) // a checkpoint covers the rehash
	if n := second.countEvents(t, admin, "master", "client.secret_rehashed"); n != 1 {
		t.Errorf("%d client.secret_rehashed events, want 1", n)
	}
	second.stop(t)

	out, errOut, code := runLatchkey(t, nil, "replay", "--verify", "--data", data, "--realm", "master")
	want := fmt.Sprintf("event MACs: checked, required from seq %d (%d legacy messages before it), 0 foreign", legacy+1, legacy)
	if code != 0 || !strings.Contains(out, want) {
		t.Errorf("replay --verify: exit %d, want 0 and %q\nstdout %s\nstderr %s", code, want, out, errOut)
	}
}

// rewriteWithoutMACs turns a stopped server's realm master into what an
// earlier version wrote: the same messages at the same sequences, without
// MACs or a MAC boundary, the admin secret hashed as SHA-256, no snapshot.
// It returns the last sequence.
func rewriteWithoutMACs(t *testing.T, data, adminSecret string) uint64 {
	t.Helper()
	ns, err := eventstore.StartEmbedded(eventstore.EmbeddedConfig{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, err := eventstore.ConnectInProcess(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	stream, err := js.Stream(ctx, eventstore.StreamName("master"))
	if err != nil {
		t.Fatal(err)
	}
	info := stream.CachedInfo()
	if info.State.NumDeleted != 0 || info.State.FirstSeq != 1 {
		t.Fatalf("stream state %+v: want contiguous sequences from 1", info.State)
	}
	type msg struct {
		subject string
		data    []byte
	}
	var msgs []msg
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get("Lk-Mac") == "" {
			t.Fatalf("seq %d on %s carries no MAC", seq, m.Subject)
		}
		body := m.Data
		if strings.HasSuffix(m.Subject, ".created") && strings.Contains(string(body), `"secret_hash":"hmac-sha256:`) {
			body = regexp.MustCompile(`"secret_hash":"hmac-sha256:[0-9a-f]+"`).ReplaceAll(body, []byte(`"secret_hash":"`+hashHex(adminSecret)+`"`))
		}
		msgs = append(msgs, msg{m.Subject, body})
	}
	cfg := info.Config
	cfg.Metadata = nil
	if err := js.DeleteStream(ctx, cfg.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if _, err := js.Publish(ctx, m.subject, m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := js.DeleteObjectStore(ctx, "LK_SNAPSHOTS"); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatal(err)
	}
	return uint64(len(msgs))
}

// A bootstrap secret under 32 characters stops the start, with a reason,
// before anything is written.
func TestAShortBootstrapSecretStopsTheStart(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	out := runServeExpectingFailure(t, data, "LATCHKEY_BOOTSTRAP_CLIENT_SECRET=hunter2-is-not-enough")
	if !strings.Contains(out, "LATCHKEY_BOOTSTRAP_CLIENT_SECRET has 21 characters; it must have at least 32") {
		t.Errorf("serve with a 21-character bootstrap secret:\n%s", out)
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("a refused start left %d entries in the data directory", len(entries))
	}
}
