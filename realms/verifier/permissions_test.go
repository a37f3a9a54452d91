package verifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/realms/verifier"
)

// startSecuredServer runs a real nats-server with JetStream and three users:
// latchkey (everything) and one resource server per realm, limited by
// verifier.Permissions.
func startSecuredServer(t *testing.T, realms ...string) *server.Server {
	t.Helper()
	users := []*server.User{{Username: "latchkey", Password: "lk"}}
	for _, r := range realms {
		pub, sub := verifier.Permissions(r)
		users = append(users, &server.User{
			Username: "rs-" + r, Password: "rs",
			Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: pub},
				Subscribe: &server.SubjectPermission{Allow: sub},
			},
		})
	}
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		Users: users, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

func connectAs(t *testing.T, ns *server.Server, user, pass string, opts ...nats.Option) (*nats.Conn, chan error) {
	t.Helper()
	asyncErrs := make(chan error, 16)
	nc, err := nats.Connect(ns.ClientURL(), append(opts, nats.UserInfo(user, pass),
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
	ns := startSecuredServer(t, "alpha", "beta")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	lk, _ := connectAs(t, ns, "latchkey", "lk")
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
		if _, err := store.AppendToken(ctx, realm, domain.ClientRef("c1"), meta, domain.TokenIssued{JTI: "secret-" + realm}); err != nil {
			t.Fatal(err)
		}
		rule := domain.RevocationRule{JTI: "revoked-in-" + realm, ForgetAfter: time.Now().Add(time.Hour).Unix()}
		if _, err := store.AppendRevocation(ctx, realm, domain.ClientRef("c1"), eventstore.AnyVersion, meta, domain.TokenRevoked{JTI: rule.JTI}, rule); err != nil {
			t.Fatal(err)
		}
	}

	// Beta's resource server follows beta's rules...
	beta, betaErrs := connectAs(t, ns, "rs-beta", "rs", nats.CustomInboxPrefix(verifier.InboxPrefix("beta")))
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
	// nor its own realm's other events (token events are not for it),
	if !refused(ctx, consumerOn("LK_BETA", "lk.beta.>")) {
		t.Fatal("beta created a consumer on all of its realm's events")
	}
	// The same call on its own rules works, so the refusals above are the
	// permissions at work and not a broken call.
	if refused(ctx, consumerOn("LK_BETA", "lk.beta.revocations")) {
		t.Fatal("beta could not read its own rules with the same call")
	}
	// nor alpha's live subjects, nor the shared inbox where Latchkey's own
	// replies (other realms' events among them) travel.
	for _, subject := range []string{"lk.alpha.>", "_INBOX.>"} {
		sub, err := beta.SubscribeSync(subject)
		if err != nil {
			continue
		}
		_ = beta.Flush()
		select {
		case err := <-betaErrs:
			if !isPermissionError(err) {
				t.Fatalf("unexpected async error %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("subscribing to %s was not refused", subject)
		}
		_ = sub.Unsubscribe()
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
