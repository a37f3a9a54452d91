package realms_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
	"github.com/latchkeyhq/latchkey/realms"
)

// A device code is redeemed exactly once, whichever replica each poll
// reaches: two registries on one store take many polls at once after the
// user's approval; one gets the tokens, every other is refused with an
// OAuth error, and the stream holds one device.redeemed and one grant.
func TestDeviceCodeRedeemedOnceAcrossReplicas(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	_, one := limitedRegistry(t, srv, realms.DefaultLimits())
	_, two := limitedRegistry(t, srv, realms.DefaultLimits())
	ctx := context.Background()
	created, err := one.Clients().Create(ctx, "", domain.ClientSettings{
		Name: "cli", Type: domain.ClientPublic, Kind: domain.KindUserApp,
		GrantTypes: []string{domain.GrantDeviceCode}, Scopes: []string{"read"},
	}, false, sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	auth := realms.ClientAuth{Method: domain.AuthNone, ClientID: created.Client.ID, PublicAllowed: true}
	meta := func() eventstore.Meta {
		return eventstore.Meta{Actor: eventstore.ClientActor(created.Client.ID), ClientID: created.Client.ID, Time: time.Now()}
	}
	codes, err := one.Devices().Authorize(ctx, auth, "read", nil, meta())
	if err != nil {
		t.Fatal(err)
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
