package main

// End-to-end: users, sign-in and consent, the authorization-code flow with
// PKCE, refresh rotation and OpenID Connect, driven by golang.org/x/oauth2
// and github.com/coreos/go-oidc as unmodified clients against the binary.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"
)

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so each step of the flow is visible.
type browser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is a fetched response with its body.
type pageResp struct {
	status   int
	location string
	body     string
}

func (b *browser) do(req *http.Request) pageResp {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return pageResp{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body)}
}

func (b *browser) get(u string) pageResp {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) pageResp {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
	return b.do(req)
}

// postAtOnce posts the same form n times at the same moment (a double
// click, a retrying proxy) and returns every answer.
func (b *browser) postAtOnce(u string, form url.Values, n int) []pageResp {
	answers := make([]pageResp, n)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() { answers[i] = b.post(u, form) })
	}
	wg.Wait()
	return answers
}

// countCodes counts the answers to one form sent at once that carry a
// code; every other must be the HTML "already complete" 409 page.
func countCodes(t *testing.T, answers []pageResp, form string) int {
	t.Helper()
	codes := 0
	for _, p := range answers {
		switch {
		case p.status == http.StatusSeeOther && redirectQuery(t, p.location).Get("code") != "":
			codes++
		case p.status != http.StatusConflict || !strings.Contains(p.body, "already complete"):
			t.Errorf("one of simultaneous %s answers: %d %q, want a code or the 409 page:\n%s", form, p.status, p.location, p.body)
		}
	}
	return codes
}

// formOf finds the page's form: its action and hidden fields.
func formOf(t *testing.T, base, body string) (string, url.Values) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var action string
	fields := url.Values{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
			}
			if n.Data == "form" {
				action = attr["action"]
			}
			if n.Data == "input" && attr["type"] == "hidden" {
				fields.Set(attr["name"], attr["value"])
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if action == "" {
		t.Fatalf("no form on the page:\n%s", body)
	}
	return base + action, fields
}

// signIn follows an authorization URL through login (and consent when asked)
// and returns the final redirect's query.
func (b *browser) signIn(base, authURL, user, password string, teams []string) url.Values {
	b.t.Helper()
	login := b.get(authURL)
	if login.status == http.StatusFound {
		return redirectQuery(b.t, login.location)
	}
	if login.status == http.StatusOK && strings.Contains(login.body, "wants access") {
		return b.approve(base, login, teams) // signed in already, new consent
	}
	if login.status != http.StatusOK || !strings.Contains(login.body, "Sign in") {
		b.t.Fatalf("want the sign-in page, got %d:\n%s", login.status, login.body)
	}
	action, fields := formOf(b.t, base, login.body)
	fields.Set("username", user)
	fields.Set("password", password)
	consent := b.post(action, fields)
	if consent.status == http.StatusSeeOther || consent.status == http.StatusFound {
		return redirectQuery(b.t, consent.location)
	}
	return b.approve(base, consent, teams)
}

func (b *browser) approve(base string, consent pageResp, teams []string) url.Values {
	b.t.Helper()
	if consent.status != http.StatusOK || !strings.Contains(consent.body, "wants access") {
		b.t.Fatalf("want the consent page, got %d:\n%s", consent.status, consent.body)
	}
	action, fields := formOf(b.t, base, consent.body)
	fields.Set("action", "approve")
	for _, tm := range teams {
		fields.Add("team", tm)
	}
	done := b.post(action, fields)
	if done.status != http.StatusSeeOther {
		b.t.Fatalf("consent answer: want 303, got %d:\n%s", done.status, done.body)
	}
	return redirectQuery(b.t, done.location)
}

func redirectQuery(t *testing.T, location string) url.Values {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil || location == "" {
		t.Fatalf("bad redirect %q", location)
	}
	return u.Query()
}

// oidcWorld is a server with realm acme, teams, a user and an app.
type oidcWorld struct {
	lk           *latchkey
	admin        string
	issuer       string
	rs           clientCreated // a resource server, to introspect
	user         string        // user id
	app          string        // public client id
	appRedirect  string
	conf         string // confidential user_app id
	confSecret   string
	provider     *oidc.Provider
	ctx          context.Context
	callbackBase string
}

func setUpOIDC(t *testing.T, args ...string) *oidcWorld {
	t.Helper()
	opts := serverOpts{name: "oidc", data: t.TempDir(), bootstrapSecret: "bootstrap-secret-for-oidc-e2e-tests", args: args}
	lk := startLatchkey(t, opts)
	w := &oidcWorld{lk: lk, admin: lk.adminToken(t, opts.bootstrapSecret).AccessToken, issuer: lk.base + "/realms/acme", ctx: context.Background()}
	lk.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(w.admin)).requireStatus(t, http.StatusCreated)
	for _, n := range []string{
		`{"slug":"acme-org","kind":"organization"}`,
		`{"slug":"team-a","kind":"team","parent":"acme-org"}`,
		`{"slug":"team-b","kind":"team","parent":"acme-org"}`,
	} {
		lk.postJSON(t, "/admin/realms/acme/nodes", n, withBearer(w.admin)).requireStatus(t, http.StatusCreated)
	}
	r := lk.postJSON(t, "/admin/realms/acme/users", `{"username":"alice","email":"alice@example.com","display_name":"Alice","password":"correct horse battery","memberships":[{"node":"team-a","role":"editor"},{"node":"team-b","role":"viewer"}]}`, withBearer(w.admin))
	r.requireStatus(t, http.StatusCreated)
	var u struct {
		ID string `json:"id"`
	}
	r.decode(t, &u)
	w.user = u.ID
	w.rs = lk.createClient(t, w.admin, "acme", `{"name":"api"}`)
	w.appRedirect = "http://127.0.0.1/callback"
	app := lk.postJSON(t, "/admin/realms/acme/clients", `{"name":"CLI","type":"public","redirect_uris":["`+w.appRedirect+`","http://127.0.0.1:4242/callback"],"post_logout_redirect_uris":["https://cli.example.com/bye"],"scopes":["openid","profile","email","read"],"access_preset":"full","team_selection":"multiple","issue_refresh_tokens":true}`, withBearer(w.admin))
	app.requireStatus(t, http.StatusCreated)
	var created clientCreated
	app.decode(t, &created)
	w.app = created.ClientID
	conf := lk.createClient(t, w.admin, "acme", `{"name":"Web","kind":"user_app","redirect_uris":["https://web.example.com/cb"],"scopes":["openid"],"id_token_signed_response_alg":"ES256"}`)
	w.conf, w.confSecret = conf.ClientID, conf.ClientSecret
	var err error
	if w.provider, err = oidc.NewProvider(w.ctx, w.issuer); err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	w.callbackBase = "http://127.0.0.1:4242/callback" // registered exactly; other ports match too (RFC 8252)
	return w
}

func (w *oidcWorld) oauthConfig(scopes ...string) *oauth2.Config {
	return &oauth2.Config{ClientID: w.app, Endpoint: w.provider.Endpoint(), RedirectURL: w.callbackBase, Scopes: scopes}
}

func TestAuthorizationCodeFlowWithPKCEAndOIDC(t *testing.T) {
	t.Parallel()
	w := setUpOIDC(t)
	lk := w.lk
	cfg := w.oauthConfig(oidc.ScopeOpenID, "profile", "email", "read")
	verifier := oauth2.GenerateVerifier()
	b := newBrowser(t)
	authURL := cfg.AuthCodeURL("state-123", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-456"))
	q := b.signIn(lk.base, authURL, "alice", "correct horse battery", []string{"team-a", "team-b"})
	if q.Get("state") != "state-123" || q.Get("iss") != w.issuer || q.Get("code") == "" {
		t.Fatalf("redirect after consent: %v", q)
	}
	code := q.Get("code")

	tok, err := cfg.Exchange(w.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("oauth2 exchange: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for a client with refresh tokens on")
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := w.provider.Verifier(&oidc.Config{ClientID: w.app}).Verify(w.ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc verify: %v", err)
	}
	if idt.Nonce != "nonce-456" || idt.Subject != w.user {
		t.Fatalf("id token nonce %q sub %q", idt.Nonce, idt.Subject)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	var idClaims struct {
		AuthTime int64  `json:"auth_time"`
		SID      string `json:"sid"`
		Email    string `json:"email"`
	}
	if err := idt.Claims(&idClaims); err != nil || idClaims.AuthTime == 0 || idClaims.SID == "" || idClaims.Email != "alice@example.com" {
		t.Fatalf("id token claims %+v %v", idClaims, err)
	}

	// The code works once: a replay is invalid_grant and revokes its tokens.
	if _, err := cfg.Exchange(w.ctx, code, oauth2.VerifierOption(verifier)); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("second redemption: %v", err)
	}
	lk.requireInactive(t, "acme", w.rs.ClientID, w.rs.ClientSecret, tok.AccessToken, "access token of a replayed code")

	// A loopback redirect on a port not registered exactly matches (RFC
	// 8252), but a remembered consent is not reused for it: any local
	// program could be listening there (RFC 8252 §8.6).
	otherPort := *cfg
	otherPort.RedirectURL = "http://127.0.0.1:5353/callback"
	if p := b.get(otherPort.AuthCodeURL("s-other", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); p.status != http.StatusOK || !strings.Contains(p.body, "wants access") {
		t.Fatalf("remembered consent reused for an unregistered loopback port: %d %q", p.status, p.location)
	}

	// A fresh flow: consent is remembered, so no consent page this time.
	verifier = oauth2.GenerateVerifier()
	q = b.signIn(lk.base, cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(verifier)), "", "", nil)
	tok, err = cfg.Exchange(w.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange with remembered consent: %v", err)
	}

	// userinfo through go-oidc, and the teams fields.
	info, err := w.provider.UserInfo(w.ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != w.user || info.Email != "alice@example.com" {
		t.Fatalf("userinfo: %+v %v", info, err)
	}
	ui := lk.get(t, "/realms/acme/protocol/openid-connect/userinfo", withBearer(tok.AccessToken))
	ui.requireStatus(t, http.StatusOK)
	var teams struct {
		Authorized []struct{ Node, Role, Access string } `json:"teams_authorized"`
		Teams      []string                              `json:"teams"`
	}
	ui.decode(t, &teams)
	if len(teams.Authorized) != 2 || !slices.Equal(teams.Teams, []string{"team-a", "team-b"}) {
		t.Fatalf("userinfo teams: %s", ui.body)
	}
	lk.get(t, "/realms/acme/protocol/openid-connect/userinfo", withBearer("garbage")).checkHeader(t, "WWW-Authenticate", `Bearer realm="acme", error="invalid_token", error_description="the access token is invalid, expired or revoked"`)

	// Permissions are live: a role change shows in introspection at once.
	access := func() string {
		got := lk.introspect(t, "acme", w.rs.ClientID, w.rs.ClientSecret, tok.AccessToken)
		raw, _ := json.Marshal(got["access"])
		return string(raw)
	}
	if got := access(); got != `[{"access":"full","node":"team-a","role":"editor"},{"access":"read_only","node":"team-b","role":"viewer"}]` {
		t.Fatalf("access before the role change: %s", got)
	}
	lk.do(t, http.MethodPut, "/admin/realms/acme/users/"+w.user+"/memberships", strings.NewReader(`{"memberships":[{"node":"team-a","role":"viewer"}]}`),
		withBearer(w.admin), withContentType("application/json")).requireStatus(t, http.StatusOK)
	if got := access(); got != `[{"access":"read_only","node":"team-a","role":"viewer"}]` {
		t.Fatalf("access after the role change: %s", got)
	}

	// Refresh rotation: the old refresh token is dead at once; reusing it
	// revokes the whole family.
	old := tok.RefreshToken
	refreshed, err := cfg.TokenSource(w.ctx, &oauth2.Token{RefreshToken: old, Expiry: time.Now().Add(-time.Hour)}).Token()
	if err != nil || refreshed.RefreshToken == "" || refreshed.RefreshToken == old {
		t.Fatalf("refresh: %v", err)
	}
	lk.requireActive(t, "acme", w.rs.ClientID, w.rs.ClientSecret, refreshed.AccessToken, "refreshed access token")
	r := lk.postForm(t, tokenPath("acme"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old}, "client_id": {w.app}}.Encode())
	r.checkError(t, http.StatusBadRequest, "invalid_grant")
	lk.requireInactive(t, "acme", w.rs.ClientID, w.rs.ClientSecret, refreshed.AccessToken, "access token of a family whose refresh token was reused")
	lk.requireInactive(t, "acme", w.rs.ClientID, w.rs.ClientSecret, tok.AccessToken, "first access token of the revoked family")
	lk.postForm(t, tokenPath("acme"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshed.RefreshToken}, "client_id": {w.app}}.Encode()).
		checkError(t, http.StatusBadRequest, "invalid_grant")
}

func TestRefreshRules(t *testing.T) {
	t.Parallel()
	w := setUpOIDC(t)
	lk := w.lk
	cfg := w.oauthConfig(oidc.ScopeOpenID, "profile", "read")
	b := newBrowser(t)
	verifier := oauth2.GenerateVerifier()
	q := b.signIn(lk.base, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice", "correct horse battery", []string{"team-a"})
	tok, err := cfg.Exchange(w.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt, scope, clientID string) *response {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}}
		if scope != "" {
			f.Set("scope", scope)
		}
		return lk.postForm(t, tokenPath("acme"), f.Encode())
	}
	// Wider scope refused, narrower granted; bound to its client. Teams
	// are chosen at consent: a refresh cannot name one.
	refresh(tok.RefreshToken, "read email", w.app).checkError(t, http.StatusBadRequest, "invalid_scope")
	refresh(tok.RefreshToken, "team:team-a", w.app).checkError(t, http.StatusBadRequest, "invalid_scope")
	refresh(tok.RefreshToken, "read", w.conf).checkError(t, http.StatusUnauthorized, "invalid_client")
	r := refresh(tok.RefreshToken, "read", w.app)
	r.requireStatus(t, http.StatusOK)
	var narrowed struct {
		Scope        string `json:"scope"`
		RefreshToken string `json:"refresh_token"`
	}
	r.decode(t, &narrowed)
	if narrowed.Scope != "read" {
		t.Fatalf("narrowed scope = %q", narrowed.Scope)
	}
	// Concurrent refreshes with one token: exactly one succeeds.
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = refresh(narrowed.RefreshToken, "", w.app).status
		}()
	}
	wg.Wait()
	if n := countStatus(statuses, http.StatusOK); n != 1 {
		t.Fatalf("concurrent refreshes: %v, want exactly one 200", statuses)
	}

	// A scope the client loses after its code was issued, or while the
	// consent page is open, is not in the tokens.
	setScopes := func(scopes string) {
		lk.do(t, http.MethodPatch, "/admin/realms/acme/clients/"+w.app, strings.NewReader(`{"scopes":`+scopes+`}`),
			withBearer(w.admin), withContentType("application/merge-patch+json")).requireStatus(t, http.StatusOK)
	}
	exchangeAfter := func(change func(consent pageResp) url.Values) string {
		t.Helper()
		v := oauth2.GenerateVerifier()
		page := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "consent")))
		tok, err := cfg.Exchange(w.ctx, change(page).Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(tok.Extra("scope"))
	}
	got := exchangeAfter(func(page pageResp) url.Values {
		q := b.approve(lk.base, page, []string{"team-a"})
		setScopes(`["openid","profile","email"]`)
		return q
	})
	if got != "openid profile" {
		t.Errorf("scope of a code redeemed after the client lost read: %q, want \"openid profile\"", got)
	}
	setScopes(`["openid","profile","email","read"]`)
	got = exchangeAfter(func(page pageResp) url.Values {
		setScopes(`["openid","profile","email"]`)
		return b.approve(lk.base, page, []string{"team-a"})
	})
	if got != "openid profile" {
		t.Errorf("scope approved after the client lost read: %q, want \"openid profile\"", got)
	}
	consents := eventsOf(lk.events(t, w.admin, "acme", "after_seq=0&limit=1000").Events, "user.consent_granted", "")
	if last := consents[len(consents)-1]; slices.Contains(strs(last.Data["scopes"]), "read") {
		t.Errorf("the consent remembered after the client lost read still holds it: %v", last.Data["scopes"])
	}
}

func countStatus(statuses []int, want int) int {
	n := 0
	for _, s := range statuses {
		if s == want {
			n++
		}
	}
	return n
}

func TestAuthorizationEndpointErrors(t *testing.T) {
	t.Parallel()
	w := setUpOIDC(t)
	lk := w.lk
	b := newBrowser(t)
	authPath := lk.base + "/realms/acme/protocol/openid-connect/auth?"
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	base := url.Values{"client_id": {w.app}, "redirect_uri": {w.callbackBase}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"st"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	with := func(k, v string) url.Values {
		q := url.Values{}
		for kk, vv := range base {
			q[kk] = slices.Clone(vv)
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	// Untrustworthy target: an error page, never a redirect.
	for name, q := range map[string]url.Values{
		"unknown client":          with("client_id", "00000000-0000-4000-8000-000000000000"),
		"missing redirect_uri":    with("redirect_uri", ""),
		"unregistered redirect":   with("redirect_uri", "https://evil.example.com/cb"),
		"other loopback path":     with("redirect_uri", "http://127.0.0.1:4242/other"),
		"repeated redirect_uri":   func() url.Values { q := with("", ""); q.Add("redirect_uri", "https://evil.example.com"); return q }(),
		"confidential client url": with("client_id", w.rs.ClientID),
		// request_uri names a pushed request (RFC 9126); one this server
		// never made says nothing that can be trusted.
		"unknown request_uri": with("request_uri", "urn:example:req"),
	} {
		p := b.get(authPath + q.Encode())
		if p.status != http.StatusBadRequest || p.location != "" || !strings.Contains(p.body, "<html") {
			t.Errorf("%s: want an error page (400, no Location), got %d %q", name, p.status, p.location)
		}
	}
	// A query that cannot be read whole is not used in part; a repeated
	// client_id or redirect_uri wins over any other repeated parameter
	// (run ten times: the answer must not depend on map order).
	twice := with("", "")
	twice.Add("client_id", w.app)
	twice.Add("state", "again")
	for name, raw := range map[string]string{
		"bad escape":                   base.Encode() + "&nonce=abc%zz",
		"semicolon separator":          base.Encode() + "&x=1;nonce=abc",
		"repeated client_id and state": twice.Encode(),
	} {
		for range 10 {
			if p := b.get(authPath + raw); p.status != http.StatusBadRequest || p.location != "" || !strings.Contains(p.body, "<html") {
				t.Errorf("%s: want an error page (400, no Location), got %d %q", name, p.status, p.location)
				break
			}
		}
	}
	// Everything else goes back with error, state and iss.
	for name, tc := range map[string]struct {
		q    url.Values
		code string
	}{
		"response_type token":   {with("response_type", "token"), "unsupported_response_type"},
		"missing response_type": {with("response_type", ""), "invalid_request"},
		"repeated scope":        {func() url.Values { q := with("", ""); q.Add("scope", "read"); return q }(), "invalid_request"},
		"plain PKCE":            {with("code_challenge_method", "plain"), "invalid_request"},
		"missing method":        {with("code_challenge_method", ""), "invalid_request"},
		"malformed challenge":   {with("code_challenge", "short"), "invalid_request"},
		"impossible challenge":  {with("code_challenge", strings.Repeat("A", 42)+"_"), "invalid_request"}, // no SHA-256 encodes to it
		"nonce not UTF-8":       {with("nonce", "n\xff"), "invalid_request"},
		"public without PKCE":   {func() url.Values { q := with("code_challenge", ""); q.Del("code_challenge_method"); return q }(), "invalid_request"},
		"unknown scope":         {with("scope", "openid admin"), "invalid_scope"},
		"prompt none":           {with("prompt", "none"), "login_required"},
		"request object":        {with("request", "eyJhbGciOiJub25lIn0.e30."), "request_not_supported"},
	} {
		p := b.get(authPath + tc.q.Encode())
		if p.status != http.StatusFound {
			t.Errorf("%s: want 302 to the client, got %d:\n%s", name, p.status, p.body)
			continue
		}
		got := redirectQuery(t, p.location)
		if got.Get("error") != tc.code || got.Get("state") != "st" || got.Get("iss") != w.issuer || !strings.HasPrefix(p.location, w.callbackBase) {
			t.Errorf("%s: redirect %s, want error %s with state and iss", name, p.location, tc.code)
		}
	}
	// A parameter name sent back in error_description keeps to the
	// characters RFC 6749 §4.1.2.1 allows.
	q := with("", "")
	q.Add("caf\u00e9\"\n", "1")
	q.Add("caf\u00e9\"\n", "2")
	if desc := redirectQuery(t, b.get(authPath+q.Encode()).location).Get("error_description"); !strings.Contains(desc, "repeated") ||
		strings.ContainsFunc(desc, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' }) {
		t.Errorf("error_description for a repeated odd parameter name: %q", desc)
	}
	// A state that is not UTF-8 could not be kept exactly through sign-in:
	// refused at once, and sent back as it came (RFC 6749 §4.1.2.1).
	if got := redirectQuery(t, b.get(authPath+with("state", "ab\xffcd").Encode()).location); got.Get("error") != "invalid_request" || got.Get("state") != "ab\xffcd" {
		t.Errorf("state not UTF-8: error %q state %q, want invalid_request and the state as sent", got.Get("error"), got.Get("state"))
	}
	// POST carries the same parameters as a form (OIDC Core §3.1.2.1); it
	// is answered with a 303 to the same request as a GET, so that the
	// browser's SameSite=Lax cookies come along.
	postAuth := strings.TrimSuffix(authPath, "?")
	for _, q := range []url.Values{base, with("response_type", "token")} {
		p := b.post(postAuth, q)
		if p.status != http.StatusSeeOther || p.location != "/realms/acme/protocol/openid-connect/auth?"+q.Encode() {
			t.Errorf("POST authorization request: %d %q, want 303 to the same request as a GET", p.status, p.location)
		}
	}
	if p := b.get(lk.base + "/realms/acme/protocol/openid-connect/auth?" + base.Encode()); p.status != http.StatusOK || !strings.Contains(p.body, "Sign in") {
		t.Errorf("the GET a POST authorization request leads to: %d, want the sign-in page", p.status)
	}
	jsonPost, _ := http.NewRequest(http.MethodPost, postAuth, strings.NewReader(`{"client_id":"`+w.app+`"}`))
	jsonPost.Header.Set("Content-Type", "application/json")
	if p := b.do(jsonPost); p.status != http.StatusBadRequest || p.location != "" {
		t.Errorf("POST authorization request as JSON: %d %q, want an error page", p.status, p.location)
	}
	var meta map[string]any
	lk.get(t, "/realms/acme/.well-known/openid-configuration").decode(t, &meta)
	for _, k := range []string{"request_parameter_supported", "request_uri_parameter_supported"} {
		if v, ok := meta[k]; !ok || v != false {
			t.Errorf("discovery %s = %v (present: %v), want false", k, v, ok)
		}
	}
	// Deny → access_denied; unknown parameters are ignored.
	login := b.get(authPath + with("unknown_param", "x").Encode())
	action, fields := formOf(t, lk.base, login.body)
	fields.Set("username", "alice")
	fields.Set("password", "correct horse battery")
	consent := b.post(action, fields)
	action, fields = formOf(t, lk.base, consent.body)
	fields.Set("action", "deny")
	denied := b.post(action, fields)
	if denied.status != http.StatusSeeOther || redirectQuery(t, denied.location).Get("error") != "access_denied" {
		t.Fatalf("deny: %d %s", denied.status, denied.location)
	}
	// A form post without the browser's CSRF cookie is refused.
	other := newBrowser(t)
	if p := other.post(action, fields); p.status != http.StatusForbidden {
		t.Fatalf("consent post from another browser: %d", p.status)
	}
	// Signed in, a POST authorization request reaches the session through
	// the GET it leads to: no second sign-in.
	if p := b.post(postAuth, base); p.status != http.StatusSeeOther {
		t.Fatalf("POST authorization request: %d", p.status)
	} else if next := b.get(lk.base + p.location); next.status != http.StatusOK || strings.Contains(next.body, "Sign in") || !strings.Contains(next.body, "<form") {
		t.Errorf("a signed-in browser's POST authorization request: %d, want the consent page, not sign-in:\n%s", next.status, next.body)
	}
}

func TestCodeExchangeRules(t *testing.T) {
	t.Parallel()
	w := setUpOIDC(t)
	lk := w.lk
	get := func(b *browser, q url.Values) string {
		got := b.signIn(lk.base, lk.base+"/realms/acme/protocol/openid-connect/auth?"+q.Encode(), "alice", "correct horse battery", []string{"team-a"})
		if got.Get("code") == "" {
			t.Fatalf("no code: %v", got)
		}
		return got.Get("code")
	}
	verifier := oauth2.GenerateVerifier()
	pkce := url.Values{"client_id": {w.app}, "redirect_uri": {w.callbackBase}, "response_type": {"code"}, "scope": {"openid"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	exchange := func(code, redirect, v, clientID string, auth ...reqOpt) *response {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}
		if v != "" {
			f.Set("code_verifier", v)
		}
		if clientID != "" {
			f.Set("client_id", clientID)
		}
		return lk.postForm(t, tokenPath("acme"), f.Encode(), auth...)
	}
	b := newBrowser(t)
	code := get(b, pkce)
	exchange(code, "http://127.0.0.1:9999/callback", verifier, w.app).checkError(t, http.StatusBadRequest, "invalid_grant")
	code = get(b, pkce)
	exchange(code, w.callbackBase, "", w.app).checkError(t, http.StatusBadRequest, "invalid_grant")
	code = get(b, pkce)
	exchange(code, w.callbackBase, oauth2.GenerateVerifier(), w.app).checkError(t, http.StatusBadRequest, "invalid_grant")
	code = get(b, pkce)
	exchange(code, w.callbackBase, verifier, w.conf, withBasic(w.conf, w.confSecret)).checkError(t, http.StatusBadRequest, "invalid_grant")

	// A confidential client without PKCE: refused where the realm requires
	// PKCE of every client, as a new realm does; allowed once the setting
	// is off, and then a verifier for such a code is refused.
	conf := url.Values{"client_id": {w.conf}, "redirect_uri": {"https://web.example.com/cb"}, "response_type": {"code"}, "scope": {"openid"}}
	if got := b.signIn(lk.base, lk.base+"/realms/acme/protocol/openid-connect/auth?"+conf.Encode(), "alice", "correct horse battery", nil); got.Get("error") != "invalid_request" ||
		got.Get("error_description") != "this realm requires PKCE of every client (code_challenge with S256)" {
		t.Fatalf("a confidential client without PKCE in a new realm: %v", got)
	}
	settings := lk.do(t, http.MethodPut, "/admin/realms/acme/settings", strings.NewReader(`{"require_pkce":false}`), withBearer(w.admin), withContentType("application/json"))
	settings.requireStatus(t, http.StatusOK)
	code = get(b, conf)
	exchange(code, "https://web.example.com/cb", verifier, "", withBasic(w.conf, w.confSecret)).checkError(t, http.StatusBadRequest, "invalid_grant")
	code = get(b, conf)
	r := exchange(code, "https://web.example.com/cb", "", "", withBasic(w.conf, w.confSecret))
	r.requireStatus(t, http.StatusOK)
	var body struct {
		IDToken string `json:"id_token"`
	}
	r.decode(t, &body)
	if alg := jwtHeader(t, body.IDToken)["alg"]; alg != "ES256" {
		t.Fatalf("ID token of a client choosing ES256 is %v", alg)
	}

	// Simultaneous redemptions: exactly one succeeds. Those that come after
	// it are reuse and revoke its grant, once: one grant.revoked however
	// many reuses there were.
	revokedBefore := lk.countEvents(t, w.admin, "acme", "grant.revoked")
	code = get(b, pkce)
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = exchange(code, w.callbackBase, verifier, w.app).status
		}()
	}
	wg.Wait()
	if n := countStatus(statuses, http.StatusOK); n != 1 {
		t.Fatalf("simultaneous redemptions: %v, want exactly one 200", statuses)
	}
	// Then simultaneous reuses of the spent code: all refused, and the
	// grant revoked exactly once over both rounds.
	for i := range statuses {
		wg.Go(func() { statuses[i] = exchange(code, w.callbackBase, verifier, w.app).status })
	}
	wg.Wait()
	if n := countStatus(statuses, http.StatusBadRequest); n != len(statuses) {
		t.Fatalf("simultaneous reuses of a spent code: %v, want every one 400", statuses)
	}
	if n := lk.countEvents(t, w.admin, "acme", "grant.revoked") - revokedBefore; n != 1 {
		t.Errorf("simultaneous redemptions and reuses of one code wrote %d grant.revoked events, want exactly one", n)
	}
}

func jwtHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSignInSessionsAndLogout(t *testing.T) {
	t.Parallel()
	w := setUpOIDC(t)
	lk := w.lk
	cfg := w.oauthConfig(oidc.ScopeOpenID)
	b := newBrowser(t)
	authURL := cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	login := b.get(authURL)
	action, fields := formOf(t, lk.base, login.body)

	// A wrong password and an unknown user read the same.
	fields.Set("username", "alice")
	fields.Set("password", "wrong password!!")
	wrong := b.post(action, fields)
	fields.Set("username", "nobody")
	unknown := b.post(action, fields)
	// The form again with the message: 200, as a 401 would need a
	// WWW-Authenticate challenge no browser form answers (RFC 9110).
	if wrong.status != http.StatusOK || unknown.status != http.StatusOK ||
		!strings.Contains(wrong.body, "Invalid username or password.") || !strings.Contains(unknown.body, "Invalid username or password.") {
		t.Fatalf("failed sign-ins: %d %d", wrong.status, unknown.status)
	}
	// Repeated failures lock the username, and the page says so.
	fields.Set("username", "locked-out")
	var last pageResp
	for range 10 {
		last = b.post(action, fields)
	}
	if !strings.Contains(last.body, "locked until") {
		t.Fatalf("after 10 failures the page does not say the account is locked:\n%s", last.body)
	}

	// Sign in: the session is a HttpOnly, SameSite=Lax cookie, listed and
	// revocable by an administrator.
	fields.Set("username", "alice")
	fields.Set("password", "correct horse battery")
	req, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "LATCHKEY_SESSION" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/realms/acme/" {
		t.Fatalf("session cookie %+v", cookie)
	}
	sessions := lk.get(t, "/admin/realms/acme/ui-sessions", withBearer(w.admin))
	sessions.requireStatus(t, http.StatusOK)
	var list struct {
		Sessions []struct {
			ID, UserID, Device, Browser, IP string
		} `json:"sessions"`
	}
	if err := json.Unmarshal(sessions.body, &list); err != nil || len(list.Sessions) != 1 {
		t.Fatalf("ui sessions: %s", sessions.body)
	}
	s := list.Sessions[0]
	if !strings.Contains(s.Browser, "Safari") || !strings.Contains(s.Device, "mac") && !strings.Contains(s.Device, "Mac") || s.IP != "127.0.0.1" {
		t.Errorf("session description: %+v (%s)", s, sessions.body)
	}
	// An administrator ends the session; the next request asks to sign in.
	lk.do(t, http.MethodDelete, "/admin/realms/acme/ui-sessions/"+s.ID, nil, withBearer(w.admin)).requireStatus(t, http.StatusNoContent)
	if p := b.get(authURL); p.status != http.StatusOK || !strings.Contains(p.body, "Sign in") {
		t.Fatalf("after the session was revoked: %d", p.status)
	}

	// A bare GET to the logout endpoint (another site could send one) only
	// asks; the session survives it.
	b.signIn(lk.base, authURL, "alice", "correct horse battery", nil)
	logout := lk.base + "/realms/acme/protocol/openid-connect/logout?"
	ask := b.get(logout + url.Values{"client_id": {w.app}, "post_logout_redirect_uri": {"https://cli.example.com/bye"}}.Encode())
	if ask.status != http.StatusOK || !strings.Contains(ask.body, "Sign out of acme?") {
		t.Fatalf("logout without id_token_hint does not ask: %d", ask.status)
	}
	if p := b.get(authURL); strings.Contains(p.body, "Sign in") {
		t.Fatal("a GET to the logout endpoint signed the user out without asking")
	}
	// Confirmed, it returns only to a registered post-logout URI.
	confirm := func(params url.Values) pageResp {
		page := b.get(logout + params.Encode())
		action, fields := formOf(t, lk.base, page.body)
		fields.Set("confirm", "yes")
		return b.post(action, fields)
	}
	if p := confirm(url.Values{"client_id": {w.app}, "post_logout_redirect_uri": {"https://evil.example.com/"}}); p.status != http.StatusOK || p.location != "" {
		t.Fatalf("logout to an unregistered URI: %d %q", p.status, p.location)
	}
	if p := b.get(authURL); !strings.Contains(p.body, "Sign in") {
		t.Fatal("still signed in after a confirmed logout")
	}
	b.signIn(lk.base, authURL, "alice", "correct horse battery", nil)
	if p := confirm(url.Values{"client_id": {w.app}, "post_logout_redirect_uri": {"https://cli.example.com/bye"}, "state": {"x"}}); p.status != http.StatusSeeOther || p.location != "https://cli.example.com/bye?state=x" {
		t.Fatalf("logout to a registered URI: %d %q", p.status, p.location)
	}
	// A confirmation posted without the browser's CSRF value is refused.
	b.signIn(lk.base, authURL, "alice", "correct horse battery", nil)
	if p := newBrowser(t).post(lk.base+"/realms/acme/protocol/openid-connect/logout", url.Values{"confirm": {"yes"}}); !strings.Contains(p.body, "Sign out of acme?") {
		t.Fatalf("a forged logout confirmation was not asked again: %d", p.status)
	}
	// With a valid id_token_hint, logout happens at once.
	verifier := oauth2.GenerateVerifier()
	q := b.signIn(lk.base, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice", "correct horse battery", []string{"team-a"})
	tok, err := cfg.Exchange(w.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	hint, _ := tok.Extra("id_token").(string)
	// Access tokens are signed by the same realm keys but are no hint:
	// another site holding one (its own service token, or a user's) cannot
	// sign the user out with it.
	service := lk.clientToken(t, "acme", w.rs.ClientID, w.rs.ClientSecret, "").AccessToken
	for name, notAnIDToken := range map[string]string{"a service access token": service, "the user's access token": tok.AccessToken} {
		if p := b.get(logout + url.Values{"id_token_hint": {notAnIDToken}}.Encode()); p.status != http.StatusBadRequest {
			t.Errorf("logout with %s as id_token_hint: %d, want 400", name, p.status)
		}
	}
	if p := b.get(authURL); strings.Contains(p.body, "Sign in") {
		t.Fatal("an access token as id_token_hint signed the user out")
	}
	if p := b.get(logout + url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://cli.example.com/bye"}}.Encode()); p.status != http.StatusSeeOther {
		t.Fatalf("logout with a valid id_token_hint: %d", p.status)
	}
	if p := b.get(authURL); !strings.Contains(p.body, "Sign in") {
		t.Fatal("still signed in after logout with an id_token_hint")
	}
	// An ID token of an earlier session (any other sid) only asks.
	b.signIn(lk.base, authURL, "alice", "correct horse battery", nil)
	stale := b.get(logout + url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://cli.example.com/bye"}}.Encode())
	if stale.status != http.StatusOK || !strings.Contains(stale.body, "Sign out of acme?") {
		t.Fatalf("logout with an ID token of an earlier session does not ask: %d", stale.status)
	}
	if p := b.get(authURL); strings.Contains(p.body, "Sign in") {
		t.Fatal("an ID token of an earlier session signed the new session out without asking")
	}
	action, fields = formOf(t, lk.base, stale.body)
	fields.Set("confirm", "yes")
	if p := b.post(action, fields); p.status != http.StatusSeeOther || p.location != "https://cli.example.com/bye" {
		t.Fatalf("confirmed logout with an earlier session's hint: %d %q, want the registered post-logout URI", p.status, p.location)
	}
	if p := b.get(authURL); !strings.Contains(p.body, "Sign in") {
		t.Fatal("still signed in after a confirmed logout")
	}
	if p := b.get(logout + url.Values{"id_token_hint": {hint}, "client_id": {w.conf}}.Encode()); p.status != http.StatusBadRequest {
		t.Fatalf("id_token_hint for another client than client_id: %d", p.status)
	}
}

// TestSignInAndConsentFollowChangesMidFlow: an approval posted from a
// consent page counts for the user that page named and the access it
// described (another user signed in since in the same browser, or a
// preset changed since, and the page is shown again); signing in ends the
// browser's earlier session; a redirect URI removed mid-flow gets no code;
// a password change signs the user out.
func TestSignInAndConsentFollowChangesMidFlow(t *testing.T) {
	t.Parallel()
	w := setUpOIDC(t)
	lk := w.lk
	lk.postJSON(t, "/admin/realms/acme/users", `{"username":"bob","display_name":"Bob","password":"bob's long password","memberships":[{"node":"team-a","role":"editor"}]}`,
		withBearer(w.admin)).requireStatus(t, http.StatusCreated)
	cfg := w.oauthConfig(oidc.ScopeOpenID)
	authURL := func(extra ...oauth2.AuthCodeOption) string {
		return cfg.AuthCodeURL("s", append(extra, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))...)
	}
	b := newBrowser(t)
	signIn := func(url, user, password string) pageResp {
		t.Helper()
		action, fields := formOf(t, lk.base, b.get(url).body)
		fields.Set("username", user)
		fields.Set("password", password)
		page := b.post(action, fields)
		if page.status != http.StatusOK || !strings.Contains(page.body, "wants access") {
			t.Fatalf("signing in as %s: %d, want the consent page", user, page.status)
		}
		return page
	}
	approve := func(page pageResp) pageResp {
		t.Helper()
		action, fields := formOf(t, lk.base, page.body)
		fields.Set("action", "approve")
		fields.Add("team", "team-a")
		return b.post(action, fields)
	}

	forAlice := signIn(authURL(), "alice", "correct horse battery")
	if !strings.Contains(forAlice.body, "Signed in as <strong>Alice</strong>") || !strings.Contains(forAlice.body, "Full access") {
		t.Fatalf("consent page for Alice:\n%s", forAlice.body)
	}
	signIn(authURL(oauth2.SetAuthURLParam("prompt", "login")), "bob", "bob's long password")
	// Alice's page, approved while Bob is the browser's user: asked again, as Bob.
	again := approve(forAlice)
	if again.status != http.StatusOK || !strings.Contains(again.body, "Signed in as <strong>Bob</strong>") {
		t.Fatalf("Alice's consent page approved after Bob signed in: %d %q, want the consent page again for Bob", again.status, again.location)
	}
	// The client's preset changes while Bob reads the page: asked again,
	// saying read-only.
	lk.do(t, http.MethodPatch, "/admin/realms/acme/clients/"+w.app, strings.NewReader(`{"access_preset":"read_only"}`),
		withBearer(w.admin), withContentType("application/merge-patch+json")).requireStatus(t, http.StatusOK)
	readOnly := approve(again)
	if readOnly.status != http.StatusOK || !strings.Contains(readOnly.body, "Read-only access") {
		t.Fatalf("consent approved after the preset changed: %d %q, want the page again, read-only", readOnly.status, readOnly.location)
	}
	done := approve(readOnly)
	if done.status != http.StatusSeeOther || redirectQuery(t, done.location).Get("code") == "" {
		t.Fatalf("approving the page as shown: %d %q, want a code", done.status, done.location)
	}
	// The same form again (the back button, a replay): no second code.
	if replay := approve(readOnly); replay.status != http.StatusConflict || replay.location != "" {
		t.Errorf("the completed consent form posted again: %d %q, want 409 and no code", replay.status, replay.location)
	}
	if n := len(eventsOf(lk.events(t, w.admin, "acme", "after_seq=0&limit=1000").Events, "user.consent_granted", "")); n != 1 {
		t.Errorf("%d user.consent_granted events, want the one approval of what was shown", n)
	}
	// The same form sent several times at once: one code, whatever the
	// timing.
	page := b.get(authURL(oauth2.SetAuthURLParam("prompt", "consent")))
	action, fields := formOf(t, lk.base, page.body)
	fields.Set("action", "approve")
	fields.Add("team", "team-a")
	if codes := countCodes(t, b.postAtOnce(action, fields, 6), "consent"); codes != 1 {
		t.Errorf("%d codes for simultaneous answers to one consent page, want exactly 1", codes)
	}
	// Signing in as Bob ended Alice's session in this browser: one browser,
	// one session.
	var list struct {
		Sessions []struct {
			UserID string `json:"user_id"`
		} `json:"sessions"`
	}
	lk.get(t, "/admin/realms/acme/ui-sessions", withBearer(w.admin)).decode(t, &list)
	if len(list.Sessions) != 1 || list.Sessions[0].UserID == w.user {
		t.Errorf("ui-sessions after Alice then Bob signed in in one browser: %+v, want Bob's only", list.Sessions)
	}

	// A redirect URI removed while the consent page is open gets no code.
	lk.do(t, http.MethodPatch, "/admin/realms/acme/clients/"+w.app, strings.NewReader(`{"access_preset":"full"}`),
		withBearer(w.admin), withContentType("application/merge-patch+json")).requireStatus(t, http.StatusOK)
	page = b.get(authURL(oauth2.SetAuthURLParam("prompt", "consent")))
	if page.status != http.StatusOK || !strings.Contains(page.body, "wants access") {
		t.Fatalf("prompt=consent: %d, want the consent page", page.status)
	}
	lk.do(t, http.MethodPatch, "/admin/realms/acme/clients/"+w.app, strings.NewReader(`{"redirect_uris":["http://127.0.0.1/elsewhere"]}`),
		withBearer(w.admin), withContentType("application/merge-patch+json")).requireStatus(t, http.StatusOK)
	if p := approve(page); p.status != http.StatusBadRequest || p.location != "" {
		t.Errorf("approved after its redirect URI was removed: %d %q, want an error page and no code", p.status, p.location)
	}

	lk.do(t, http.MethodPatch, "/admin/realms/acme/clients/"+w.app, strings.NewReader(`{"redirect_uris":["`+w.callbackBase+`"]}`),
		withBearer(w.admin), withContentType("application/merge-patch+json")).requireStatus(t, http.StatusOK)

	// A password change signs the user out everywhere.
	var bob struct {
		Users []struct {
			ID string `json:"id"`
		} `json:"users"`
	}
	lk.get(t, "/admin/realms/acme/users?q=bob", withBearer(w.admin)).decode(t, &bob)
	lk.do(t, http.MethodPut, "/admin/realms/acme/users/"+bob.Users[0].ID+"/password", strings.NewReader(`{"password":"bob's new long password"}`),
		withBearer(w.admin), withContentType("application/json")).requireStatus(t, http.StatusNoContent)
	if p := b.get(authURL(oauth2.SetAuthURLParam("prompt", "none"))); redirectQuery(t, p.location).Get("error") != "login_required" {
		t.Errorf("prompt=none after the password changed: %d %q, want login_required", p.status, p.location)
	}
}

func TestDisabledUserTokensAreInactive(t *testing.T) {
	t.Parallel()
	w := setUpOIDC(t)
	lk := w.lk
	cfg := w.oauthConfig(oidc.ScopeOpenID)
	verifier := oauth2.GenerateVerifier()
	q := newBrowser(t).signIn(lk.base, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice", "correct horse battery", []string{"team-a"})
	tok, err := cfg.Exchange(w.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	lk.requireActive(t, "acme", w.rs.ClientID, w.rs.ClientSecret, tok.AccessToken, "before disabling the user")
	lk.postJSON(t, "/admin/realms/acme/users/"+w.user+"/disable", "", withBearer(w.admin)).requireStatus(t, http.StatusOK)
	lk.requireInactive(t, "acme", w.rs.ClientID, w.rs.ClientSecret, tok.AccessToken, "token of a disabled user")
	r := lk.postForm(t, tokenPath("acme"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {w.app}}.Encode())
	r.checkError(t, http.StatusBadRequest, "invalid_grant")
}

// TestRevocationReachesRefreshTokens: revoking a refresh token at the
// revocation endpoint, revoking every token of the client, or disabling
// the user kills refresh tokens too — not only access tokens.
func TestRevocationReachesRefreshTokens(t *testing.T) {
	t.Parallel()
	w := setUpOIDC(t)
	lk := w.lk
	cfg := w.oauthConfig(oidc.ScopeOpenID)
	b := newBrowser(t)
	tokenFor := func() *oauth2.Token {
		verifier := oauth2.GenerateVerifier()
		q := b.signIn(lk.base, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice", "correct horse battery", []string{"team-a"})
		tok, err := cfg.Exchange(w.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	refresh := func(rt string) *response {
		return lk.postForm(t, tokenPath("acme"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {w.app}}.Encode())
	}

	// RFC 7009: a refresh token sent to /revoke revokes its grant; another
	// client's attempt is refused, as for access tokens, and changes nothing.
	tok := tokenFor()
	lk.postForm(t, revokePath("acme"), url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}.Encode(), withBasic(w.rs.ClientID, w.rs.ClientSecret)).
		checkError(t, http.StatusBadRequest, "unauthorized_client")
	rotated := refresh(tok.RefreshToken)
	rotated.requireStatus(t, http.StatusOK)
	var next struct {
		RefreshToken string `json:"refresh_token"`
	}
	rotated.decode(t, &next)
	tok.RefreshToken = next.RefreshToken
	lk.postForm(t, revokePath("acme"), url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {w.app}}.Encode()).requireStatus(t, http.StatusOK)
	refresh(tok.RefreshToken).checkError(t, http.StatusBadRequest, "invalid_grant")
	lk.requireInactive(t, "acme", w.rs.ClientID, w.rs.ClientSecret, tok.AccessToken, "access token of a revoked refresh token's grant")

	// Revoking every token of the client reaches refresh tokens.
	tok = tokenFor()
	lk.postJSON(t, "/admin/realms/acme/clients/"+w.app+"/revoke-tokens", "", withBearer(w.admin)).requireStatus(t, http.StatusNoContent)
	refresh(tok.RefreshToken).checkError(t, http.StatusBadRequest, "invalid_grant")

	// Disabling the user and enabling again does not bring refresh back.
	tok = tokenFor()
	lk.postJSON(t, "/admin/realms/acme/users/"+w.user+"/disable", "", withBearer(w.admin)).requireStatus(t, http.StatusOK)
	lk.postJSON(t, "/admin/realms/acme/users/"+w.user+"/enable", "", withBearer(w.admin)).requireStatus(t, http.StatusOK)
	refresh(tok.RefreshToken).checkError(t, http.StatusBadRequest, "invalid_grant")
}

// TestStepUpAndAdminBoundaries: prompt=login cannot be skipped by posting
// the consent form with an old session; node-owned and user-delegated
// management tokens are refused by the admin API.
func TestStepUpAndAdminBoundaries(t *testing.T) {
	t.Parallel()
	w := setUpOIDC(t)
	lk := w.lk
	cfg := w.oauthConfig(oidc.ScopeOpenID)
	b := newBrowser(t)
	b.signIn(lk.base, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "alice", "correct horse battery", []string{"team-a"})
	// max_age: a recent enough sign-in is kept; max_age=0 always asks
	// again, even within the second of the sign-in (OIDC Core §3.1.2.1).
	withMaxAge := func(s string) pageResp {
		return b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("max_age", s)))
	}
	if p := withMaxAge("3600"); p.status != http.StatusFound || redirectQuery(t, p.location).Get("code") == "" {
		t.Errorf("max_age=3600 right after signing in: %d %q, want a code at once", p.status, p.location)
	}
	if p := withMaxAge("0"); p.status != http.StatusOK || !strings.Contains(p.body, "Sign in") {
		t.Errorf("max_age=0 right after signing in: %d %q, want the sign-in page", p.status, p.location)
	}
	login := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "login")))
	if !strings.Contains(login.body, "Sign in") {
		t.Fatalf("prompt=login does not ask to sign in: %d", login.status)
	}
	_, fields := formOf(t, lk.base, login.body)
	fields.Set("action", "approve")
	fields.Add("team", "team-a")
	if p := b.post(lk.base+"/realms/acme/login-actions/consent", fields); p.status != http.StatusForbidden || p.location != "" {
		t.Fatalf("consent posted without the sign-in prompt=login asked for: %d %q", p.status, p.location)
	}

	lk.postJSON(t, "/admin/realms/acme/nodes", `{"slug":"proj","kind":"project"}`, withBearer(w.admin)).requireStatus(t, http.StatusCreated)
	r := lk.postJSON(t, "/admin/realms/acme/nodes/proj/client-credentials", `{"scope":"management"}`, withBearer(w.admin))
	r.requireStatus(t, http.StatusCreated)
	var owned clientCreated
	r.decode(t, &owned)
	nodeToken := lk.clientToken(t, "acme", owned.ClientID, owned.ClientSecret, "management").AccessToken
	lk.postJSON(t, "/admin/realms/acme/clients", `{"name":"sneaky"}`, withBearer(nodeToken)).checkError(t, http.StatusForbidden, "insufficient_scope")
}

// The sign-in, consent and logout forms are read as strictly as the OAuth
// endpoints: one content type, 64 KiB, nothing else done on refusal.
func TestBrowserFormsAreReadStrictly(t *testing.T) {
	t.Parallel()
	w := setUpOIDC(t)
	lk := w.lk
	big := "client_id=x&pad=" + strings.Repeat("a", 70<<10)
	for _, path := range []string{"/login-actions/authenticate", "/login-actions/consent", "/protocol/openid-connect/logout"} {
		u := "/realms/acme" + path
		if r := lk.postForm(t, u, big); r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("POST %s with a 70 KiB form: HTTP %d, want 413", path, r.status)
		}
		var multipart bytes.Buffer
		mw := newMultipart(&multipart, "client_id", "x")
		r := lk.do(t, http.MethodPost, u, &multipart, withContentType(mw))
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "x-www-form-urlencoded") {
			t.Errorf("POST %s as multipart/form-data: HTTP %d, want 400 naming the content type:\n%s", path, r.status, r.body)
		}
	}
}

// newMultipart writes a multipart/form-data body of one field and returns
// its content type.
func newMultipart(buf *bytes.Buffer, name, value string) string {
	mw := multipart.NewWriter(buf)
	_ = mw.WriteField(name, value)
	_ = mw.Close()
	return mw.FormDataContentType()
}

// A user's demotion reaches what introspection says of their tokens at once,
// and the tokens a refresh mints afterwards.
func TestDemotionReachesIntrospectionAndRefresh(t *testing.T) {
	t.Parallel()
	w := setUpOIDC(t)
	lk := w.lk
	cfg := w.oauthConfig(oidc.ScopeOpenID, "read")
	verifier := oauth2.GenerateVerifier()
	q := newBrowser(t).signIn(lk.base, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice", "correct horse battery", []string{"team-a"})
	tok, err := cfg.Exchange(w.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	stated := func(what string) (nodes []string, preset any) {
		t.Helper()
		in := lk.requireActive(t, "acme", w.rs.ClientID, w.rs.ClientSecret, tok.AccessToken, what)
		return strs(in["nodes"]), in["preset"]
	}
	setMemberships := func(ms string) {
		lk.do(t, http.MethodPut, "/admin/realms/acme/users/"+w.user+"/memberships", strings.NewReader(`{"memberships":`+ms+`}`),
			withBearer(w.admin), withContentType("application/json")).requireStatus(t, http.StatusOK)
	}
	if nodes, preset := stated("editor on team-a"); !slices.Equal(nodes, []string{"team-a"}) || preset != "full" {
		t.Fatalf("editor on team-a, full client: nodes %v preset %v", nodes, preset)
	}
	setMemberships(`[{"node":"team-a","role":"viewer"}]`)
	if nodes, preset := stated("viewer on team-a"); !slices.Equal(nodes, []string{"team-a"}) || preset != "read_only" {
		t.Errorf("after the demotion to viewer: nodes %v preset %v, want [team-a] read_only", nodes, preset)
	}
	setMemberships(`[]`)
	if nodes, preset := stated("no membership"); len(nodes) != 0 || preset != "read_only" {
		t.Errorf("after losing every membership: nodes %v preset %v, want none and read_only", nodes, preset)
	}
	refreshed, err := cfg.TokenSource(w.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if claims := lcClaims(t, refreshed.AccessToken); len(strs(claims["nodes"])) != 0 || claims["preset"] != "read_only" {
		t.Errorf("token refreshed after the user left team-a: nodes %v preset %v, want no nodes", claims["nodes"], claims["preset"])
	}
}

// A sign-in form sent several times at once (a double click, a retrying
// proxy): one code, the other answers the HTML "already complete" page,
// and the browser is left with one session.
func TestSignInFormSentTwiceAtOnce(t *testing.T) {
	t.Parallel()
	// A slot per form sent: on a loaded machine, six password checks one
	// after the other may outlast a check's patience (503), which is not
	// what this test is about.
	w := setUpOIDC(t, "--max-concurrent-hashes", "6")
	lk := w.lk
	cfg := w.oauthConfig(oidc.ScopeOpenID)
	authURL := func() string { return cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())) }
	newBrowser(t).signIn(lk.base, authURL(), "alice", "correct horse battery", []string{"team-a"}) // consent remembered
	b := newBrowser(t)
	action, fields := formOf(t, lk.base, b.get(authURL()).body)
	fields.Set("username", "alice")
	fields.Set("password", "correct horse battery")
	if codes := countCodes(t, b.postAtOnce(action, fields, 6), "sign-in"); codes != 1 {
		t.Errorf("%d codes for one sign-in form sent 6 times at once, want 1", codes)
	}
	// The browser holds the session that got the code: signed in.
	if p := b.get(authURL()); p.status != http.StatusFound || redirectQuery(t, p.location).Get("code") == "" {
		t.Errorf("the browser after its double sign-in: %d %q, want a code at once (signed in)", p.status, p.location)
	}
	var list struct {
		Sessions []struct {
			SessionID string `json:"session_id"`
		} `json:"sessions"`
	}
	lk.get(t, "/admin/realms/acme/ui-sessions", withBearer(w.admin)).decode(t, &list)
	if len(list.Sessions) != 2 {
		t.Errorf("%d browser sessions after two browsers signed in, want 2 (one each): %+v", len(list.Sessions), list.Sessions)
	}
	// An administrator signs the user out everywhere at once.
	r := lk.do(t, http.MethodDelete, "/admin/realms/acme/ui-sessions?user_id="+w.user, nil, withBearer(w.admin))
	r.requireStatus(t, http.StatusOK)
	var ended struct {
		Ended int `json:"ended"`
	}
	if r.decode(t, &ended); ended.Ended != len(list.Sessions) {
		t.Errorf("DELETE ui-sessions?user_id: ended %d, want %d", ended.Ended, len(list.Sessions))
	}
	list.Sessions = nil
	lk.get(t, "/admin/realms/acme/ui-sessions", withBearer(w.admin)).decode(t, &list)
	if len(list.Sessions) != 0 {
		t.Errorf("sessions left after ending the user's: %+v", list.Sessions)
	}
	if p := b.get(authURL()); p.status != http.StatusOK || !strings.Contains(p.body, "Sign in") {
		t.Errorf("the browser after its session was ended: %d, want the sign-in page", p.status)
	}
}
