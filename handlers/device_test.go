package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/projections"
	"github.com/latchkeyhq/latchkey/realms"
)

// deviceClient is a public CLI client with the device grant and refresh
// tokens.
func (w *world) deviceClient() string {
	id, _ := w.client(domain.ClientSettings{
		Name: "acme-cli", Type: domain.ClientPublic, Kind: domain.KindUserApp,
		GrantTypes: []string{domain.GrantDeviceCode, domain.GrantRefreshToken}, IssueRefreshTokens: true,
		Scopes: []string{domain.ScopeOpenID, "read"},
	})
	return id
}

// deviceStart is a device authorization response.
type deviceStart struct {
	deviceCode, userCode, verification, complete string
	expiresIn, interval                          float64
}

func (w *world) startDevice(clientID string, set func(*http.Request)) deviceStart {
	w.t.Helper()
	a := w.post(w.endpoint("/protocol/openid-connect/auth/device"), url.Values{"client_id": {clientID}, "scope": {"openid read"}}, set)
	if a.status != http.StatusOK {
		w.t.Fatalf("device authorization: %d %s", a.status, a.body)
	}
	m := a.json(w.t)
	return deviceStart{
		deviceCode: m["device_code"].(string), userCode: m["user_code"].(string),
		verification: m["verification_uri"].(string), complete: m["verification_uri_complete"].(string),
		expiresIn: m["expires_in"].(float64), interval: m["interval"].(float64),
	}
}

// poll is one token request of the device.
func (w *world) poll(clientID, deviceCode string, set func(*http.Request)) answer {
	w.t.Helper()
	return w.post(w.endpoint("/protocol/openid-connect/token"), url.Values{
		"grant_type": {domain.GrantDeviceCode}, "client_id": {clientID}, "device_code": {deviceCode},
	}, set)
}

// wantError fails unless a is an OAuth error answer of status and code.
func wantError(t *testing.T, what string, a answer, status int, code string) {
	t.Helper()
	if a.status != status || a.oauthError(t) != code {
		t.Fatalf("%s: %d %s, want %d %s", what, a.status, a.body, status, code)
	}
}

// enterCode plays bob on the verification page: the code as typed, a
// sign-in, and the consent page, answered with action (approve, deny). It
// returns the last page.
func (b *browser) enterCode(typed, action string) answer {
	t := b.w.t
	t.Helper()
	page := b.w.endpoint("/device")
	form := b.get(page)
	if form.status != http.StatusOK {
		t.Fatalf("verification page: %d %s", form.status, form.body)
	}
	f := hidden(t, form)
	f.Set("user_code", typed)
	login := b.post(page, f)
	if login.status != http.StatusOK {
		t.Fatalf("code %q entered: %d %s", typed, login.status, login.body)
	}
	f = hidden(t, login)
	f.Set("username", "bob")
	f.Set("password", bobPassword)
	consent := b.post(b.w.endpoint("/login-actions/authenticate"), f)
	if consent.status != http.StatusOK {
		t.Fatalf("sign-in: %d %s", consent.status, consent.body)
	}
	contains(t, consent, "wants access")
	f = hidden(t, consent)
	f.Set("action", action)
	return b.post(b.w.endpoint("/login-actions/consent"), f)
}

var userCodeShape = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

// The device flow end to end: the device gets its codes, polls
// (authorization_pending, then slow_down when too soon, the interval
// growing by 5 s and staying grown), the user types the code in lower case
// without its dash, signs in and allows on the consent page, which shows
// the code, and is told to return to the device; the device's next poll
// gets the tokens of the code flow; a second redemption is refused and
// revokes them; the audit log names the device flow.
func TestDeviceFlowEndToEnd(t *testing.T) {
	w := newWorld(t)
	cli := w.deviceClient()
	d := w.startDevice(cli, nil)
	if !userCodeShape.MatchString(d.userCode) || d.expiresIn != 600 || d.interval != 5 ||
		d.verification != w.endpoint("/device") || d.complete != d.verification+"?user_code="+d.userCode {
		t.Fatalf("device authorization: %+v", d)
	}

	wantError(t, "first poll", w.poll(cli, d.deviceCode, nil), http.StatusBadRequest, domain.ErrAuthorizationPending)
	w.clock.advance(2 * time.Second)
	wantError(t, "a poll 2 s later", w.poll(cli, d.deviceCode, nil), http.StatusBadRequest, domain.ErrSlowDown)
	w.clock.advance(6 * time.Second)
	// The interval is 10 s now: 6 s is too soon, though 5 s was the start.
	wantError(t, "a poll 6 s later", w.poll(cli, d.deviceCode, nil), http.StatusBadRequest, domain.ErrSlowDown)
	w.clock.advance(16 * time.Second)
	wantError(t, "a poll 16 s later", w.poll(cli, d.deviceCode, nil), http.StatusBadRequest, domain.ErrAuthorizationPending)

	b := w.browser()
	// verification_uri_complete fills the form in; the user still sends it.
	filled := b.get(d.complete)
	contains(t, filled, `value="`+d.userCode+`"`)
	typed := strings.ToLower(strings.ReplaceAll(d.userCode, "-", ""))
	done := b.enterCode(typed, "approve")
	if done.status != http.StatusOK {
		t.Fatalf("consent: %d %s", done.status, done.body)
	}
	contains(t, done, "You may return to your device")

	w.clock.advance(20 * time.Second)
	tokens := w.poll(cli, d.deviceCode, nil)
	if tokens.status != http.StatusOK {
		t.Fatalf("poll after approval: %d %s", tokens.status, tokens.body)
	}
	m := tokens.json(t)
	if m["token_type"] != "Bearer" || m["refresh_token"] == nil || m["id_token"] == nil || m["scope"] != "openid read" {
		t.Fatalf("device tokens: %s", tokens.body)
	}
	access := m["access_token"].(string)
	ui := w.get(w.endpoint("/protocol/openid-connect/userinfo"), func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+access) })
	if ui.status != http.StatusOK || ui.str(t, "sub") == "" {
		t.Fatalf("userinfo with the device's token: %d %s", ui.status, ui.body)
	}

	w.clock.advance(20 * time.Second)
	wantError(t, "the device code used twice", w.poll(cli, d.deviceCode, nil), http.StatusBadRequest, domain.ErrInvalidGrant)
	info, found, err := w.realm.Tokens().Introspect(context.Background(), access, w.clock.now())
	if err != nil || !found || info.Status == domain.StatusActive {
		t.Errorf("the token of a device code used twice: %+v found %v err %v, want revoked", info, found, err)
	}
	// Once answered, the code is spent on the verification page too.
	again := w.browser()
	form := again.get(w.endpoint("/device"))
	f := hidden(t, form)
	f.Set("user_code", d.userCode)
	contains(t, again.post(w.endpoint("/device"), f), realms.ErrUserCodeUnknown.Error())

	auditSays(t, w, "through the device flow")
}

// auditSays fails unless one of acme's audit lines says want.
func auditSays(t *testing.T, w *world, want string) {
	t.Helper()
	evs, err := w.realm.History().Events(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if strings.Contains(projections.AuditEntryOf(e).Summary, want) {
			return
		}
	}
	t.Fatalf("no audit line says %q", want)
}

// The device's polls after the user's answer or the code's end: denied is
// access_denied; a code past its 10 minutes is expired_token; a code of
// another client, or one never made, is invalid_grant.
func TestDevicePollingRefusals(t *testing.T) {
	w := newWorld(t)
	cli := w.deviceClient()

	denied := w.startDevice(cli, nil)
	done := w.browser().enterCode(denied.userCode, "deny")
	if done.status != http.StatusOK {
		t.Fatalf("deny: %d %s", done.status, done.body)
	}
	contains(t, done, "You may return to your device")
	wantError(t, "a denied code", w.poll(cli, denied.deviceCode, nil), http.StatusBadRequest, domain.ErrAccessDenied)

	other := w.deviceClient()
	wantError(t, "another client's code", w.poll(other, denied.deviceCode, nil), http.StatusBadRequest, domain.ErrInvalidGrant)
	wantError(t, "a made-up code", w.poll(cli, "0190b2a4-0000-7000-8000-000000000000.bogus", nil), http.StatusBadRequest, domain.ErrInvalidGrant)

	late := w.startDevice(cli, nil)
	w.clock.advance(10*time.Minute + time.Second)
	wantError(t, "an expired code", w.poll(cli, late.deviceCode, nil), http.StatusBadRequest, domain.ErrExpiredToken)
	b := w.browser()
	f := hidden(t, b.get(w.endpoint("/device")))
	f.Set("user_code", late.userCode)
	contains(t, b.post(w.endpoint("/device"), f), realms.ErrUserCodeUnknown.Error())

	// A client without the device grant gets no codes.
	web, secret := w.client(domain.ClientSettings{Name: "web", Kind: domain.KindUserApp, RedirectURIs: []string{"https://app.example.test/cb"}})
	a := w.post(w.endpoint("/protocol/openid-connect/auth/device"), url.Values{}, basicAuth(web, secret))
	wantError(t, "device authorization of a client without the grant", a, http.StatusBadRequest, domain.ErrUnauthorizedClient)
	a = w.post(w.endpoint("/protocol/openid-connect/auth/device"), url.Values{}, basicAuth(web, "wrong"))
	wantError(t, "device authorization with a wrong secret", a, http.StatusUnauthorized, domain.ErrInvalidClient)
}

// Guessing user codes gets nowhere: past the limit of wrong codes from
// one address, every entry from it is 429 with Retry-After, the right code
// too (the realm-wide limit counts the same way, over every address). A
// form without the browser's CSRF token is refused.
func TestUserCodeGuessingIsLimited(t *testing.T) {
	w := newWorld(t)
	l := realms.DefaultLimits()
	l.UserCodeSource = domain.Limit{Max: 3, Window: 600}
	if err := w.reg.SetLimits(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	cli := w.deviceClient()
	d := w.startDevice(cli, nil)
	b := w.browser()
	f := hidden(t, b.get(w.endpoint("/device")))
	for i := range 3 {
		f.Set("user_code", "BBBB-BBBB")
		if a := b.post(w.endpoint("/device"), f); a.status != http.StatusOK {
			t.Fatalf("wrong code %d: %d %s", i+1, a.status, a.body)
		}
	}
	f.Set("user_code", d.userCode)
	a := b.post(w.endpoint("/device"), f)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Fatalf("the right code after 3 wrong ones: %d %s, want 429 with Retry-After", a.status, a.body)
	}
	f.Set("csrf", "1.forged")
	if a := w.browser().post(w.endpoint("/device"), f); a.status != http.StatusForbidden {
		t.Fatalf("a code form without the browser's CSRF token: %d, want 403", a.status)
	}
}
