package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/handlers"
	"github.com/latchkeyhq/latchkey/realms"
)

// signInWorld is the fixture with a user who can sign in and a public app
// to sign in to.
type signInWorld struct {
	*fixture
	app string
}

const (
	csrfCookieName = "LATCHKEY_CSRF"
	appRedirect    = "https://app.example.test/cb"
)

func newSignInWorld(t testing.TB) *signInWorld { return signInWorldOn(t, newFixture(t)) }

func signInWorldOn(t testing.TB, f *fixture) *signInWorld {
	t.Helper()
	ctx := context.Background()
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	if _, err := f.realm.Users().Create(ctx, realms.NewUser{UserProfile: domain.UserProfile{Username: "alice"}, Password: "correct horse battery"}, meta); err != nil {
		t.Fatal(err)
	}
	app, err := f.realm.Clients().Create(ctx, "", domain.ClientSettings{
		Name: "App", Type: domain.ClientPublic, Kind: domain.KindUserApp, RedirectURIs: []string{appRedirect}, Scopes: []string{"openid"},
	}, false, meta)
	if err != nil {
		t.Fatal(err)
	}
	return &signInWorld{fixture: f, app: app.Client.ID}
}

// authURL is an authorization request of the app.
func (w *signInWorld) authURL() string {
	return "/realms/acme/protocol/openid-connect/auth?" + url.Values{
		"client_id": {w.app}, "redirect_uri": {appRedirect}, "response_type": {"code"}, "scope": {"openid"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGjSstw-cM"}, "code_challenge_method": {"S256"},
	}.Encode()
}

var hiddenReq = regexp.MustCompile(`name="req" value="([^"]+)"`)

// loginPage asks for the sign-in page with the given CSRF cookie (none when
// empty) and returns the sealed request of its form and the CSRF cookie the
// answer sets ("" when it sets none).
func (w *signInWorld) loginPage(t *testing.T, e *echo.Echo, cookie string) (sealed, setCookie string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, w.authURL(), nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: csrfCookieName, Value: cookie})
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("sign-in page: %d %s", rec.Code, rec.Body)
	}
	m := hiddenReq.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no sealed request on the sign-in page:\n%s", rec.Body)
	}
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == csrfCookieName {
			setCookie = ck.Value
		}
	}
	return strings.ReplaceAll(m[1], "&#43;", "+"), setCookie
}

// signIn posts the sign-in form with a CSRF cookie and extra headers.
func (w *signInWorld) signIn(e *echo.Echo, sealed, cookie string, headers map[string]string) *httptest.ResponseRecorder {
	form := url.Values{"req": {sealed}, "username": {"alice"}, "password": {"correct horse battery"}}
	req := httptest.NewRequest(http.MethodPost, "/realms/acme/login-actions/authenticate", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: csrfCookieName, Value: cookie})
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// signedIn reports whether a sign-in answer let the user through: a
// redirect with a code, or the consent page.
func signedIn(rec *httptest.ResponseRecorder) bool {
	return rec.Code == http.StatusSeeOther || rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), "wants access")
}

func TestCSRFCookieChosenByTheBrowserIsRefused(t *testing.T) {
	t.Parallel()
	w := newSignInWorld(t)
	planted := strings.Repeat("a", 43) // long enough for the old check
	sealed, set := w.loginPage(t, w.e, planted)
	if set == "" || set == planted {
		t.Fatalf("the page adopted the browser's CSRF cookie (set %q)", set)
	}
	if rec := w.signIn(w.e, sealed, planted, nil); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "CSRF") {
		t.Fatalf("sign-in with the planted cookie: %d, want 403:\n%s", rec.Code, rec.Body)
	}
	// The same shape as the server's, with a MAC of the browser's choosing.
	id, exp, _ := strings.Cut(set, ".")
	exp, _, _ = strings.Cut(exp, ".")
	forged := id + "." + exp + "." + strings.Repeat("A", 43)
	if rec := w.signIn(w.e, sealed, forged, nil); rec.Code != http.StatusForbidden {
		t.Fatalf("sign-in with a forged MAC: %d, want 403", rec.Code)
	}
	if rec := w.signIn(w.e, sealed, set, nil); !signedIn(rec) {
		t.Fatalf("sign-in with the server's cookie: %d\n%s", rec.Code, rec.Body)
	}
}

func TestCSRFCookieOfAnotherBrowserIsRefused(t *testing.T) {
	t.Parallel()
	w := newSignInWorld(t)
	sealed, _ := w.loginPage(t, w.e, "")
	_, other := w.loginPage(t, w.e, "")
	if rec := w.signIn(w.e, sealed, other, nil); rec.Code != http.StatusForbidden {
		t.Fatalf("a form of one browser sent with another's cookie: %d, want 403", rec.Code)
	}
}

func TestCSRFCookieAboutToExpireIsRenewed(t *testing.T) {
	t.Parallel()
	w := newSignInWorld(t)
	now := time.Now()
	clock := func() time.Time { return now }
	e := handlers.New(handlers.Config{Registry: w.reg, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: clock})
	_, set := w.loginPage(t, e, "")
	// Shortly before it expires, the page renews it with the same id: a
	// form opened before the renewal still goes through.
	now = now.Add(realms.BrowserIDLifetime - 30*time.Minute)
	sealed, _ := w.loginPage(t, e, set)
	_, renewed := w.loginPage(t, e, set)
	if renewed == "" || renewed == set {
		t.Fatalf("a CSRF cookie about to expire was not renewed")
	}
	if rec := w.signIn(e, sealed, renewed, nil); !signedIn(rec) {
		t.Fatalf("a form opened before the renewal: %d\n%s", rec.Code, rec.Body)
	}
}

func TestSignInFromAnotherOriginIsRefused(t *testing.T) {
	t.Parallel()
	w := newSignInWorld(t)
	sealed, set := w.loginPage(t, w.e, "")
	for _, h := range []map[string]string{
		{"Origin": "https://evil.example"},
		{"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"},
		{"Origin": "null", "Sec-Fetch-Site": "cross-site"},
		{"Origin": "null", "Sec-Fetch-Site": "same-site"},
		{"Sec-Fetch-Site": "cross-site"},
	} {
		if rec := w.signIn(w.e, sealed, set, h); rec.Code != http.StatusForbidden {
			t.Errorf("sign-in with %v: %d, want 403", h, rec.Code)
		}
	}
	if rec := w.signIn(w.e, sealed, set, map[string]string{"Origin": testPublicURL, "Sec-Fetch-Site": "same-origin"}); !signedIn(rec) {
		t.Fatalf("sign-in from the public origin: %d\n%s", rec.Code, rec.Body)
	}
	// A page with Referrer-Policy: no-referrer posts with Origin: null;
	// Sec-Fetch-Site then says where it comes from.
	sealed, set = w.loginPage(t, w.e, "")
	if rec := w.signIn(w.e, sealed, set, map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}); !signedIn(rec) {
		t.Fatalf("sign-in from a no-referrer page of the public origin: %d\n%s", rec.Code, rec.Body)
	}
}

var hiddenCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestLogoutConfirmationNeedsTheServersToken(t *testing.T) {
	t.Parallel()
	w := newSignInWorld(t)
	get := httptest.NewRequest(http.MethodGet, "/realms/acme/protocol/openid-connect/logout", nil)
	rec := httptest.NewRecorder()
	w.e.ServeHTTP(rec, get)
	m := hiddenCSRF.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no CSRF token on the sign-out page:\n%s", rec.Body)
	}
	var cookie string
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == csrfCookieName {
			cookie = ck.Value
		}
	}
	confirm := func(token, cookie string) string {
		req := httptest.NewRequest(http.MethodPost, "/realms/acme/protocol/openid-connect/logout",
			strings.NewReader(url.Values{"confirm": {"yes"}, "csrf": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: csrfCookieName, Value: cookie})
		rec := httptest.NewRecorder()
		w.e.ServeHTTP(rec, req)
		return rec.Body.String()
	}
	// The cookie's value echoed as the token (the old double submit) is
	// no token; nor is a token with the cookie of another browser.
	planted := strings.Repeat("b", 40)
	if body := confirm(planted, planted); strings.Contains(body, "You are signed out") {
		t.Fatal("a browser-chosen value confirmed the sign-out")
	}
	_, other := w.loginPage(t, w.e, "")
	if body := confirm(m[1], other); strings.Contains(body, "You are signed out") {
		t.Fatal("a token of one browser confirmed the sign-out with another's cookie")
	}
	if body := confirm(m[1], cookie); !strings.Contains(body, "You are signed out") {
		t.Fatalf("the page's own token did not confirm the sign-out:\n%s", body)
	}
}
