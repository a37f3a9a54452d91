package verifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/realms/verifier"
)

// testMasterKey stands for Latchkey's master key: the realm users'
// passwords are derived from it.
var testMasterKey = []byte("a master key of 32 bytes, exact!")

const serverPassword = "the-server-users-password-for-these-tests-01"

// securedServer is Latchkey's embedded nats-server listening on TCP with
// its real authentication: the server user and one rs-<realm> user per
// realm, limited by verifier.Permissions.
type securedServer struct {
	ns       *server.Server
	store    *eventstore.Store
	realmKey []byte
}

// startSecuredServer starts the server on dir and addr ("127.0.0.1:-1" for
// any port) with an in-process store; it stops when the test ends.
func startSecuredServer(t *testing.T, dir, addr string) *securedServer {
	t.Helper()
	key, err := eventstore.DeriveKey(testMasterKey, eventstore.PurposeNATSRealmUsers)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := eventstore.StartEmbedded(eventstore.EmbeddedConfig{
		DataDir: dir, ListenAddr: addr, NoSync: true,
		Auth: eventstore.ListenerAuth{Password: serverPassword, RealmKey: key, RealmPermissions: verifier.Permissions},
	})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := eventstore.ConnectInProcess(ns)
	if err != nil {
		t.Fatal(err)
	}
	store, err := eventstore.New(nc, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &securedServer{ns: ns, store: store, realmKey: key}
	t.Cleanup(s.stop)
	return s
}

// stop shuts the server down; a second call does nothing.
func (s *securedServer) stop() {
	if s.ns == nil {
		return
	}
	s.store.Close()
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.ns = nil
}

// credentials are what `latchkey nats-credentials --realm <realm>` prints.
func (s *securedServer) credentials(realm string) verifier.Credentials {
	return verifier.Credentials{User: eventstore.RealmUser(realm), Password: eventstore.RealmPassword(s.realmKey, realm)}
}

// connectAs connects as a realm's resource server, with verifier.Connect.
func connectAs(t *testing.T, url, realm string, creds verifier.Credentials, opts ...nats.Option) (*nats.Conn, chan error) {
	t.Helper()
	asyncErrs := make(chan error, 16)
	nc, err := verifier.Connect(url, realm, creds, append(opts,
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case asyncErrs <- err:
			default:
			}
		}))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, asyncErrs
}

func TestResourceServerReadsOnlyItsRealmsRevocations(t *testing.T) {
	srv := startSecuredServer(t, t.TempDir(), "127.0.0.1:-1")
	url := srv.ns.ClientURL()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Latchkey writes over TCP as its own user, as a replica would.
	lk, err := nats.Connect(url, eventstore.ClientOptions(serverPassword, "")...)
	if err != nil {
		t.Fatalf("the server user: %v", err)
	}
	defer lk.Close()
	store, err := eventstore.New(lk, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	for _, realm := range []string{"alpha", "beta"} {
		if err := store.EnsureRealmStream(ctx, realm); err != nil {
			t.Fatal(err)
		}
		// A token event and a revocation rule in each realm.
		if _, err := store.AppendToken(ctx, realm, domain.ClientRef("c1"), meta, domain.TokenIssued{JTI: "secret-" + realm}, eventstore.Requirement{}); err != nil {
			t.Fatal(err)
		}
		rule := domain.RevocationRule{JTI: "revoked-in-" + realm, ForgetAfter: time.Now().Add(time.Hour).Unix()}
		if _, err := store.AppendRevocation(ctx, realm, domain.ClientRef("c1"), eventstore.AnyVersion, meta, domain.TokenRevoked{JTI: rule.JTI}, signRule(t, realm, rule, "k1", ruleKey)); err != nil {
			t.Fatal(err)
		}
	}

	// A realm user with another realm's password gets nowhere.
	if nc, err := verifier.Connect(url, "alpha", verifier.Credentials{User: "rs-alpha", Password: srv.credentials("beta").Password}, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("rs-alpha connected with beta's password")
	}

	// Beta's resource server follows beta's rules...
	beta, betaErrs := connectAs(t, url, "beta", srv.credentials("beta"))
	rules := followRules(ctx, t, beta, "beta")
	if len(rules) != 1 || rules[0].JTI != "revoked-in-beta" {
		t.Fatalf("beta's subscriber read %+v, want beta's one rule", rules)
	}

	// ...but cannot read alpha's: not its rules,
	js, _ := jetstream.New(beta)
	consumerOn := func(stream, filter string) func(context.Context) error {
		return func(ctx context.Context) error {
			c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
			if err == nil {
				_, err = c.Fetch(1, jetstream.FetchMaxWait(500*time.Millisecond))
			}
			return err
		}
	}
	if !refused(ctx, consumerOn("LK_ALPHA", "lk.alpha.revocations")) {
		t.Fatal("beta created a consumer on alpha's rules")
	}
	// nor its own realm's other events (token and client events, with
	// secret hashes, are not for it),
	for _, filter := range []string{"lk.beta.>", "lk.beta.client.c1.token.issued", "lk.beta.*"} {
		if !refused(ctx, consumerOn("LK_BETA", filter)) {
			t.Fatalf("beta created a consumer on %s", filter)
		}
	}
	// The same call on its own rules works, so the refusals above are the
	// permissions at work and not a broken call.
	if refused(ctx, consumerOn("LK_BETA", "lk.beta.revocations")) {
		t.Fatal("beta could not read its own rules with the same call")
	}
	// Nor any other part of the JetStream API: reading messages directly,
	// stream information, deleting or purging streams, creating streams or
	// unfiltered consumers. A refused request gets no answer; any answer,
	// even a JetStream error, means the request got through.
	var wg sync.WaitGroup
	for subject, payload := range map[string]string{
		"$JS.API.DIRECT.GET.LK_BETA.lk.beta.client.c1.token.issued": ``,
		"$JS.API.STREAM.MSG.GET.LK_BETA":                            `{"last_by_subj":"lk.beta.client.c1.token.issued"}`,
		"$JS.API.STREAM.INFO.LK_BETA":                               ``,
		"$JS.API.STREAM.DELETE.LK_BETA":                             ``,
		"$JS.API.STREAM.DELETE.LK_ALPHA":                            ``,
		"$JS.API.STREAM.PURGE.LK_BETA":                              ``,
		"$JS.API.STREAM.CREATE.LK_EVIL":                             `{"name":"LK_EVIL","subjects":["evil.>"]}`,
		"$JS.API.STREAM.LIST":                                       ``,
		"$JS.API.INFO":                                              ``,
		"$JS.API.CONSUMER.CREATE.LK_BETA":                           `{"stream_name":"LK_BETA","config":{"ack_policy":"none"}}`,
		"$JS.API.CONSUMER.DURABLE.CREATE.LK_BETA.d":                 `{"stream_name":"LK_BETA","config":{"durable_name":"d","ack_policy":"none"}}`,
	} {
		wg.Go(func() {
			if !refused(ctx, func(ctx context.Context) error {
				_, err := beta.RequestWithContext(ctx, subject, []byte(payload))
				return err
			}) {
				t.Errorf("beta's request on %s was answered", subject)
			}
		})
	}
	wg.Wait()
	if _, err := store.LastSeq(ctx, "beta"); err != nil {
		t.Fatalf("beta's stream after the refused deletes: %v", err)
	}
	// It cannot publish: no forged event reaches the stream.
	before, err := store.LastSeq(ctx, "beta")
	if err != nil {
		t.Fatal(err)
	}
	drain(betaErrs)
	if err := beta.Publish("lk.beta.client.evil.created", []byte(`{"type":"client.created"}`)); err != nil {
		t.Fatal(err)
	}
	_ = beta.Flush()
	requirePermissionError(t, betaErrs, "publishing a forged event")
	if after, err := store.LastSeq(ctx, "beta"); err != nil || after != before {
		t.Fatalf("beta's stream moved from %d to %d (%v) after a forged publish", before, after, err)
	}
	// Nor subscribe to live subjects, nor to the shared inbox where
	// Latchkey's own replies (other realms' events among them) travel.
	for _, subject := range []string{"lk.alpha.>", "lk.beta.>", ">", "_INBOX.>", "$JS.API.>"} {
		sub, err := beta.SubscribeSync(subject)
		if err != nil {
			continue
		}
		_ = beta.Flush()
		requirePermissionError(t, betaErrs, "subscribing to "+subject)
		_ = sub.Unsubscribe()
	}
}

func drain(errs chan error) {
	for {
		select {
		case <-errs:
		default:
			return
		}
	}
}

func requirePermissionError(t *testing.T, errs chan error, what string) {
	t.Helper()
	select {
	case err := <-errs:
		if !isPermissionError(err) {
			t.Fatalf("%s: unexpected async error %v", what, err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("%s was not refused", what)
	}
}

func isPermissionError(err error) bool {
	return errors.Is(err, nats.ErrPermissionViolation) || strings.Contains(strings.ToLower(fmt.Sprint(err)), "permissions violation")
}

// refused reports whether a JetStream API call fails; a denied request gets
// no answer, so each try has a short deadline of its own.
func refused(ctx context.Context, try func(context.Context) error) bool {
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return try(short) != nil
}

// followRules reads every rule a resource server can see, with exactly
// the consumer the verifier creates.
func followRules(ctx context.Context, t *testing.T, nc *nats.Conn, realm string) []domain.RevocationRule {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Hour)
	cons, err := js.OrderedConsumer(ctx, eventstore.StreamName(realm), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"lk." + realm + ".revocations"},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &since,
	})
	if err != nil {
		t.Fatalf("%s's consumer on its own rules: %v", realm, err)
	}
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var out []domain.RevocationRule
	for m := range batch.Messages() {
		var r domain.RevocationRule
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			t.Fatalf("rule %q: %v", m.Data(), err)
		}
		out = append(out, r)
	}
	return out
}
