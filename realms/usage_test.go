package realms_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// TestTokenUseNamesTheUserItWasFor: a token.used event of a user's token
// carries the user in on_behalf_of, one of a client's own token does not;
// either one counts as the client's last use.
func TestTokenUseNamesTheUserItWasFor(t *testing.T) {
	_, _, rl := acmeRealm(t, realms.AuditConfig{CheckpointEvery: -1})
	ctx := context.Background()
	if _, ok := rl.Clients().LastUsed("c1"); ok {
		t.Fatal("a client without tokens has a last use")
	}
	issued := time.Now().Add(-time.Hour).Truncate(time.Second)
	meta := sysMeta()
	meta.Time, meta.ClientID = issued, "c1"
	own, err := rl.IssueAccessToken(ctx, domain.ClientRef("c1"), domain.GrantClientCredentials,
		realms.TokenRequest{ClientID: "c1", Subject: "c1", Lifetime: 7200}, meta)
	if err != nil {
		t.Fatal(err)
	}
	delegated, err := rl.IssueAccessToken(ctx, domain.GrantRef("g1"), domain.GrantAuthorizationCode,
		realms.TokenRequest{ClientID: "c1", Subject: "user-1", Lifetime: 7200}, meta)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tok := range []realms.IssuedToken{own, delegated} {
		// Issued an hour ago, so a lookup does not wait for the read
		// models: wait here.
		deadline := time.Now().Add(5 * time.Second)
		info, ok, err := rl.Tokens().Introspect(ctx, tok.Token, now)
		for ; err == nil && !ok && time.Now().Before(deadline); info, ok, err = rl.Tokens().Introspect(ctx, tok.Token, now) {
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Fatal("issued token not found")
		}
		rl.Tokens().Touch(info, now)
	}
	rl.FlushUsage(ctx)
	events, err := rl.History().Events(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	onBehalfOf := map[string]string{}
	for _, env := range events {
		if env.Type != domain.TypeTokenUsed {
			continue
		}
		p, err := env.Payload()
		if err != nil {
			t.Fatal(err)
		}
		onBehalfOf[p.(domain.TokenUsed).JTI] = env.OnBehalfOf
		if err := rl.WaitFor(ctx, env.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if len(onBehalfOf) != 2 || onBehalfOf[own.Claims.ID] != "" || onBehalfOf[delegated.Claims.ID] != "user-1" {
		t.Errorf("token.used on_behalf_of by jti = %v; want none for the client's own token, user-1 for the user's", onBehalfOf)
	}
	if last, ok := rl.Clients().LastUsed("c1"); !ok || last != now.Unix() {
		t.Errorf("client's last use = %d (%v), want the use at %d", last, ok, now.Unix())
	}
}
