package realms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// The console is an OAuth client of the realm it manages
// (domain.ConsoleClientID), created with the realm; realms older than the
// console get theirs when a server starts (EnsureConsoles).

// consoleClient is the creation of the console client of a new realm whose
// first events define the scopes of catalog; false when the public URL
// cannot be its redirect URI (the realm then has no console, and a warning
// says why).
func (r *Registry) consoleClient(realm string, catalog domain.Catalog) (domain.ClientCreated, bool) {
	ev, err := domain.DecideConsoleClient(r.publicURL, realm, catalog)
	if err != nil {
		r.log.Warn("realm created without a console: its callback under the public URL is not a valid redirect URI (use https, or a loopback address)",
			"realm", realm, "err", err)
		return domain.ClientCreated{}, false
	}
	return ev, true
}

// EnsureConsoles gives every realm its console client, or puts the current
// public URL's callback into it. It is idempotent, and replicas running it
// at once agree: the client has a fixed id and is created at version 0,
// so one creation wins and the others find it; an update of the callback
// is decided again on the winner's state and then changes nothing.
func (r *Registry) EnsureConsoles(ctx context.Context, meta eventstore.Meta) error {
	var errs []error
	for _, rl := range r.List() {
		if err := rl.ensureConsole(ctx, meta); err != nil {
			errs = append(errs, fmt.Errorf("the console client of realm %s: %w", rl.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (rl *Realm) ensureConsole(ctx context.Context, meta eventstore.Meta) error {
	want, err := domain.DecideConsoleClient(rl.reg.publicURL, rl.Name, rl.state().Scopes)
	if err != nil {
		rl.reg.log.Warn("realm without a console: its callback under the public URL is not a valid redirect URI (use https, or a loopback address)",
			"realm", rl.Name, "err", err)
		return nil
	}
	cs := rl.Clients()
	if c, err := cs.Get(domain.ConsoleClientID); err == nil {
		if slices.Equal(c.RedirectURIs, want.RedirectURIs) {
			return nil
		}
		_, _, err := cs.Update(ctx, c.ID, Condition{}, false, meta, func(s domain.ClientSettings) (domain.ClientSettings, error) {
			s.RedirectURIs = want.RedirectURIs
			return s, nil
		})
		return err
	}
	_, err = cs.create(ctx, domain.ConsoleClientID, want.ClientSettings, "", false, meta)
	if errors.Is(err, domain.ErrAlreadyExists) {
		return nil // another replica made it (or it was deleted before deletion was refused)
	}
	return err
}

// consoleAuth is how the console authenticates as its client: a public
// client, by its id (the code's PKCE verifier proves the rest).
var consoleAuth = ClientAuth{Method: domain.AuthNone, ClientID: domain.ConsoleClientID, PublicAllowed: true}

// Console is a realm's console: its client and its users' sessions
// (console_sessions.go).
type Console struct{ rl *Realm }

// Console is the realm's console.
func (rl *Realm) Console() Console { return Console{rl} }

// Available reports whether the console can sign this realm's users in:
// a session store, and the console's client enabled.
func (cn Console) Available() bool {
	c, err := cn.rl.Clients().Get(domain.ConsoleClientID)
	return cn.rl.reg.consoleSessions != nil && err == nil && c.Enabled()
}

// Callback is the console's redirect URI in this realm.
func (cn Console) Callback() string { return domain.ConsoleCallback(cn.rl.reg.publicURL, cn.rl.Name) }

// SignIn redeems a code the console's callback received, as the console's
// client (the verifier proves the request was the console's), and opens a
// console session holding the tokens. It returns the session's cookie
// value.
func (cn Console) SignIn(ctx context.Context, code, verifier string, meta eventstore.Meta) (string, *ConsoleSession, error) {
	rl := cn.rl
	store := rl.reg.consoleSessions
	if store == nil {
		return "", nil, ErrConsoleSignedOut
	}
	set, err := rl.Grants().RedeemCode(ctx, consoleAuth, code, cn.Callback(), verifier, "", "", meta)
	if err != nil {
		return "", nil, err
	}
	info, found, err := rl.Tokens().Introspect(ctx, set.Access.Token, meta.Time)
	if err != nil {
		return "", nil, err
	}
	if !found {
		return "", nil, ErrConsoleSignedOut
	}
	g, _ := rl.Grants().byRefreshToken(set.Refresh)
	id, cookie, err := newCredential()
	if err != nil {
		return "", nil, err
	}
	_, secret, _ := strings.Cut(cookie, ".")
	s := &ConsoleSession{
		ID: id, Realm: rl.Name, UserID: info.Subject, SecretHash: domain.HashSecret(secret),
		Access: set.Access.Token, AccessExp: set.Access.Claims.ExpiresAt.Unix(), Refresh: set.Refresh,
		Created: meta.Time.Unix(), Expires: meta.Time.Unix() + domain.UISessionLifetime,
	}
	if g != nil {
		s.BrowserSession = g.SessionID
	}
	if err := store.put(ctx, s); err != nil {
		return "", nil, err
	}
	return cookie, s, nil
}

// Session opens the console session a cookie names, with an access token
// valid for at least a minute more: a token about to expire is refreshed
// (by one request at a time across replicas; the others wait for its
// result). A session whose browser session, tokens or user are gone is
// ended, and the answer is ErrConsoleSignedOut.
func (cn Console) Session(ctx context.Context, cookie string, meta eventstore.Meta) (*ConsoleSession, error) {
	rl := cn.rl
	store := rl.reg.consoleSessions
	id, secret, ok := strings.Cut(cookie, ".")
	if store == nil || !ok || !domain.IsValidName(id) {
		return nil, ErrConsoleSignedOut
	}
	s, err := store.get(ctx, rl.Name, id)
	if err != nil {
		return nil, err
	}
	if !hashesMatch(s.SecretHash, domain.HashSecret(secret)) {
		return nil, ErrConsoleSignedOut
	}
	for attempt := 0; ; attempt++ {
		now := rl.reg.now()
		if !cn.live(ctx, s, now.Unix()) {
			cn.end(ctx, s, "console session expired", meta)
			return nil, ErrConsoleSignedOut
		}
		if time.Unix(s.AccessExp, 0).Sub(now) > consoleRefreshMargin {
			return s, nil
		}
		if attempt == 50 {
			return nil, eventstore.ErrUnavailable
		}
		if s.RefreshingUntil <= now.Unix() {
			claimed := *s
			claimed.RefreshingUntil = now.Add(consoleRefreshClaim).Unix()
			if store.put(ctx, &claimed) == nil {
				return cn.refresh(ctx, &claimed, meta)
			}
		}
		// Another request refreshes (or just did): read its result.
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		if s, err = store.get(ctx, rl.Name, id); err != nil {
			return nil, err
		}
	}
}

// live reports whether a session may still be used at now: not expired,
// and its browser session still valid. A browser session this replica has
// not seen yet (the sign-in happened on another one a moment ago) is
// looked for again after catching up with the stream.
func (cn Console) live(ctx context.Context, s *ConsoleSession, now int64) bool {
	if now >= s.Expires {
		return false
	}
	authz := cn.rl.models.Authz
	b, ok := authz.Session(s.BrowserSession)
	if !ok && cn.rl.catchUp(ctx) == nil {
		b, ok = authz.Session(s.BrowserSession)
	}
	return ok && b.Valid(now)
}

// refresh exchanges a claimed session's refresh token, as the console's
// client, and stores the new tokens.
func (cn Console) refresh(ctx context.Context, s *ConsoleSession, meta eventstore.Meta) (*ConsoleSession, error) {
	rl := cn.rl
	meta.Actor, meta.ClientID = eventstore.ClientActor(domain.ConsoleClientID), domain.ConsoleClientID
	set, err := rl.Grants().Refresh(ctx, consoleAuth, s.Refresh, "", "", "", meta)
	var oerr *domain.OAuthError
	if errors.As(err, &oerr) {
		cn.end(ctx, s, "console tokens refused", meta)
		return nil, ErrConsoleSignedOut
	}
	if err != nil {
		return nil, err
	}
	s.Access, s.AccessExp, s.Refresh, s.RefreshingUntil = set.Access.Token, set.Access.Claims.ExpiresAt.Unix(), set.Refresh, 0
	if err := rl.reg.consoleSessions.put(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// SignOut ends a console session: its refresh token and every access token
// of its grant are revoked, the browser session it signed in with ends,
// and the session is gone from the store.
func (cn Console) SignOut(ctx context.Context, s *ConsoleSession, meta eventstore.Meta) error {
	rl := cn.rl
	if g, ok := rl.Grants().byRefreshToken(s.Refresh); ok {
		if err := rl.Grants().Revoke(ctx, g.GrantID, "signed out of the console", meta); err != nil {
			return err
		}
	}
	if err := rl.Sessions().End(ctx, s.BrowserSession, "signed out of the console", meta); err != nil && !errors.Is(err, domain.ErrNotFound) {
		return err
	}
	return rl.reg.consoleSessions.delete(ctx, s)
}

// end drops a session that can no longer be used, revoking what is left
// of its tokens; failures are logged (the session is refused anyway).
func (cn Console) end(ctx context.Context, s *ConsoleSession, reason string, meta eventstore.Meta) {
	rl := cn.rl
	if g, ok := rl.Grants().byRefreshToken(s.Refresh); ok && !g.Revoked {
		if err := rl.Grants().Revoke(ctx, g.GrantID, reason, meta); err != nil {
			rl.reg.log.Warn("console session's grant not revoked", "realm", rl.Name, "request_id", meta.RequestID, "err", err)
		}
	}
	if err := rl.reg.consoleSessions.delete(ctx, s); err != nil {
		rl.reg.log.Warn("console session not removed", "realm", rl.Name, "request_id", meta.RequestID, "err", err)
	}
}

// ConsoleLogin is a console sign-in in flight, between the console's
// redirect to the realm's sign-in and its callback: carried by the browser
// in a cookie, sealed so that it can neither read nor change it.
type ConsoleLogin struct {
	State    string `json:"s"`
	Verifier string `json:"v"`
	// Next is the console page to go to once signed in.
	Next      string `json:"n"`
	ExpiresAt int64  `json:"e"`
}

// SealLogin seals a sign-in in flight, valid for as long as a sign-in page
// is (pendingLifetime).
func (cn Console) SealLogin(l ConsoleLogin, now time.Time) (string, error) {
	l.ExpiresAt = now.Add(pendingLifetime).Unix()
	raw, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	return cn.rl.reg.keys.seal("console-login:"+cn.rl.Name, raw)
}

// OpenLogin unseals a sign-in in flight of this realm's console; false when
// it was altered, is another realm's or expired.
func (cn Console) OpenLogin(sealed string, now time.Time) (ConsoleLogin, bool) {
	raw, err := cn.rl.reg.keys.unseal("console-login:"+cn.rl.Name, sealed)
	if err != nil {
		return ConsoleLogin{}, false
	}
	var l ConsoleLogin
	if json.Unmarshal(raw, &l) != nil || now.Unix() >= l.ExpiresAt {
		return ConsoleLogin{}, false
	}
	return l, true
}
