package realms_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
	"github.com/latchkeyhq/latchkey/realms"
)

// deviceSetup starts a device authorization of a new public client on rl:
// its codes and the client's authentication.
func deviceSetup(t *testing.T, rl *realms.Realm) (realms.DeviceCodes, realms.ClientAuth) {
	t.Helper()
	ctx := context.Background()
	created, err := rl.Clients().Create(ctx, "", domain.ClientSettings{
		Name: "cli", Type: domain.ClientPublic, Kind: domain.KindUserApp,
		GrantTypes: []string{domain.GrantDeviceCode}, Scopes: []string{"read"},
	}, false, sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	auth := realms.ClientAuth{Method: domain.AuthNone, ClientID: created.Client.ID, PublicAllowed: true}
	codes, err := rl.Devices().Authorize(ctx, auth, "read", nil, eventstore.Meta{Actor: eventstore.ClientActor(created.Client.ID), ClientID: created.Client.ID, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return codes, auth
}

// Wrong user codes count on the counters every replica shares: past the
// realm's limit, reached by guesses from many addresses on two replicas,
// every entry on either is refused for a while, the right code too.
func TestUserCodeGuessesCountAcrossReplicas(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	l := realms.DefaultLimits()
	l.UserCodeRealm = domain.Limit{Max: 4, Window: 60}
	_, one := limitedRegistry(t, srv, l)
	_, two := limitedRegistry(t, srv, l)
	codes, _ := deviceSetup(t, one)
	ctx := context.Background()
	for i, rl := range []*realms.Realm{one, two, one, two} {
		if _, err := rl.Devices().ByUserCode(ctx, "BBBB-BBBB", fmt.Sprint("192.0.2.", i), time.Now()); !errors.Is(err, realms.ErrUserCodeUnknown) {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
	}
	for _, rl := range []*realms.Realm{one, two} {
		var lerr *domain.LimitError
		if _, err := rl.Devices().ByUserCode(ctx, codes.UserCode, "198.51.100.7", time.Now()); !errors.As(err, &lerr) || lerr.RetryAfter <= 0 {
			t.Fatalf("the right code after the realm's limit of wrong ones: %v, want a limit error", err)
		}
	}
}

// Of two answers to one device authorization at once, on two replicas,
// one is recorded and the other is told the code was used.
func TestDeviceAnsweredOnce(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	_, one := limitedRegistry(t, srv, realms.DefaultLimits())
	_, two := limitedRegistry(t, srv, realms.DefaultLimits())
	codes, _ := deviceSetup(t, one)
	ctx := context.Background()
	d, err := two.Devices().ByUserCode(ctx, codes.UserCode, "192.0.2.1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	session := &domain.Session{SessionCreated: domain.SessionCreated{SessionID: "browser-session", ExpiresAt: time.Now().Unix() + domain.UISessionLifetime}}
	bob, err := one.Users().Get(userID(t, one, "bob"))
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, rl := range []*realms.Realm{one, two} {
		wg.Go(func() {
			if i == 0 {
				errs[i] = rl.Devices().Approve(ctx, d.ID, bob, session, []string{"read"}, nil, sysMeta())
			} else {
				errs[i] = rl.Devices().Deny(ctx, d.ID, bob, sysMeta())
			}
		})
	}
	wg.Wait()
	answered, refused := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			answered++
		case errors.Is(err, domain.ErrDeviceAnswered):
			refused++
		default:
			t.Fatalf("an answer failed otherwise: %v", err)
		}
	}
	if answered != 1 || refused != 1 {
		t.Fatalf("two answers at once: %v, want one recorded and one refused", errs)
	}
}

// A device code is redeemed exactly once, whichever replica each poll
// reaches: two registries on one store take many polls at once after the
// user's approval; one gets the tokens, every other is refused with an
// OAuth error, and the stream holds one device.redeemed and one grant.
func TestDeviceCodeRedeemedOnceAcrossReplicas(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	_, one := limitedRegistry(t, srv, realms.DefaultLimits())
	_, two := limitedRegistry(t, srv, realms.DefaultLimits())
	ctx := context.Background()
	codes, auth := deviceSetup(t, one)
	meta := func() eventstore.Meta {
		return eventstore.Meta{Actor: eventstore.ClientActor(auth.ClientID), ClientID: auth.ClientID, Time: time.Now()}
	}
	// The user answers on the other replica.
	d, err := two.Devices().ByUserCode(ctx, codes.UserCode, "192.0.2.1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bob, err := two.Users().Get(userID(t, two, "bob"))
	if err != nil {
		t.Fatal(err)
	}
	session := &domain.Session{SessionCreated: domain.SessionCreated{SessionID: "browser-session", ExpiresAt: time.Now().Unix() + domain.UISessionLifetime}}
	if err := two.Devices().Approve(ctx, d.ID, bob, session, []string{"read"}, nil, sysMeta()); err != nil {
		t.Fatal(err)
	}

	const polls = 16
	var (
		mu      sync.Mutex
		issued  int
		refused []string
		wg      sync.WaitGroup
	)
	start := make(chan struct{})
	for i := range polls {
		rl := one
		if i%2 == 1 {
			rl = two
		}
		wg.Go(func() {
			<-start
			set, err := rl.Devices().Token(ctx, auth, codes.DeviceCode, "", meta())
			mu.Lock()
			defer mu.Unlock()
			var oerr *domain.OAuthError
			switch {
			case err == nil && set.Access.Token != "":
				issued++
			case errors.As(err, &oerr):
				refused = append(refused, oerr.Code)
			default:
				t.Errorf("a poll failed otherwise: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if issued != 1 || len(refused) != polls-1 {
		t.Fatalf("%d polls at once on two replicas: %d issued, refused %v; want exactly one issued", polls, issued, refused)
	}
	for _, code := range refused {
		if code != domain.ErrInvalidGrant {
			t.Errorf("a losing poll was refused with %s, want invalid_grant", code)
		}
	}
	evs, err := one.History().Events(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, e := range evs {
		counts[e.Type]++
	}
	if counts[domain.TypeDeviceRedeemed] != 1 || counts[domain.TypeGrantCreated] != 1 {
		t.Fatalf("events: %d device.redeemed, %d grant.created; want one each", counts[domain.TypeDeviceRedeemed], counts[domain.TypeGrantCreated])
	}
}
