package main

// The admin console end to end, in headless Chromium against the real
// binary: an administrator, a client manager and a plain user, each in a
// browser context of their own.

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

const (
	consoleAdminPassword = "console admin password 0001"
	consoleBootstrap     = "e2e-console-bootstrap-secret-000000000001"
)

// consoleWorld is a server with realm acme, its plain user carol and an app
// she signs in to, a client manager mia, and the administrator's API token.
type consoleWorld struct {
	lk    *latchkey
	admin string // the bootstrap client's management token
	ch    *chrome
	app   *httptest.Server
	appID string
	rs    clientCreated // a confidential client of acme, for introspection
}

func setUpConsole(t *testing.T) *consoleWorld {
	t.Helper()
	lk := startLatchkey(t, serverOpts{name: "console", data: t.TempDir(), bootstrapSecret: consoleBootstrap,
		env: []string{"LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD=" + consoleAdminPassword}})
	w := &consoleWorld{lk: lk, admin: lk.adminToken(t, consoleBootstrap).AccessToken, ch: newChrome(t)}
	w.app = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(rw, `<html><body><h1 id="app-done">signed in to the app</h1></body></html>`)
	}))
	t.Cleanup(w.app.Close)
	return w
}

// api sends an admin API request with the bootstrap client's token.
func (w *consoleWorld) api(t *testing.T, method, path, body string) *response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	opts := []reqOpt{withBearer(w.admin)}
	if body != "" {
		opts = append(opts, withContentType("application/json"))
	}
	return w.lk.do(t, method, path, r, opts...)
}

// tokenFor gets a client-credentials token with a secret; ok false when
// the token endpoint refuses.
func (w *consoleWorld) tokenFor(t *testing.T, realm, id, secret string) (string, int) {
	t.Helper()
	r := w.lk.postForm(t, tokenPath(realm), "grant_type=client_credentials", withBasic(id, secret))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if r.status == http.StatusOK {
		r.decode(t, &tok)
	}
	return tok.AccessToken, r.status
}

// introspect reports whether acme's introspection says a token is active.
func (w *consoleWorld) introspect(t *testing.T, token string) bool {
	t.Helper()
	r := w.lk.postForm(t, "/realms/acme/protocol/openid-connect/token/introspect", "token="+url.QueryEscape(token), withBasic(w.rs.ClientID, w.rs.ClientSecret))
	r.requireStatus(t, http.StatusOK)
	var body struct {
		Active bool `json:"active"`
	}
	r.decode(t, &body)
	return body.Active
}

func TestConsole(t *testing.T) {
	t.Parallel()
	w := setUpConsole(t)
	lk := w.lk
	admin := w.ch.person(lk, "admin")

	// ---- the administrator signs in with the bootstrap password ----
	if st := admin.open("/console/master/realms"); st != http.StatusOK {
		t.Fatalf("console start: %d", st)
	}
	admin.signIn("admin", consoleAdminPassword)
	admin.do("sign in to master's console", chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`#realm-name`)))
	if h := admin.text("h1"); h != "Realms" {
		t.Fatalf("after sign-in, the page is %q, want Realms (the page asked for)", h)
	}

	// ---- creates realm acme ----
	admin.fill("#realm-name", "acme")
	if st := admin.submit(`form[action$="/realms"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("create realm: %d\n%s", st, admin.text("main"))
	}
	if h := admin.text("h1"); h != "Realm acme" {
		t.Fatalf("after creating the realm: %q", h)
	}
	admin.screenshot("console-realm")
	w.rs = lk.createClient(t, w.admin, "acme", `{"name":"resource server","scopes":["read"]}`)

	t.Run("clients", func(t *testing.T) { consoleClients(t, w, admin) })
	t.Run("my access", func(t *testing.T) { consoleMyAccess(t, w) })
	t.Run("roles", func(t *testing.T) { consoleRoles(t, w) })
	t.Run("csrf", func(t *testing.T) { consoleCSRF(t, w, admin) })
	t.Run("users, structure and scopes", func(t *testing.T) { consoleUsersAndStructure(t, w, admin) })
	t.Run("audit", func(t *testing.T) { consoleAudit(t, w, admin) })
	admin.noDialogs()
}

// consoleClients: the empty state, a confidential client through the form
// (warnings, high-risk confirmation, the secret copied and used), rotate
// by typing the name, pause and resume, bulk delete, a hostile name.
func consoleClients(t *testing.T, w *consoleWorld, admin *person) {
	admin = admin.in(t)
	lk := w.lk
	clients := "/console/master/realms/acme/clients"
	// acme holds the resource server created by the API: delete it from
	// the list's view? No: the empty state is for a realm without clients.
	lk.postJSON(t, "/admin/realms", `{"name":"empty"}`, withBearer(w.admin)).requireStatus(t, http.StatusCreated)
	if st := admin.open("/console/master/realms/empty/clients"); st != http.StatusOK || !admin.exists("#empty-state") {
		t.Fatalf("a realm without clients: %d, empty state %v", st, admin.exists("#empty-state"))
	}
	admin.screenshot("console-clients-empty")

	admin.open(clients + "/new")
	admin.fill("#name", "billing-sync")
	// The refresh-token warning escalates as the lifetime grows.
	admin.do("turn refresh tokens on", chromedp.Click(chromedp.CSS(`#issue_refresh_tokens`)))
	level := func() string {
		l, err := chromedp.Run(admin.ctx, chromedp.Evaluate[string](`document.getElementById("refresh-warning").dataset.level || ""`))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	admin.do("a week", chromedp.SetValue(chromedp.CSS(`#refresh_token_lifetime_unit`), "days"))
	admin.fill("#refresh_token_lifetime_value", "7")
	if l := level(); l != "info" {
		t.Errorf("7 days of refresh tokens: warning level %q, want info", l)
	}
	admin.fill("#refresh_token_lifetime_value", "45")
	if l := level(); l != "warning" {
		t.Errorf("45 days: warning level %q, want warning", l)
	}
	admin.fill("#refresh_token_lifetime_value", "120")
	if l, msg := level(), admin.text("#refresh-warning"); l != "high" || !strings.Contains(msg, "120 days") {
		t.Errorf("120 days: warning level %q (%q), want high", l, msg)
	}
	admin.screenshot("console-client-form")
	// A service client (client credentials) with full access for two
	// hours: high risk, shown inline, then confirmed.
	admin.do("a service client with full access for 2 hours",
		chromedp.Click(chromedp.CSS(`#issue_refresh_tokens`)),
		chromedp.Click(chromedp.CSS(`#kind-service`)),
		chromedp.Click(chromedp.CSS(`#preset-full`)),
		chromedp.Click(chromedp.CSS(`#scope-read`)),
		chromedp.SetValue(chromedp.CSS(`#access_token_lifetime_unit`), "hours"))
	admin.fill("#access_token_lifetime_value", "2")
	if hidden, _ := chromedp.Run(admin.ctx, chromedp.Evaluate[bool](`document.getElementById("risk-warning").hidden`)); hidden {
		t.Error("full access for 2 hours shows no high-risk warning")
	}
	if st := admin.submit("#save-client"); st != http.StatusConflict || !admin.exists("#confirm-step") {
		t.Fatalf("a high-risk client: %d, confirmation step %v", st, admin.exists("#confirm-step"))
	}
	admin.do("confirm the high-risk step", chromedp.Click(chromedp.CSS(`#confirm_high_risk`)))
	if st := admin.submit("#save-client"); st != http.StatusCreated {
		t.Fatalf("create after confirming: %d", st)
	}
	clientID := admin.text("#client-id")
	secret := admin.text("#client-secret")
	admin.do("copy the secret", chromedp.Click(chromedp.CSS(`#copy-secret`)))
	ctx, cancel := admin.within(5 * time.Second)
	copied, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	cancel()
	if err != nil || copied != secret {
		t.Errorf("the clipboard holds %q (%v), want the secret", copied, err)
	}
	if b := admin.text("#copy-secret"); b != "Copied" {
		t.Errorf("the copy button says %q", b)
	}
	admin.screenshot("console-client-secret")
	if tok, st := w.tokenFor(t, "acme", clientID, secret); st != http.StatusOK || tok == "" {
		t.Fatalf("a token with the copied secret: %d", st)
	}
	// The secret is never shown again.
	admin.open(clients + "/" + clientID)
	if body := admin.text("body"); strings.Contains(body, secret) {
		t.Error("the edit page shows the secret")
	}

	// ---- rotate, typing the name ----
	admin.open(clients + "/" + clientID + "/rotate")
	admin.fill("#confirm_name", "billing-syn")
	if st := admin.submit("#confirm-action"); st != http.StatusBadRequest {
		t.Errorf("rotate with a name typed wrong: %d, want 400", st)
	}
	admin.fill("#confirm_name", "billing-sync")
	admin.do("previous secret invalid at once", chromedp.SetValue(chromedp.CSS(`#overlap`), "0"))
	if st := admin.submit("#confirm-action"); st != http.StatusOK {
		t.Fatalf("rotate: %d", st)
	}
	newSecret := admin.text("#client-secret")
	if _, st := w.tokenFor(t, "acme", clientID, secret); st != http.StatusUnauthorized {
		t.Errorf("the rotated-out secret: %d, want 401", st)
	}
	if _, st := w.tokenFor(t, "acme", clientID, newSecret); st != http.StatusOK {
		t.Errorf("the new secret: %d", st)
	}

	// ---- pause and resume ----
	admin.open(clients)
	toggle := `tr[data-client="` + clientID + `"] button.toggle`
	admin.submit(toggle)
	if s := admin.text(toggle); s != "Disabled" {
		t.Errorf("after pausing, the toggle says %q", s)
	}
	if _, st := w.tokenFor(t, "acme", clientID, newSecret); st == http.StatusOK {
		t.Error("a paused client got a token")
	}
	admin.submit(toggle)
	if _, st := w.tokenFor(t, "acme", clientID, newSecret); st != http.StatusOK {
		t.Errorf("a resumed client: %d", st)
	}

	// ---- a hostile name renders as text ----
	hostile := w.lk.createClient(t, w.admin, "acme", `{"name":"<script>alert(1)</script>","description":"<img src=x onerror=alert(2)>"}`)
	admin.open(clients)
	if name := admin.text(`tr[data-client="` + hostile.ClientID + `"] .client-name`); name != "<script>alert(1)</script>" {
		t.Errorf("the hostile name reads %q", name)
	}
	admin.open(clients + "/" + hostile.ClientID)
	admin.screenshot("console-clients")

	// ---- bulk delete: all or none, and the missing ids named ----
	a := w.lk.createClient(t, w.admin, "acme", `{"name":"old-a"}`)
	b := w.lk.createClient(t, w.admin, "acme", `{"name":"old-b"}`)
	admin.open(clients)
	admin.screenshot("console-clients")
	admin.do("select three", chromedp.Click(chromedp.CSS(`input[value="`+a.ClientID+`"]`)),
		chromedp.Click(chromedp.CSS(`input[value="`+b.ClientID+`"]`)), chromedp.Click(chromedp.CSS(`input[value="`+hostile.ClientID+`"]`)))
	w.api(t, http.MethodDelete, "/admin/realms/acme/clients/"+hostile.ClientID, "").requireStatus(t, http.StatusNoContent)
	if st := admin.submit("#delete-selected"); st != http.StatusNotFound || !strings.Contains(admin.text(".error"), hostile.ClientID) {
		t.Errorf("bulk delete with a missing id: %d %q", st, admin.text("main"))
	}
	w.api(t, http.MethodGet, "/admin/realms/acme/clients/"+a.ClientID, "").requireStatus(t, http.StatusOK)
	admin.open(clients)
	admin.do("select two", chromedp.Click(chromedp.CSS(`input[value="`+a.ClientID+`"]`)), chromedp.Click(chromedp.CSS(`input[value="`+b.ClientID+`"]`)))
	if st := admin.submit("#delete-selected"); st != http.StatusOK || !strings.Contains(admin.text(".flash"), "2 clients were deleted") {
		t.Errorf("bulk delete: %d %q", st, admin.text("main"))
	}
	w.api(t, http.MethodGet, "/admin/realms/acme/clients/"+b.ClientID, "").requireStatus(t, http.StatusNotFound)

	// ---- a stale edit says so ----
	admin.open(clients + "/" + clientID)
	w.api(t, http.MethodPatch, "/admin/realms/acme/clients/"+clientID, `{"description":"saved elsewhere"}`).requireStatus(t, http.StatusOK)
	admin.fill("#description", "mine")
	if st := admin.submit("#save-client"); st != http.StatusConflict || !strings.Contains(admin.text(".error"), "Someone else saved this client") {
		t.Errorf("a stale edit: %d %q", st, admin.text("main"))
	}
	var cl struct {
		Description string `json:"description"`
	}
	w.api(t, http.MethodGet, "/admin/realms/acme/clients/"+clientID, "").decode(t, &cl)
	if cl.Description != "saved elsewhere" {
		t.Errorf("a stale edit overwrote the description: %q", cl.Description)
	}
}

// consoleMyAccess: a plain user signs in to an app, sees it under My
// access, revokes it, and the token then introspects as inactive; a plain
// user cannot open any admin page.
func consoleMyAccess(t *testing.T, w *consoleWorld) {
	lk := w.lk
	lk.postJSON(t, "/admin/realms/acme/users", `{"username":"carol","password":"carol password 0001"}`, withBearer(w.admin)).requireStatus(t, http.StatusCreated)
	var app clientCreated
	r := lk.postJSON(t, "/admin/realms/acme/clients", `{"name":"Dashboard","type":"public","redirect_uris":["`+w.app.URL+`/callback"],"scopes":["openid","read"],"issue_refresh_tokens":true}`, withBearer(w.admin))
	r.requireStatus(t, http.StatusCreated)
	r.decode(t, &app)
	cfg := &oauth2.Config{ClientID: app.ClientID, RedirectURL: w.app.URL + "/callback", Scopes: []string{"openid", "read"},
		Endpoint: oauth2.Endpoint{AuthURL: lk.base + "/realms/acme/protocol/openid-connect/auth", TokenURL: lk.base + tokenPath("acme"), AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	carol := w.ch.person(lk, "carol").in(t)
	carol.do("open the app's sign-in", chromedp.Navigate(cfg.AuthCodeURL("s1", oauth2.S256ChallengeOption(verifier))))
	carol.signIn("carol", "carol password 0001")
	carol.do("sign in and consent", chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`button[value=approve]`)),
		chromedp.Click(chromedp.CSS(`button[value=approve]`)), chromedp.WaitVisible(chromedp.CSS(`#app-done`)))
	loc, _ := chromedp.Run(carol.ctx, chromedp.Location())
	u, _ := url.Parse(loc)
	tok, err := cfg.Exchange(context.Background(), u.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("the app's code exchange: %v", err)
	}
	if !w.introspect(t, tok.AccessToken) {
		t.Fatal("the app's token is not active")
	}

	// Carol's console: signed in already (single sign-on), no consent.
	if st := carol.open("/console/acme/"); st != http.StatusOK {
		t.Fatalf("carol's console: %d", st)
	}
	carol.do("land on My access", chromedp.WaitVisible(chromedp.CSS(`#signout`)))
	if h := carol.text("h1"); h != "My access" {
		t.Fatalf("a plain user lands on %q, want My access", h)
	}
	group := `.group[data-client="` + app.ClientID + `"]`
	if !carol.exists(group) || !strings.Contains(carol.text(group), "Dashboard") {
		t.Fatalf("My access does not show the app:\n%s", carol.text("main"))
	}
	carol.screenshot("console-my-access")
	for _, path := range []string{"/console/acme/realms", "/console/acme/realms/acme/clients", "/console/acme/realms/acme/users",
		"/console/acme/realms/acme/audit", "/console/acme/realms/acme/", "/console/acme/realms/acme/sessions", "/console/acme/realms/acme/structure",
		"/console/acme/realms/acme/scopes", "/console/acme/realms/master/clients"} {
		want := http.StatusForbidden
		if path == "/console/acme/realms" {
			want = http.StatusOK // the list, empty: she administers no realm
		}
		if st := carol.open(path); st != want {
			t.Errorf("a plain user opens %s: %d, want %d", path, st, want)
		}
	}
	carol.open("/console/acme/me")
	carol.submit(group + ` button.danger`)
	if !strings.Contains(carol.text(".flash"), "revoked") {
		t.Errorf("after revoking: %q", carol.text("main"))
	}
	if w.introspect(t, tok.AccessToken) {
		t.Error("the revoked app's token still introspects as active")
	}
	if _, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("the revoked app's refresh token still works")
	}
	carol.noDialogs()
}

// consoleRoles: a client manager opens the clients page, not the users
// page (403), and cannot give a client the management scope; the
// auditor role opens the audit log only.
func consoleRoles(t *testing.T, w *consoleWorld) {
	lk := w.lk
	r := lk.postJSON(t, "/admin/realms/acme/users", `{"username":"mia","password":"mia password 00001","realm_roles":["client-manager"]}`, withBearer(w.admin))
	r.requireStatus(t, http.StatusCreated)
	mia := w.ch.person(lk, "mia").in(t)
	mia.signInToConsole("acme", "mia", "mia password 00001")
	for path, want := range map[string]int{
		"/console/acme/realms/acme/clients": http.StatusOK, "/console/acme/realms/acme/clients/new": http.StatusOK,
		"/console/acme/realms/acme/users": http.StatusForbidden, "/console/acme/realms/acme/audit": http.StatusForbidden,
		"/console/acme/realms/acme/": http.StatusForbidden, "/console/acme/realms/master/clients": http.StatusForbidden,
	} {
		if st := mia.open(path); st != want {
			t.Errorf("a client manager opens %s: %d, want %d", path, st, want)
		}
	}
	mia.open("/console/acme/realms/acme/clients/new")
	if mia.exists("#scope-management") {
		t.Error("a client manager is offered the management scope")
	}
	if h := mia.text(".side"); strings.Contains(h, "Users") || !strings.Contains(h, "OAuth clients") {
		t.Errorf("a client manager's navigation: %q", h)
	}
}

// consoleCSRF: a form replayed without its CSRF token, or with another
// session's, changes nothing.
func consoleCSRF(t *testing.T, w *consoleWorld, admin *person) {
	admin = admin.in(t)
	created := w.lk.createClient(t, w.admin, "acme", `{"name":"keep-me"}`)
	admin.open("/console/master/realms/acme/clients/" + created.ClientID + "/delete")
	admin.fill("#confirm_name", "keep-me")
	if _, err := chromedp.Run(admin.ctx, chromedp.Evaluate[bool](`(() => { document.querySelector('form[action$="/delete"] input[name=csrf]').remove(); return true })()`)); err != nil {
		t.Fatal(err)
	}
	if st := admin.submit("#confirm-action"); st != http.StatusForbidden || !strings.Contains(admin.text(".error"), "CSRF") {
		t.Errorf("a delete without its CSRF token: %d %q", st, admin.text("main"))
	}
	w.api(t, http.MethodGet, "/admin/realms/acme/clients/"+created.ClientID, "").requireStatus(t, http.StatusOK)
	// The same form sent by a script of another site: with the session's
	// cookie but an invented token, and from another origin.
	hc := admin.httpClient()
	form := url.Values{"csrf": {"1999999999.invented"}, "confirm_name": {"keep-me"}}
	req, _ := http.NewRequest(http.MethodPost, w.lk.base+"/console/master/realms/acme/clients/"+created.ClientID+"/delete", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://attacker.example")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site delete: %d, want 403", resp.StatusCode)
	}
	w.api(t, http.MethodGet, "/admin/realms/acme/clients/"+created.ClientID, "").requireStatus(t, http.StatusOK)
}

// consoleAudit: the console's actions are in the audit log as the user's,
// tagged latchkey-console; the live tail gets a new entry within a second;
// the export and the verification answer.
func consoleAudit(t *testing.T, w *consoleWorld, admin *person) {
	admin = admin.in(t)
	audit := "/console/master/realms/acme/audit"
	admin.open(audit + "?client_id=latchkey-console")
	rows := admin.text("#audit-rows")
	if !strings.Contains(rows, "client.created") || !strings.Contains(rows, "latchkey-console") || !strings.Contains(rows, "user:") {
		t.Errorf("the console's actions in the audit log:\n%s", rows)
	}
	admin.open(audit)
	admin.do("follow live", chromedp.Click(chromedp.CSS(`#live-toggle`)))
	ctx, cancel := admin.within(5 * time.Second)
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("live-status").textContent.startsWith("Following")`))
	cancel()
	if err != nil {
		t.Fatalf("the live tail did not connect: %v", err)
	}
	start := time.Now()
	w.api(t, http.MethodPost, "/admin/realms/acme/nodes", `{"slug":"live-org","kind":"organization"}`).requireStatus(t, http.StatusCreated)
	ctx, cancel = admin.within(time.Second)
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`[...document.querySelectorAll("#audit-rows tr.fresh")].some(r => r.textContent.includes("live-org"))`, chromedp.WithPollingInterval(20*time.Millisecond)))
	cancel()
	if err != nil {
		t.Errorf("the live tail showed no new entry within a second: %v", err)
	} else {
		t.Logf("live tail: new entry shown %v after the request", time.Since(start).Round(time.Millisecond))
	}
	admin.screenshot("console-audit")

	hc := admin.httpClient()
	resp, err := hc.Get(w.lk.base + audit + "/export?client_id=latchkey-console")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("export: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	n := 0
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); n++ {
		var e struct {
			ClientID string `json:"client_id"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.ClientID != "latchkey-console" {
			t.Errorf("export line %q", sc.Text())
		}
	}
	if n == 0 {
		t.Error("the export holds no entry")
	}
	admin.open(audit + "/verify")
	if s := admin.text("#verify-result"); !strings.HasPrefix(s, "OK") {
		t.Errorf("verify history: %q", s)
	}
}

// consoleUsersAndStructure: a user created and changed through the Users
// page; nodes added and a removal refused with its reason; scopes added,
// described and a removal refused while a client holds the scope.
func consoleUsersAndStructure(t *testing.T, w *consoleWorld, admin *person) {
	admin = admin.in(t)
	base := "/console/master/realms/acme"
	admin.open(base + "/structure")
	admin.do("an organization", chromedp.SetValue(chromedp.CSS(`#node-kind`), "organization"))
	admin.fill("#node-slug", "acme-org")
	admin.fill("#node-name", "Acme <Corp>")
	if st := admin.submit(`form[action$="/structure"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("add an organization: %d %q", st, admin.text("main"))
	}
	admin.do("a team", chromedp.SetValue(chromedp.CSS(`#node-kind`), "team"), chromedp.SetValue(chromedp.CSS(`#node-parent`), "acme-org"))
	admin.fill("#node-slug", "team-a")
	if st := admin.submit(`form[action$="/structure"] button[type=submit]`); st != http.StatusOK || !strings.Contains(admin.text("main"), "Acme <Corp>") {
		t.Fatalf("add a team: %d %q", st, admin.text("main"))
	}
	restricted := w.lk.createClient(t, w.admin, "acme", `{"name":"team tool","team_restrictions":["team-a"]}`)
	if st := admin.submit(`form[action$="/team-a/delete"] button`); st != http.StatusConflict || !strings.Contains(admin.text("main"), restricted.ClientID) {
		t.Errorf("removing a node a client refers to: %d %q", st, admin.text("main"))
	}

	admin.open(base + "/scopes")
	admin.fill("#scope-name", "billing")
	admin.fill("#scope-description", "Read your invoices")
	if st := admin.submit(`form[action$="/scopes"] button[type=submit]`); st != http.StatusOK || !strings.Contains(admin.text("main"), "Read your invoices") {
		t.Fatalf("add a scope: %d", st)
	}
	if st := admin.submit(`form[action$="/scopes/read/delete"] button`); st != http.StatusConflict || !strings.Contains(admin.text("main"), "still given to clients") {
		t.Errorf("removing a scope a client holds: %d %q", st, admin.text("main"))
	}
	if st := admin.submit(`form[action$="/scopes/billing/delete"] button`); st != http.StatusOK || strings.Contains(admin.text("table"), "billing") {
		t.Errorf("removing an unused scope: %d", st)
	}

	admin.open(base + "/users")
	admin.fill("#nu-username", "dave")
	admin.fill("#nu-password", "short")
	if st := admin.submit(`#create-user`); st != http.StatusBadRequest || !strings.Contains(admin.text(".error"), "password") {
		t.Errorf("a user with a short password: %d %q", st, admin.text(".error"))
	}
	admin.fill("#nu-username", "dave")
	admin.fill("#nu-password", "dave password 00001")
	admin.do("an auditor", chromedp.Click(chromedp.CSS(`#nu-role-auditor`)))
	if st := admin.submit(`#create-user`); st != http.StatusOK || admin.text("h1") != "User dave" {
		t.Fatalf("create a user: %d %q", st, admin.text("main"))
	}
	admin.do("editor of team-a", chromedp.SetValue(chromedp.CSS(`#ms-team-a`), "editor"))
	admin.submit(`form[action$="/memberships"] button`)
	admin.submit(`#disable-user`)
	var dave struct {
		Status      string              `json:"status"`
		RealmRoles  []string            `json:"realm_roles"`
		Memberships []map[string]string `json:"memberships"`
	}
	r := w.api(t, http.MethodGet, "/admin/realms/acme/users?q=dave", "")
	var list struct {
		Users []json.RawMessage `json:"users"`
	}
	r.decode(t, &list)
	if len(list.Users) != 1 || json.Unmarshal(list.Users[0], &dave) != nil || dave.Status != "disabled" ||
		strings.Join(dave.RealmRoles, ",") != "auditor" || len(dave.Memberships) != 1 || dave.Memberships[0]["role"] != "editor" {
		t.Errorf("dave after the Users page: %s", list.Users)
	}
}
