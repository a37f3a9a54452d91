package realms

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
)

// consoleReplicas are two registries on one store, as two replicas, with
// console sessions, realm acme and its user alice.
func consoleReplicas(t *testing.T) (a, b *Realm, alice *domain.User) {
	t.Helper()
	srv := estest.Start(t, t.TempDir())
	ctx := context.Background()
	regA := replicaOn(t, srv, "https://id.example.test")
	rl, err := regA.Create(ctx, "acme", testMeta())
	if err != nil {
		t.Fatal(err)
	}
	regB := replicaOn(t, srv, "https://id.example.test")
	for _, reg := range []*Registry{regA, regB} {
		sessions, err := OpenConsoleSessions(ctx, srv.Store, make([]byte, 32))
		if err != nil {
			t.Fatal(err)
		}
		reg.UseConsoleSessions(sessions)
	}
	alice, err = rl.Users().Create(ctx, NewUser{UserProfile: domain.UserProfile{Username: "alice"}}, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	rlB, err := regB.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	return rl, rlB, alice
}

// consoleCode signs alice in on rl and issues the console a code.
func consoleCode(t *testing.T, rl *Realm, alice *domain.User, verifier string) (string, *domain.Session) {
	t.Helper()
	ctx := context.Background()
	_, s, err := rl.Sessions().Create(ctx, alice, BrowserInfo{}, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(verifier))
	code, err := rl.Grants().IssueCode(ctx, domain.CodeIssued{
		ClientID: domain.ConsoleClientID, UserID: alice.ID, RedirectURI: rl.Console().Callback(), Scope: "openid management",
		Challenge: base64.RawURLEncoding.EncodeToString(sum[:]), Teams: []string{}, SessionID: s.SessionID,
	}, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	return code, s
}

func TestConsoleSessionAcrossReplicas(t *testing.T) {
	a, b, alice := consoleReplicas(t)
	ctx := context.Background()
	verifier := "verifier-of-the-console-0123456789-0123456789"
	code, browser := consoleCode(t, a, alice, verifier)
	if _, _, err := b.Console().SignIn(ctx, code, "another-verifier-0123456789-0123456789-012", testMeta()); err == nil {
		t.Fatal("a code redeemed with another verifier")
	}
	code, browser = consoleCode(t, a, alice, verifier)
	// Signed in through replica b, right after the sign-in on a.
	cookie, s, err := b.Console().SignIn(ctx, code, verifier, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	if s.UserID != alice.ID || s.BrowserSession != browser.SessionID || s.Access == "" || s.Refresh == "" {
		t.Fatalf("session %+v", s)
	}
	got, err := a.Console().Session(ctx, cookie, testMeta())
	if err != nil || got.Access != s.Access {
		t.Fatalf("replica a reads the session: %v", err)
	}
	id, _, _ := strings.Cut(cookie, ".")
	if _, err := a.Console().Session(ctx, id+".not-the-secret", testMeta()); !errors.Is(err, ErrConsoleSignedOut) {
		t.Fatalf("a cookie with another secret: %v", err)
	}

	// Near its access token's expiry, requests on both replicas at once
	// refresh it once: every one gets the same new token, and the grant
	// is not taken for a reused refresh token.
	later := time.Now().Add(time.Duration(domain.ConsoleAccessTokenLifetime-30) * time.Second)
	a.reg.UseClock(func() time.Time { return later })
	b.reg.UseClock(func() time.Time { return later })
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: later}
	var wg sync.WaitGroup
	tokens := make([]string, 8)
	errs := make([]error, 8)
	for i := range tokens {
		rl := a
		if i%2 == 1 {
			rl = b
		}
		wg.Go(func() {
			s, err := rl.Console().Session(ctx, cookie, meta)
			errs[i] = err
			if err == nil {
				tokens[i] = s.Access
			}
		})
	}
	wg.Wait()
	for i := range tokens {
		if errs[i] != nil || tokens[i] != tokens[0] || tokens[0] == s.Access {
			t.Fatalf("request %d: %v, token %.12s… (first %.12s…, before %.12s…)", i, errs[i], tokens[i], tokens[0], s.Access)
		}
	}
	g, _ := a.Grants().byRefreshToken(s.Refresh)
	if g == nil || g.Revoked || len(g.Rotated) != 1 {
		t.Fatalf("after concurrent requests the grant is %+v, want rotated once and live", g)
	}

	// Signing out on a ends it everywhere, with its grant and browser
	// session.
	fresh, _ := a.Console().Session(ctx, cookie, meta)
	if err := a.Console().SignOut(ctx, fresh, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Console().Session(ctx, cookie, meta); !errors.Is(err, ErrConsoleSignedOut) {
		t.Fatalf("after sign-out, replica b: %v", err)
	}
	if g, _ := a.Grants().byRefreshToken(fresh.Refresh); g == nil || !g.Revoked {
		t.Fatal("the console's grant survived the sign-out")
	}
	if bs, _ := a.models.Authz.Session(browser.SessionID); bs == nil || bs.Valid(later.Unix()) {
		t.Fatal("the browser session survived the sign-out")
	}
}

func TestConsoleSessionEndsWithItsBrowserSession(t *testing.T) {
	a, _, alice := consoleReplicas(t)
	ctx := context.Background()
	verifier := "verifier-of-the-console-0123456789-0123456789"
	code, browser := consoleCode(t, a, alice, verifier)
	cookie, s, err := a.Console().SignIn(ctx, code, verifier, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Sessions().End(ctx, browser.SessionID, "ended by an administrator", testMeta()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Console().Session(ctx, cookie, testMeta()); !errors.Is(err, ErrConsoleSignedOut) {
		t.Fatalf("a console session whose browser session ended: %v", err)
	}
	if g, _ := a.Grants().byRefreshToken(s.Refresh); g == nil || !g.Revoked {
		t.Fatal("its grant was not revoked")
	}
}
