package handlers_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// consoleBrowser is a cookie-keeping client of the in-process server,
// at the public URL's origin.
type consoleBrowser struct {
	t   testing.TB
	e   *echo.Echo
	jar *cookiejar.Jar
}

func newConsoleBrowser(t testing.TB, e *echo.Echo) *consoleBrowser {
	jar, _ := cookiejar.New(nil)
	return &consoleBrowser{t: t, e: e, jar: jar}
}

// do sends a request and keeps the cookies of the answer.
func (b *consoleBrowser) do(method, path string, form url.Values) *httptest.ResponseRecorder {
	b.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, testPublicURL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", testPublicURL)
	} else {
		req = httptest.NewRequest(method, testPublicURL+path, nil)
	}
	for _, c := range b.jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.e.ServeHTTP(rec, req)
	b.jar.SetCookies(req.URL, rec.Result().Cookies())
	return rec
}

// location is a redirect's target, as a path with its query.
func location(t testing.TB, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if rec.Code != http.StatusSeeOther && rec.Code != http.StatusFound {
		t.Fatalf("want a redirect, got %d:\n%s", rec.Code, rec.Body)
	}
	u, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

func cookieNamed(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

var consoleCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signInToConsole goes through the console's sign-in for alice and
// returns the answer of the callback.
func signInToConsole(t testing.TB, w *signInWorld, b *consoleBrowser) *httptest.ResponseRecorder {
	t.Helper()
	rec := b.do(http.MethodGet, "/console/acme/me", nil)
	if got := location(t, rec); got != "/console/acme/signin?next=%2Fconsole%2Facme%2Fme" {
		t.Fatalf("a page without a session sends to %q", got)
	}
	rec = b.do(http.MethodGet, "/console/acme/signin?next=%2Fconsole%2Facme%2Fme", nil)
	login := cookieNamed(rec, "LATCHKEY_CONSOLE_LOGIN")
	if login == nil || !login.HttpOnly || login.SameSite != http.SameSiteLaxMode || !login.Secure || login.Path != "/console/acme/" {
		t.Fatalf("sign-in cookie %+v", login)
	}
	auth := location(t, rec)
	if !strings.HasPrefix(auth, "/realms/acme/protocol/openid-connect/auth?") || !strings.Contains(auth, "client_id=latchkey-console") ||
		!strings.Contains(auth, "code_challenge_method=S256") {
		t.Fatalf("the sign-in redirect %q", auth)
	}
	rec = b.do(http.MethodGet, auth, nil)
	m := hiddenReq.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no sign-in page: %d\n%s", rec.Code, rec.Body)
	}
	rec = b.do(http.MethodPost, "/realms/acme/login-actions/authenticate", url.Values{
		"req": {strings.ReplaceAll(m[1], "&#43;", "+")}, "username": {"alice"}, "password": {"correct horse battery"}})
	callback := location(t, rec) // no consent page: the console is first-party
	if !strings.HasPrefix(callback, "/console/acme/callback?") {
		t.Fatalf("after sign-in: %q", callback)
	}
	return b.do(http.MethodGet, callback, nil)
}

func TestConsoleSignInKeepsTokensOnTheServer(t *testing.T) {
	t.Parallel()
	w := newSignInWorld(t)
	b := newConsoleBrowser(t, w.e)
	rec := signInToConsole(t, w, b)
	if rec.Code != http.StatusOK {
		t.Fatalf("callback: %d\n%s", rec.Code, rec.Body)
	}
	session := cookieNamed(rec, "LATCHKEY_CONSOLE")
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || !session.Secure || session.Path != "/console/acme/" {
		t.Fatalf("console session cookie %+v", session)
	}
	// The browser holds a cookie naming the session, never a token.
	for _, c := range rec.Result().Cookies() {
		if strings.Count(c.Value, ".") == 2 && strings.HasPrefix(c.Value, "eyJ") {
			t.Errorf("cookie %s holds a JWT", c.Name)
		}
	}
	if body := rec.Body.String(); strings.Contains(body, "eyJ") || !strings.Contains(body, `url=/console/acme/me`) {
		t.Errorf("the callback page:\n%s", body)
	}
	rec = b.do(http.MethodGet, "/console/acme/me", nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "My access") {
		t.Fatalf("My access: %d\n%s", rec.Code, rec.Body)
	}
	h := rec.Header()
	for name, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Frame-Options": "DENY",
	} {
		if h.Get(name) != want {
			t.Errorf("%s: %q, want %q", name, h.Get(name), want)
		}
	}
	if strings.Contains(rec.Body.String(), "<script>") || strings.Contains(rec.Body.String(), "style=") {
		t.Error("a console page has inline script or style")
	}

	// Sign-out needs the session's token; then the session and its
	// refresh token are gone.
	if rec := b.do(http.MethodPost, "/console/acme/signout", url.Values{"csrf": {"1999999999.forged"}}); rec.Code != http.StatusForbidden {
		t.Fatalf("sign-out with a forged token: %d", rec.Code)
	}
	token := consoleCSRF.FindStringSubmatch(rec.Body.String())[1]
	if rec := b.do(http.MethodPost, "/console/acme/signout", url.Values{"csrf": {token}}); rec.Code != http.StatusOK {
		t.Fatalf("sign-out: %d\n%s", rec.Code, rec.Body)
	}
	if rec := b.do(http.MethodGet, "/console/acme/me", nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", rec.Code)
	}
	// The session's cookie, replayed, opens nothing.
	b.jar.SetCookies(mustURL(testPublicURL+"/console/acme/"), []*http.Cookie{session})
	if rec := b.do(http.MethodGet, "/console/acme/me", nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("the signed-out cookie replayed: %d", rec.Code)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestConsoleCallbackRefusesAnotherBrowsersState(t *testing.T) {
	t.Parallel()
	w := newSignInWorld(t)
	b := newConsoleBrowser(t, w.e)
	b.do(http.MethodGet, "/console/acme/signin", nil)
	rec := b.do(http.MethodGet, "/console/acme/callback?code=x.y&state=chosen-by-an-attacker&iss="+url.QueryEscape(testPublicURL+"/realms/acme"), nil)
	if rec.Code != http.StatusBadRequest || cookieNamed(rec, "LATCHKEY_CONSOLE") != nil || !strings.Contains(rec.Body.String(), "not started in this browser") {
		t.Fatalf("a callback with another state: %d\n%s", rec.Code, rec.Body)
	}
}

func TestConsoleRolesDecideThePages(t *testing.T) {
	t.Parallel()
	w := newSignInWorld(t)
	b := newConsoleBrowser(t, w.e)
	signInToConsole(t, w, b)
	// alice holds no realm role: her own access only.
	for path, want := range map[string]int{"/console/acme/me": 200, "/console/acme/realms/acme/clients": 403, "/console/acme/realms/acme/audit": 403} {
		if rec := b.do(http.MethodGet, path, nil); rec.Code != want {
			t.Errorf("no role, %s: %d, want %d", path, rec.Code, want)
		}
	}
	// A role given now counts at her next request, taken away likewise.
	alice, _ := w.realm.Users().ByUsername("alice")
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	if _, err := w.realm.Users().SetRealmRoles(context.Background(), alice.ID, []string{domain.RoleAuditor}, meta); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/console/acme/realms/acme/audit": 200, "/console/acme/realms/acme/clients": 403, "/console/acme/realms/master/audit": 403} {
		if rec := b.do(http.MethodGet, path, nil); rec.Code != want {
			t.Errorf("auditor, %s: %d, want %d", path, rec.Code, want)
		}
	}
	if _, err := w.realm.Users().SetRealmRoles(context.Background(), alice.ID, nil, meta); err != nil {
		t.Fatal(err)
	}
	if rec := b.do(http.MethodGet, "/console/acme/realms/acme/audit", nil); rec.Code != http.StatusForbidden {
		t.Errorf("after the role was taken away: %d", rec.Code)
	}
	// Disabling her ends the console session with her tokens.
	if _, err := w.realm.Users().SetEnabled(context.Background(), alice.ID, false, meta); err != nil {
		t.Fatal(err)
	}
	if rec := b.do(http.MethodGet, "/console/acme/me", nil); rec.Code != http.StatusSeeOther {
		t.Errorf("a disabled user's console: %d", rec.Code)
	}
}

func TestConsoleOfUnknownRealm(t *testing.T) {
	t.Parallel()
	w := newSignInWorld(t)
	b := newConsoleBrowser(t, w.e)
	rec := b.do(http.MethodGet, "/console/nope/me", nil)
	if rec.Code != http.StatusNotFound || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("an unknown realm's console: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec := b.do(http.MethodGet, "/console/-/console.css", nil); rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/css; charset=utf-8" {
		t.Fatalf("the stylesheet: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec := b.do(http.MethodGet, "/console/-/layout.html", nil); rec.Code != http.StatusNotFound {
		t.Fatalf("a template as an asset: %d", rec.Code)
	}
}

func TestConsoleClientsPageFilters(t *testing.T) {
	t.Parallel()
	w := newSignInWorld(t)
	ctx := context.Background()
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	alice, _ := w.realm.Users().ByUsername("alice")
	if _, err := w.realm.Users().SetRealmRoles(ctx, alice.ID, []string{domain.RoleClientManager}, meta); err != nil {
		t.Fatal(err)
	}
	for _, n := range []domain.CreateNode{{Slug: "org", Kind: domain.NodeOrganization}, {Slug: "team-a", Kind: domain.NodeTeam, Parent: "org"}} {
		if _, err := w.realm.Structure().CreateNode(ctx, n, meta); err != nil {
			t.Fatal(err)
		}
	}
	limited, err := w.realm.Clients().Create(ctx, "", domain.ClientSettings{Name: `limited <b>&</b>`, TeamRestrictions: []string{"team-a"}}, false, meta)
	if err != nil {
		t.Fatal(err)
	}
	b := newConsoleBrowser(t, w.e)
	signInToConsole(t, w, b)
	rows := regexp.MustCompile(`<tr data-client="([^"]+)"`)
	list := func(query string) []string {
		rec := b.do(http.MethodGet, "/console/acme/realms/acme/clients"+query, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("clients%s: %d", query, rec.Code)
		}
		var ids []string
		for _, m := range rows.FindAllStringSubmatch(rec.Body.String(), -1) {
			ids = append(ids, m[1])
		}
		return ids
	}
	if ids := list("?team=team-a"); len(ids) != 1 || ids[0] != limited.Client.ID {
		t.Errorf("team limit team-a: %v", ids)
	}
	if ids := list("?team=org"); len(ids) != 0 {
		t.Errorf("team limit org (above team-a, no client limited to it): %v", ids)
	}
	if ids := list("?team=*"); len(ids) != 2 || slices.Contains(ids, limited.Client.ID) {
		t.Errorf("all teams: %v", ids)
	}
	if ids := list("?q=LIMITED"); len(ids) != 1 {
		t.Errorf("name search: %v", ids)
	}
	if ids := list("?limit=1"); len(ids) != 1 {
		t.Errorf("a page of one: %v", ids)
	}
	rec := b.do(http.MethodGet, "/console/acme/realms/acme/clients", nil)
	if body := rec.Body.String(); strings.Contains(body, "<b>&</b>") || !strings.Contains(body, "limited &lt;b&gt;&amp;&lt;/b&gt;") {
		t.Error("a client's name is not escaped on the list")
	}
	if strings.Contains(rec.Body.String(), domain.ConsoleClientID) {
		t.Error("the built-in console client is listed")
	}
	for _, q := range []string{"?status=paused", "?kind=robot", "?limit=501", "?cursor=no-such-client"} {
		if rec := b.do(http.MethodGet, "/console/acme/realms/acme/clients"+q, nil); rec.Code != http.StatusBadRequest {
			t.Errorf("clients%s: %d, want 400", q, rec.Code)
		}
	}
}

func TestConsoleRealmSettingsKeepWhatTheFormDoesNotShow(t *testing.T) {
	t.Parallel()
	w := newSignInWorld(t)
	ctx := context.Background()
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	alice, _ := w.realm.Users().ByUsername("alice")
	if _, err := w.realm.Users().SetRealmRoles(ctx, alice.ID, []string{domain.RoleRealmAdmin}, meta); err != nil {
		t.Fatal(err)
	}
	s := w.realm.Settings()
	s.Compat = []string{domain.CompatCoralogix}
	if err := w.realm.UpdateSettings(ctx, s, meta); err != nil {
		t.Fatal(err)
	}
	b := newConsoleBrowser(t, w.e)
	signInToConsole(t, w, b)
	page := b.do(http.MethodGet, "/console/acme/realms/acme/", nil)
	token := consoleCSRF.FindStringSubmatch(page.Body.String())[1]
	rec := b.do(http.MethodPost, "/console/acme/realms/acme/settings", url.Values{"csrf": {token}, "checkpoint_every": {"500"}, "checkpoint_interval": {"0"}, "token_retention": {"0"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("save settings: %d\n%s", rec.Code, rec.Body)
	}
	got := w.realm.Settings()
	if got.CheckpointEvery != 500 || !slices.Equal(got.Compat, []string{domain.CompatCoralogix}) || got.RequirePKCE {
		t.Errorf("settings after the console's form: %+v", got)
	}
	if rec := b.do(http.MethodPost, "/console/acme/realms/acme/settings", url.Values{"csrf": {token}, "token_retention": {"60"}}); rec.Code != http.StatusBadRequest {
		t.Errorf("a retention under 25 hours: %d", rec.Code)
	}
}
