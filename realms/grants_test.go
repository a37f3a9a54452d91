package realms_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// TestRevokeGrantWinsOverConcurrentRefreshes: a grant whose version keeps
// moving (its client refreshing as fast as it can) is still revoked: the
// expected-version write that keeps concurrent revocations from
// duplicating must not let a busy grant escape revocation.
func TestRevokeGrantWinsOverConcurrentRefreshes(t *testing.T) {
	srv, _, rl := acmeRealm(t, realms.AuditConfig{CheckpointEvery: -1})
	ctx := context.Background()
	ref := domain.GrantRef("g1")
	seq, err := srv.Store.Append(ctx, "acme", ref, 0, sysMeta(),
		domain.GrantCreated{GrantID: "g1", ClientID: "c", UserID: "u", RefreshHash: "h0", RefreshExpires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.WaitFor(ctx, seq); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() { // rotations, each at the version the last one returned, as a sequential refresher writes them
		defer close(done)
		v := seq
		for !stop.Load() {
			s, err := srv.Store.Append(ctx, "acme", ref, v, sysMeta(), domain.GrantRefreshed{RefreshHash: "h", RefreshExpires: time.Now().Add(time.Hour).Unix()})
			if err != nil {
				return // revoked under it
			}
			v = s
		}
	}()
	time.Sleep(50 * time.Millisecond)
	err = rl.Grants().Revoke(ctx, "g1", "refresh token reused", sysMeta())
	stop.Store(true)
	<-done
	if err != nil {
		t.Fatalf("RevokeGrant while the grant is being refreshed: %v", err)
	}
	if g, _ := rl.Models().Authz.Grant("g1"); !g.Revoked {
		t.Fatal("RevokeGrant returned, and the grant is not revoked")
	}
}

// TestRefreshRotationIsStampedByTheRegistryClock: a refresh token's
// rotation time, which tells a concurrent use from a later reuse, comes
// from the registry's clock, not the machine's.
func TestRefreshRotationIsStampedByTheRegistryClock(t *testing.T) {
	srv, reg, rl := acmeRealm(t, realms.AuditConfig{CheckpointEvery: -1})
	ctx := context.Background()
	at := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	reg.UseClock(func() time.Time { return at })
	app, err := rl.Clients().Create(ctx, "", domain.ClientSettings{Name: "app", Kind: domain.KindUserApp, Type: domain.ClientPublic,
		GrantTypes: []string{domain.GrantAuthorizationCode, domain.GrantRefreshToken}, IssueRefreshTokens: true,
		RedirectURIs: []string{"https://app.example.test/cb"}, Scopes: []string{"read"}}, false, sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	user, err := rl.Users().Create(ctx, realms.NewUser{UserProfile: domain.UserProfile{Username: "alice"}}, sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	const token = "g1.a-refresh-token-secret"
	seq, err := srv.Store.Append(ctx, "acme", domain.GrantRef("g1"), 0, sysMeta(), domain.GrantCreated{GrantID: "g1", ClientID: app.Client.ID,
		UserID: user.ID, Scope: "read", RefreshHash: domain.HashSecret(token), RefreshExpires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.WaitFor(ctx, seq); err != nil {
		t.Fatal(err)
	}
	if _, err := rl.Grants().Refresh(ctx, realms.ClientAuth{Method: domain.AuthNone, ClientID: app.Client.ID, PublicAllowed: true}, token, "", "", "", sysMeta()); err != nil {
		t.Fatal(err)
	}
	g, _ := rl.Models().Authz.Grant("g1")
	if len(g.Rotated) != 1 || g.Rotated[0].AtMs != at.UnixMilli() {
		t.Fatalf("rotations %+v, want one stamped %d (the registry's clock)", g.Rotated, at.UnixMilli())
	}
}

// TestFailedRedemptionSpendsTheCode: a code presented with the wrong PKCE
// verifier or redirect URI is spent, so that the right redemption after it
// (the thief's guess, or the victim's) fails too (RFC 9700 §4.5); with no
// grant, nothing is revoked.
func TestFailedRedemptionSpendsTheCode(t *testing.T) {
	_, _, rl := acmeRealm(t, realms.AuditConfig{CheckpointEvery: -1})
	ctx := context.Background()
	app, err := rl.Clients().Create(ctx, "", domain.ClientSettings{Name: "app", Kind: domain.KindUserApp, Type: domain.ClientPublic,
		GrantTypes: []string{domain.GrantAuthorizationCode}, RedirectURIs: []string{"https://app.example.test/cb"}, Scopes: []string{"read"}}, false, sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	user, err := rl.Users().Create(ctx, realms.NewUser{UserProfile: domain.UserProfile{Username: "alice"}}, sysMeta())
	if err != nil {
		t.Fatal(err)
	}
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 appendix B
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	for _, tc := range []struct{ name, redirect, verifier, want string }{
		{"a wrong verifier", "https://app.example.test/cb", "x" + verifier[1:], "code_verifier does not match the code_challenge"},
		{"a wrong redirect URI", "https://evil.example.test/cb", verifier, "redirect_uri does not match the authorization request"},
		{"no verifier", "https://app.example.test/cb", "", "code_verifier does not match the code_challenge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := rl.Grants().IssueCode(ctx, domain.CodeIssued{ClientID: app.Client.ID, UserID: user.ID,
				RedirectURI: "https://app.example.test/cb", Scope: "read", Challenge: challenge}, sysMeta())
			if err != nil {
				t.Fatal(err)
			}
			_, err = rl.Grants().RedeemCode(ctx, publicAuth(app.Client.ID), code, tc.redirect, tc.verifier, "", "", sysMeta())
			wantGrantError(t, err, tc.want)
			_, err = rl.Grants().RedeemCode(ctx, publicAuth(app.Client.ID), code, "https://app.example.test/cb", verifier, "", "", sysMeta())
			wantGrantError(t, err, "the authorization code was spent by a failed redemption")
		})
	}
}

func wantGrantError(t *testing.T, err error, desc string) {
	t.Helper()
	oerr, ok := err.(*domain.OAuthError)
	if !ok || oerr.Code != domain.ErrInvalidGrant || oerr.Description != desc {
		t.Fatalf("error %v, want invalid_grant: %s", err, desc)
	}
}

// publicAuth is how a public client identifies itself: its client_id alone.
func publicAuth(id string) realms.ClientAuth {
	return realms.ClientAuth{Method: domain.AuthNone, ClientID: id, PublicAllowed: true}
}
