package main

// End-to-end: the reference documents of the products whose workflows
// Latchkey serves (../shared/reference/, described in README
// "Compatibility"). Each test runs its document's own example requests —
// curl lines through the real curl, the HTTP requests and JSON bodies as
// written — with only our host and ids substituted, against a realm with
// that product's profile or defaults on.

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// compatServer is one server with an admin token.
type compatServer struct {
	lk    *latchkey
	admin string
	port  string
}

func startCompat(t *testing.T, name string, args ...string) *compatServer {
	t.Helper()
	secret := "e2e-compat-" + name + "-bootstrap-secret"
	addr := freeAddr(t)
	lk := startLatchkey(t, serverOpts{name: name, addr: addr, data: t.TempDir(), bootstrapSecret: secret, args: args})
	_, port, _ := net.SplitHostPort(addr)
	return &compatServer{lk: lk, admin: lk.adminToken(t, secret).AccessToken, port: port}
}

// send is an admin request with a JSON body (none when empty).
func (s *compatServer) send(t *testing.T, method, path, body string, opts ...reqOpt) *response {
	t.Helper()
	var rd io.Reader
	all := []reqOpt{withBearer(s.admin)}
	if body != "" {
		rd = strings.NewReader(body)
		all = append(all, withContentType("application/json"))
	}
	return s.lk.do(t, method, path, rd, append(all, opts...)...)
}

// realm creates a realm with settings (a merge patch; none when empty).
func (s *compatServer) realm(t *testing.T, name, settings string) {
	t.Helper()
	s.send(t, http.MethodPost, "/admin/realms", `{"name":"`+name+`"}`).requireStatus(t, http.StatusCreated)
	if settings != "" {
		s.send(t, http.MethodPatch, "/admin/realms/"+name+"/settings", settings).requireStatus(t, http.StatusOK)
	}
}

// create posts a body to an admin collection of realm and requires 201.
func (s *compatServer) create(t *testing.T, realm, collection, body string) *response {
	t.Helper()
	r := s.send(t, http.MethodPost, "/admin/realms/"+realm+"/"+collection, body)
	r.requireStatus(t, http.StatusCreated)
	return r
}

// compatClient is a client view with the settings these tests read.
type compatClient struct {
	ClientID             string   `json:"client_id"`
	ClientSecret         string   `json:"client_secret"`
	Name                 string   `json:"name"`
	Kind                 string   `json:"kind"`
	GrantTypes           []string `json:"grant_types"`
	Scopes               []string `json:"scopes"`
	OptionalScopes       []string `json:"optional_scopes"`
	AccessTokenLifetime  int64    `json:"access_token_lifetime"`
	IssueRefreshTokens   bool     `json:"issue_refresh_tokens"`
	RefreshTokenLifetime int64    `json:"refresh_token_lifetime"`
	TokenEndpointAuth    string   `json:"token_endpoint_auth_method"`
	TeamRestrictions     []string `json:"team_restrictions"`
	AccessPreset         string   `json:"access_preset"`
	LastUsedAt           int64    `json:"last_used_at"`
}

func (s *compatServer) client(t *testing.T, realm, body string) compatClient {
	t.Helper()
	var c compatClient
	s.create(t, realm, "clients", body).decode(t, &c)
	return c
}

func (s *compatServer) readClient(t *testing.T, realm, id string) compatClient {
	t.Helper()
	r := s.send(t, http.MethodGet, "/admin/realms/"+realm+"/clients/"+id, "")
	r.requireStatus(t, http.StatusOK)
	var c compatClient
	r.decode(t, &c)
	return c
}

func (s *compatServer) user(t *testing.T, realm, body string) string {
	t.Helper()
	var u struct {
		ID string `json:"id"`
	}
	s.create(t, realm, "users", body).decode(t, &u)
	return u.ID
}

// hostClient reaches the server whatever host a URL names, as DNS would
// for the hosts a realm claims; with a cookie jar, it is a browser.
func (s *compatServer) hostClient(jar bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	hc := &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, s.lk.addr)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if jar {
		hc.Jar, _ = cookiejar.New(nil)
	}
	return hc
}

// viaOf lists the via of the realm's events of a type, in order.
func (s *compatServer) viaOf(t *testing.T, realm, typ string) []string {
	t.Helper()
	var out []string
	for _, e := range s.lk.events(t, s.admin, realm, "after_seq=0&limit=1000").Events {
		if e.Type == typ {
			out = append(out, e.Via)
		}
	}
	return out
}

// runDocScript runs a shell script from a reference document with bash and
// the real curl, verbatim but for the replacements (old, new pairs: the
// document's host and placeholders), and returns its output.
func runDocScript(t *testing.T, script string, replacements ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("the reference documents' examples need curl on PATH: %v", err)
	}
	script = strings.NewReplacer(replacements...).Replace(script)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Env = os.Environ()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("running the document's example failed: %v\nscript:\n%s\nstderr:\n%s", err, script, stderr.String())
	}
	return out
}

// docToken decodes a token response a document's example printed.
func docToken(t *testing.T, out []byte) map[string]any {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(out, &body); err != nil {
		t.Fatalf("the example's answer is not JSON: %v\n%s", err, out)
	}
	if tok, _ := body["access_token"].(string); tok == "" || body["token_type"] != "Bearer" {
		t.Fatalf("the example's answer is no token: %s", out)
	}
	return body
}

// ---- Corti: client credentials per realm, Keycloak's defaults ----

// cortiBase and cortiTenant are the curl examples of
// corti-client-credentials.md, as written there.
const cortiBase = `# Replace these with your values
CLIENT_ID="<your-client-id>"
CLIENT_SECRET="<your-client-secret>"
ENVIRONMENT="<eu-or-us>"

curl \
  "https://auth.${ENVIRONMENT}.corti.app/realms/base/protocol/openid-connect/token" \
  -H 'Content-Type: application/x-www-form-urlencoded' \
  -d "client_id=${CLIENT_ID}" -d "client_secret=${CLIENT_SECRET}" \
  -d 'grant_type=client_credentials' -d 'scope=openid'`

const cortiTenant = `# Replace these with your values
CLIENT_ID="<your-client-id>"
CLIENT_SECRET="<your-client-secret>"
ENVIRONMENT="<eu-or-us>"
TENANT="<your-tenant-name>"

curl \
  "https://auth.${ENVIRONMENT}.corti.app/realms/${TENANT}/protocol/openid-connect/token" \
  -H 'Content-Type: application/x-www-form-urlencoded' \
  -d "client_id=${CLIENT_ID}" -d "client_secret=${CLIENT_SECRET}" \
  -d 'grant_type=client_credentials' -d 'scope=openid'`

func TestCompatCorti(t *testing.T) {
	t.Parallel()
	s := startCompat(t, "corti")
	// Keycloak's realm token settings: tokens live 5 minutes. A client
	// made before the realm had its defaults keeps what it had.
	s.realm(t, "base", "")
	before := s.client(t, "base", `{"name":"made before the defaults"}`)
	s.send(t, http.MethodPatch, "/admin/realms/base/settings",
		`{"client_defaults":{"access_token_lifetime":300,"client_credentials_token_lifetime":300}}`).requireStatus(t, http.StatusOK)
	if c := s.readClient(t, "base", before.ClientID); c.AccessTokenLifetime != 3600 {
		t.Errorf("an existing client's lifetime changed with the realm's defaults: %d", c.AccessTokenLifetime)
	}
	s.realm(t, "northwind", `{"client_defaults":{"access_token_lifetime":300,"client_credentials_token_lifetime":300}}`)
	for _, realm := range []string{"base", "northwind"} {
		for _, sc := range []string{"transcribe", "streams"} {
			s.send(t, http.MethodPut, "/admin/realms/"+realm+"/scopes/"+sc, `{"description":"Stream `+sc+` over a WebSocket"}`).requireStatus(t, http.StatusOK)
		}
	}
	// Keycloak's default client scopes, and the limited-scope ones on
	// request only.
	const body = `{"name":"backend","scopes":["profile","openid","email"],"optional_scopes":["transcribe","streams"]}`
	base := s.client(t, "base", body)
	tenant := s.client(t, "northwind", body)
	if base.AccessTokenLifetime != 300 || tenant.AccessTokenLifetime != 300 {
		t.Fatalf("new clients took lifetimes %d and %d, want the realms' 300", base.AccessTokenLifetime, tenant.AccessTokenLifetime)
	}
	host := "http://127.0.0.1:" + s.port
	for _, c := range []struct {
		script string
		client compatClient
		realm  string
	}{{cortiBase, base, "base"}, {cortiTenant, tenant, "northwind"}} {
		out := runDocScript(t, c.script,
			"https://auth.${ENVIRONMENT}.corti.app", host,
			"<your-client-id>", c.client.ClientID, "<your-client-secret>", c.client.ClientSecret,
			"<eu-or-us>", "eu", "<your-tenant-name>", "northwind")
		tok := docToken(t, out)
		// The document's response: expires_in 300, scope "profile openid email".
		if tok["expires_in"] != float64(300) || tok["scope"] != "profile openid email" {
			t.Errorf("realm %s: expires_in %v scope %q, want 300 and \"profile openid email\":\n%s", c.realm, tok["expires_in"], tok["scope"], out)
		}
		if at, _ := tok["access_token"].(string); !strings.HasPrefix(at, "eyJhbGciOi") {
			t.Errorf("access_token %q does not begin as the document's", at)
		}
		claims := lcClaims(t, tok["access_token"].(string))
		if claims["iss"] != s.lk.base+"/realms/"+c.realm {
			t.Errorf("iss %v, want realm %s's", claims["iss"], c.realm)
		}
	}
	// The tip: a limited-scope token for the streaming endpoints only.
	r := s.lk.postForm(t, tokenPath("base"), "grant_type=client_credentials&scope=openid+transcribe", withBasic(base.ClientID, base.ClientSecret))
	if tok := requireToken(t, r); tok.Scope != "openid transcribe" {
		t.Errorf("scope=\"openid transcribe\" gave %q, want a token limited to it", tok.Scope)
	}
	s.lk.postForm(t, tokenPath("base"), "grant_type=client_credentials&scope=openid+admin", withBasic(base.ClientID, base.ClientSecret)).
		checkError(t, http.StatusBadRequest, "invalid_scope")
}

// ---- SeaCat Auth: client credentials with tenants, its client API ----

// seacatUpdate, seacatReset and seacatCurl are the requests of
// seacat-client-credentials.txt, as written there.
const seacatUpdate = `PUT /client/{client_id}
Content-Type: application/json

{
  "seacatauth_credentials": true,
  "token_endpoint_auth_method": "client_secret_basic"
}`

const seacatReset = `POST /client/{client_id}/reset_secret`

const seacatCurl = `curl -X POST https://localhost:3081/openidconnect/token \
    -u "${CLIENT_ID}:${CLIENT_SECRET}" \
    -H "Content-Type: application/x-www-form-urlencoded" \
    --data "grant_type=client_credentials&scope=tenant:my-corporation"`

// docRequest sends an HTTP request written as in a document (request line,
// headers, a blank line, the body) to base, with an admin's token: the
// document leaves out how its caller signed in.
func (s *compatServer) docRequest(t *testing.T, base, text string) *response {
	t.Helper()
	head, body, _ := strings.Cut(text, "\n\n")
	lines := strings.Split(head, "\n")
	method, path, _ := strings.Cut(lines[0], " ")
	opts := []reqOpt{withBearer(s.admin)}
	for _, h := range lines[1:] {
		name, value, _ := strings.Cut(h, ":")
		opts = append(opts, withHeader(name, strings.TrimSpace(value)))
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	return s.lk.do(t, method, base+path, rd, opts...)
}

func TestCompatSeaCat(t *testing.T) {
	t.Parallel()
	s := startCompat(t, "seacat")
	host := "localhost:" + s.port // the document's https://localhost:3081
	base := "http://" + host
	// The realm claims the host, as SeaCat Auth serves its own; the whole
	// service's client-credentials tokens live 3 minutes.
	s.realm(t, "seacat", `{"compat":["seacat"],"hosts":["`+host+`"],"client_defaults":{"client_credentials_token_lifetime":180}}`)
	s.create(t, "seacat", "nodes", `{"slug":"my-corporation","kind":"organization"}`)
	s.create(t, "seacat", "nodes", `{"slug":"my-corporation-ops","kind":"team","parent":"my-corporation"}`)
	// A client registered with SeaCat's attributes (its registration is not
	// in the document): client credentials, assigned the tenant.
	c := s.client(t, "seacat", `{"client_name":"billing-sync","seacatauth_credentials":true,"tenants":["my-corporation"]}`)
	if c.AccessTokenLifetime != 180 || !slices.Equal(c.GrantTypes, []string{"client_credentials"}) {
		t.Fatalf("registered client: lifetime %d grants %v", c.AccessTokenLifetime, c.GrantTypes)
	}
	doc := func(text string) string { return strings.ReplaceAll(text, "{client_id}", c.ClientID) }

	// Managing client attributes: the document's PUT.
	r := s.docRequest(t, base, doc(seacatUpdate))
	r.requireStatus(t, http.StatusOK)
	if strings.TrimSpace(string(r.body)) != `{"result":"OK"}` {
		t.Errorf("PUT /client answer: %s", r.body)
	}
	// Resetting the client secret.
	r = s.docRequest(t, base, doc(seacatReset))
	r.requireStatus(t, http.StatusOK)
	r.checkHeader(t, "Cache-Control", "no-store")
	var reset struct {
		ClientSecret string `json:"client_secret"`
	}
	r.decode(t, &reset)
	if !secretPattern.MatchString(reset.ClientSecret) {
		t.Fatalf("reset_secret answer: %s", r.body)
	}
	s.lk.postForm(t, tokenPath("seacat"), "grant_type=client_credentials", withBasic(c.ClientID, c.ClientSecret)).
		checkError(t, http.StatusUnauthorized, "invalid_client")

	// Requesting an access token: the document's curl line.
	out := runDocScript(t, seacatCurl, "https://localhost:3081", base,
		"${CLIENT_ID}", c.ClientID, "${CLIENT_SECRET}", reset.ClientSecret)
	tok := docToken(t, out)
	if tok["expires_in"] != float64(180) {
		t.Errorf("expires_in %v, want SeaCat's 3 minutes:\n%s", tok["expires_in"], out)
	}
	claims := lcClaims(t, tok["access_token"].(string))
	if got := strs(claims["nodes"]); !slices.Equal(got, []string{"my-corporation"}) || claims["iss"] != base {
		t.Errorf("token nodes %v iss %v, want the tenant and the realm's host", got, claims["iss"])
	}

	// A PUT of SeaCat's is partial: what it leaves out stays.
	r = s.send(t, http.MethodPut, base+"/client/"+c.ClientID, `{"client_name":"billing-sync-2"}`)
	r.requireStatus(t, http.StatusOK)
	if got := s.readClient(t, "seacat", c.ClientID); got.Name != "billing-sync-2" || !slices.Equal(got.TeamRestrictions, []string{"my-corporation"}) ||
		!slices.Equal(got.GrantTypes, []string{"client_credentials"}) || got.AccessTokenLifetime != 180 {
		t.Errorf("after a partial PUT: %+v", got)
	}
	// The aliases write Latchkey's events, saying which path they took.
	if via := s.viaOf(t, "seacat", "client.updated"); !slices.Equal(via, []string{"seacat PUT /client/{client_id}"}) {
		t.Errorf("client.updated via %q (the document's PUT changed nothing: one event, the partial PUT's)", via)
	}
	if via := s.viaOf(t, "seacat", "client.secret_rotated"); !slices.Equal(via, []string{"seacat POST /client/{client_id}/reset_secret"}) {
		t.Errorf("client.secret_rotated via %q", via)
	}
	if via := s.viaOf(t, "seacat", "token.issued"); !slices.Contains(via, "seacat POST /openidconnect/token") {
		t.Errorf("token.issued via %q", via)
	}
	// The client API needs an admin's token; another realm's client is none
	// of this host's.
	s.lk.do(t, http.MethodPost, base+"/client/"+c.ClientID+"/reset_secret", nil).checkError(t, http.StatusUnauthorized, "invalid_token")
	s.send(t, http.MethodPost, base+"/client/00000000-0000-0000-0000-000000000000/reset_secret", "").checkError(t, http.StatusNotFound, "not_found")

	t.Run("one client with client credentials and the code grant", func(t *testing.T) { seacatMixedClient(t, s, base) })
}

// seacatMixedClient: a client that signs users in gets client credentials
// too (SeaCat Auth allows it, and so does the realm's profile): its own
// tokens have the client as subject, its users' tokens the user, and
// introspection and the audit log keep them apart.
func seacatMixedClient(t *testing.T, s *compatServer, base string) {
	alice := s.user(t, "seacat", `{"username":"alice","email":"alice@example.com","password":"correct horse battery","memberships":[{"node":"my-corporation-ops","role":"editor"}]}`)
	rs := s.client(t, "seacat", `{"name":"resource server"}`)
	portal := s.client(t, "seacat", `{"client_name":"portal","redirect_uris":["https://portal.example.com/cb"],"scopes":["openid","profile"]}`)
	if portal.Kind != "user_app" || !slices.Equal(portal.GrantTypes, []string{"authorization_code"}) {
		t.Fatalf("a client registered with redirect URIs: %+v", portal)
	}
	r := s.send(t, http.MethodPut, base+"/client/"+portal.ClientID, `{"seacatauth_credentials": true, "tenants": ["my-corporation"]}`)
	r.requireStatus(t, http.StatusOK)
	if got := s.readClient(t, "seacat", portal.ClientID); !slices.Equal(got.GrantTypes, []string{"authorization_code", "client_credentials"}) {
		t.Fatalf("grants after seacatauth_credentials: %v", got.GrantTypes)
	}
	// The same in a realm without the profile is refused, saying why.
	s.realm(t, "plain", "")
	plain := s.client(t, "plain", `{"name":"portal","redirect_uris":["https://portal.example.com/cb"]}`)
	e := lcError(t, s.send(t, http.MethodPatch, "/admin/realms/plain/clients/"+plain.ClientID, `{"grant_types":["authorization_code","client_credentials"]}`),
		http.StatusBadRequest, "invalid_request")
	if !strings.Contains(e.Description, "seacat or keycloak profile") {
		t.Errorf("mixed grants without a profile: %q does not say what allows them", e.Description)
	}

	// The client as itself.
	own := requireToken(t, s.lk.postForm(t, base+"/openidconnect/token", "grant_type=client_credentials", withBasic(portal.ClientID, portal.ClientSecret)))
	// The client for alice, through the realm's host.
	hc := s.hostClient(true)
	ctx := oidc.ClientContext(context.Background(), hc)
	provider, err := oidc.NewProvider(ctx, base)
	if err != nil {
		t.Fatalf("go-oidc discovery of the host issuer %s: %v", base, err)
	}
	cfg := &oauth2.Config{ClientID: portal.ClientID, ClientSecret: portal.ClientSecret, RedirectURL: "https://portal.example.com/cb",
		Endpoint: oauth2.Endpoint{AuthURL: provider.Endpoint().AuthURL, TokenURL: base + "/openidconnect/token"}, Scopes: []string{"openid"}}
	b := &browser{t: t, client: hc}
	q := b.signIn(base, cfg.AuthCodeURL("st"), "alice", "correct horse battery", []string{"my-corporation-ops"})
	if q.Get("iss") != base || q.Get("code") == "" {
		t.Fatalf("authorization response: %v", q)
	}
	user, err := cfg.Exchange(ctx, q.Get("code"))
	if err != nil {
		t.Fatalf("code exchange at /openidconnect/token: %v", err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: portal.ClientID}).Verify(ctx, user.Extra("id_token").(string))
	if err != nil || idt.Subject != alice {
		t.Fatalf("ID token: %v %+v", err, idt)
	}
	introspect := func(token string) map[string]any {
		r := s.lk.postForm(t, base+"/protocol/openid-connect/token/introspect", "token="+token, withBasic(rs.ClientID, rs.ClientSecret))
		r.requireStatus(t, http.StatusOK)
		var out map[string]any
		r.decode(t, &out)
		return out
	}
	if got := introspect(own.AccessToken); got["sub"] != portal.ClientID || got["access"] != nil || got["iss"] != base {
		t.Errorf("the client's own token: %v", got)
	}
	if got := introspect(user.AccessToken); got["sub"] != alice || got["access"] == nil || got["client_id"] != portal.ClientID {
		t.Errorf("alice's token: %v", got)
	}
	// The audit log: the user's token on behalf of alice, the client's not.
	audit := func(query string) []map[string]any {
		r := s.send(t, http.MethodGet, "/admin/realms/seacat/audit?type=token.issued&client_id="+portal.ClientID+query, "")
		r.requireStatus(t, http.StatusOK)
		var page struct {
			Entries []map[string]any `json:"entries"`
		}
		r.decode(t, &page)
		return page.Entries
	}
	all, forAlice := audit(""), audit("&on_behalf_of="+alice)
	if len(all) != 2 || len(forAlice) != 1 || forAlice[0]["actor"] != "client:"+portal.ClientID {
		t.Errorf("token.issued of the portal: %d, on behalf of alice %d: %v", len(all), len(forAlice), forAlice)
	}
	for _, e := range all {
		if e["via"] != "seacat POST /openidconnect/token" {
			t.Errorf("token.issued via %v", e["via"])
		}
	}
}
