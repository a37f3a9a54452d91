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
	// service's client-credentials tokens live 3 minutes; its confidential
	// clients send no PKCE, which a new realm would require.
	s.realm(t, "seacat", `{"compat":["seacat"],"hosts":["`+host+`"],"client_defaults":{"client_credentials_token_lifetime":180},"require_pkce":false}`)
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

// ---- Coralogix: OAuth clients on a user's behalf ----

// coralogixEndpoints are the OAuth2 endpoints of coralogix-oauth-clients.md,
// as written there; <domain> is the realm's host.
var coralogixEndpoints = []string{
	"POST <domain>/oauth2/token", "POST <domain>/oauth2/revoke", "POST <domain>/oauth2/introspect", "GET <domain>/oauth2/userinfo",
}

func TestCompatCoralogix(t *testing.T) {
	t.Parallel()
	// The host comes from the server's configuration here (SeaCat's test
	// claims one through the admin API).
	s := startCompat(t, "coralogix", "--realm-host", "coralogix=coralogix.test")
	const domain = "http://coralogix.test"
	s.realm(t, "coralogix", `{"compat":["coralogix"],"require_pkce":false}`) // its confidential clients send no PKCE
	r := s.send(t, http.MethodGet, "/admin/realms/coralogix", "")
	if !strings.Contains(string(r.body), `"issuer":"`+domain+`"`) {
		t.Fatalf("the realm's issuer is not its configured host:\n%s", r)
	}
	s.send(t, http.MethodPatch, "/admin/realms/coralogix/settings", `{"hosts":["coralogix.test"]}`).checkStatus(t, http.StatusOK) // its own, from the configuration too
	s.realm(t, "other", "")
	s.send(t, http.MethodPatch, "/admin/realms/other/settings", `{"hosts":["coralogix.test"]}`).checkError(t, http.StatusConflict, "conflict")
	// The endpoints by name: their paths on the realm's host.
	ep := map[string]string{}
	for _, e := range coralogixEndpoints {
		_, path, _ := strings.Cut(strings.Replace(e, "<domain>", "", 1), " ")
		ep[path[strings.LastIndex(path, "/")+1:]] = path
	}
	onHost := withHost("coralogix.test")

	for _, n := range []string{
		`{"slug":"acme","kind":"organization"}`, `{"slug":"acme-eng","kind":"team","parent":"acme"}`,
		`{"slug":"acme-ops","kind":"team","parent":"acme"}`, `{"slug":"beta","kind":"organization"}`,
	} {
		s.create(t, "coralogix", "nodes", n)
	}
	alice := s.user(t, "coralogix", `{"username":"alice","email":"alice@example.com","password":"correct horse battery","memberships":[{"node":"acme-eng","role":"editor"},{"node":"acme-ops","role":"viewer"}]}`)
	// Clients as the document's drawer makes them: a User-authorized app
	// (no kind given: redirect URIs make it one), confidential or public,
	// a preset, team selection and restrictions.
	backend := s.client(t, "coralogix", `{"name":"backend-service","redirect_uris":["https://backend.example.com/callback"],"scopes":["openid","email"],"team_selection":"multiple","team_restrictions":["acme"]}`)
	cli := s.client(t, "coralogix", `{"name":"cli-tool","type":"public","redirect_uris":["http://127.0.0.1/callback"],"scopes":["openid","email","profile"],"access_preset":"full","issue_refresh_tokens":true}`)
	wall := s.client(t, "coralogix", `{"name":"wall-display","redirect_uris":["https://wall.example.com/cb"],"team_restrictions":["acme-ops"]}`)
	if backend.Kind != "user_app" || backend.AccessTokenLifetime != 3600 || backend.IssueRefreshTokens || backend.RefreshTokenLifetime != 7*86400 || backend.AccessPreset != "read_only" {
		t.Errorf("the document's defaults (user app, 1 hour, refresh tokens off, 7 days, read-only): %+v", backend)
	}

	// The list page's filters: team limit (an organization covers its
	// teams; "*" is All teams), scope, preset.
	list := func(query string) []string {
		r := s.send(t, http.MethodGet, "/admin/realms/coralogix/clients?"+query, "")
		r.requireStatus(t, http.StatusOK)
		var page struct {
			Clients []compatClient `json:"clients"`
		}
		r.decode(t, &page)
		var names []string
		for _, c := range page.Clients {
			names = append(names, c.Name)
		}
		return names
	}
	for query, want := range map[string][]string{
		"team_restriction=acme-eng":                  {"backend-service"},
		"team_restriction=acme-ops":                  {"backend-service", "wall-display"},
		"team_restriction=*":                         {"cli-tool"},
		"preset=full":                                {"cli-tool"},
		"scope=profile":                              {"cli-tool"},
		"team_restriction=acme-ops&preset=read_only": {"backend-service", "wall-display"},
	} {
		if got := list(query); !slices.Equal(got, want) {
			t.Errorf("?%s: %v, want %v", query, got, want)
		}
	}
	s.send(t, http.MethodGet, "/admin/realms/coralogix/clients?preset=admin", "").checkError(t, http.StatusBadRequest, "invalid_request")

	// An integration: discovery on the realm's host, the code flow with
	// PKCE, and the token endpoint at <domain>/oauth2/token.
	hc := s.hostClient(true)
	ctx := oidc.ClientContext(context.Background(), hc)
	provider, err := oidc.NewProvider(ctx, domain)
	if err != nil {
		t.Fatalf("go-oidc discovery of %s: %v", domain, err)
	}
	cfg := &oauth2.Config{ClientID: cli.ClientID, RedirectURL: "http://127.0.0.1/callback", Scopes: []string{"openid", "email"},
		Endpoint: oauth2.Endpoint{AuthURL: provider.Endpoint().AuthURL, TokenURL: domain + ep["token"], AuthStyle: oauth2.AuthStyleInParams}}
	b := &browser{t: t, client: hc}
	verifier := oauth2.GenerateVerifier()
	q := b.signIn(domain, cfg.AuthCodeURL("s1", oauth2.S256ChallengeOption(verifier)), "alice", "correct horse battery", []string{"acme-eng"})
	userTok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange at %s: %v", ep["token"], err)
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: cli.ClientID}).Verify(ctx, userTok.Extra("id_token").(string)); err != nil {
		t.Fatalf("ID token from the host issuer: %v", err)
	}
	// A public client must send code_verifier.
	q = b.signIn(domain, cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "", "", nil)
	if _, err := cfg.Exchange(ctx, q.Get("code")); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("a public client's exchange without code_verifier: %v", err)
	}
	// A refresh token obtains a new access token.
	refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: userTok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	if err != nil || refreshed.AccessToken == userTok.AccessToken || refreshed.RefreshToken == userTok.RefreshToken {
		t.Fatalf("refresh at %s: %v", ep["token"], err)
	}

	post := func(path string, form string, opts ...reqOpt) map[string]any {
		r := s.lk.postForm(t, path, form, append(opts, onHost)...)
		r.requireStatus(t, http.StatusOK)
		var out map[string]any
		if len(r.body) > 0 {
			r.decode(t, &out)
		}
		return out
	}
	// Introspect: active, with its scope, exp and client_id.
	in := post(ep["introspect"], "token="+refreshed.AccessToken, withBasic(backend.ClientID, backend.ClientSecret))
	if in["active"] != true || in["scope"] != "openid email" || in["client_id"] != cli.ClientID || in["exp"] == nil || in["iss"] != domain {
		t.Errorf("introspection at %s: %v", ep["introspect"], in)
	}
	// Userinfo: the user, the teams authorized and the teams belonged to.
	ui := s.lk.get(t, ep["userinfo"], withBearer(refreshed.AccessToken), onHost)
	ui.requireStatus(t, http.StatusOK)
	var info struct {
		Sub             string `json:"sub"`
		Email           string `json:"email"`
		TeamsAuthorized []struct {
			Node string `json:"node"`
		} `json:"teams_authorized"`
		Teams []string `json:"teams"`
	}
	ui.decode(t, &info)
	if info.Sub != alice || info.Email != "alice@example.com" || len(info.TeamsAuthorized) != 1 || info.TeamsAuthorized[0].Node != "acme-eng" ||
		!slices.Equal(info.Teams, []string{"acme-eng", "acme-ops"}) {
		t.Errorf("userinfo at %s: %s", ep["userinfo"], ui.body)
	}
	// Revoke: the token plus the client's client_id and client_secret.
	bq := b.signIn(domain, (&oauth2.Config{ClientID: backend.ClientID, RedirectURL: "https://backend.example.com/callback", Scopes: []string{"openid"},
		Endpoint: cfg.Endpoint}).AuthCodeURL("s3"), "", "", []string{"acme-eng", "acme-ops"})
	backendTok := post(ep["token"], "grant_type=authorization_code&redirect_uri=https%3A%2F%2Fbackend.example.com%2Fcallback&code="+bq.Get("code"),
		withBasic(backend.ClientID, backend.ClientSecret))
	if _, has := backendTok["refresh_token"]; has {
		t.Errorf("refresh tokens are off by default, yet: %v", backendTok)
	}
	bt := backendTok["access_token"].(string)
	post(ep["revoke"], "token="+bt+"&client_id="+backend.ClientID+"&client_secret="+backend.ClientSecret)
	if in := post(ep["introspect"], "token="+bt, withBasic(backend.ClientID, backend.ClientSecret)); in["active"] != false {
		t.Errorf("a revoked token: %v", in)
	}

	// Active sessions: token rows with their permissions (preset, teams).
	r = s.send(t, http.MethodGet, "/admin/realms/coralogix/sessions?client_id="+cli.ClientID+"&status=active", "")
	r.requireStatus(t, http.StatusOK)
	var sessions struct {
		Sessions []struct {
			JTI    string   `json:"jti"`
			Preset string   `json:"preset"`
			Teams  []string `json:"teams"`
		} `json:"sessions"`
	}
	r.decode(t, &sessions)
	if len(sessions.Sessions) == 0 || sessions.Sessions[0].Preset != "full" || !slices.Equal(sessions.Sessions[0].Teams, []string{"acme-eng"}) {
		t.Errorf("active sessions of the cli: %s", r.body)
	}
	if c := s.readClient(t, "coralogix", cli.ClientID); c.LastUsedAt < time.Now().Add(-time.Minute).Unix() {
		t.Errorf("the cli's last_used_at %d is not its recent use", c.LastUsedAt)
	}
	if c := s.readClient(t, "coralogix", wall.ClientID); c.LastUsedAt != 0 {
		t.Errorf("a client never used has last_used_at %d", c.LastUsedAt)
	}

	// Auditing: actions with a token appear under the authorizing user,
	// with the OAuth client's id and the path used.
	r = s.send(t, http.MethodGet, "/admin/realms/coralogix/audit?on_behalf_of="+alice+"&type=token.", "")
	r.requireStatus(t, http.StatusOK)
	var audit struct {
		Entries []struct {
			Type       string `json:"type"`
			OnBehalfOf string `json:"on_behalf_of"`
			ClientID   string `json:"client_id"`
			Via        string `json:"via"`
		} `json:"entries"`
	}
	r.decode(t, &audit)
	byClient := map[string]int{}
	for _, e := range audit.Entries {
		if e.OnBehalfOf != alice || e.Via != "coralogix POST /oauth2/token" && e.Type == "token.issued" {
			t.Errorf("audit entry %+v", e)
		}
		byClient[e.ClientID]++
	}
	if byClient[cli.ClientID] < 2 || byClient[backend.ClientID] < 1 {
		t.Errorf("token entries on behalf of alice by client: %v", byClient)
	}

	// The aliases are the realm's only: on the server's own host and in a
	// realm without the profile they do not exist.
	s.lk.postForm(t, "/oauth2/token", "grant_type=client_credentials").checkError(t, http.StatusNotFound, "not_found")
	s.lk.postForm(t, "/realms/other/oauth2/token", "grant_type=client_credentials").checkError(t, http.StatusNotFound, "not_found")
	s.lk.postForm(t, "/realms/coralogix/oauth2/introspect", "token="+refreshed.AccessToken, withBasic(backend.ClientID, backend.ClientSecret)).checkStatus(t, http.StatusOK)
}

// ---- Corral: client credentials of projects and apps ----

// corralRequests are the API requests of corral-client-credentials.txt, as
// written there (the rotation's {projects|apps} written out each way).
const (
	corralProject    = "POST /api/projects/{slug}/client-credentials"
	corralApp        = "POST /api/apps/{slug}/client-credentials"
	corralRotateProj = "POST /api/projects/{slug}/client-credentials/{clientId}/regenerate-secret"
	corralRotateApp  = "POST /api/apps/{slug}/client-credentials/{clientId}/regenerate-secret"
)

func TestCompatCorral(t *testing.T) {
	t.Parallel()
	// Corral's paths carry no realm: the default realm serves them on the
	// server's own host.
	s := startCompat(t, "corral", "--default-realm", "corral")
	s.realm(t, "corral", `{"compat":["corral"]}`)
	s.create(t, "corral", "nodes", `{"slug":"support-bot","kind":"project"}`)
	s.create(t, "corral", "nodes", `{"slug":"chat-widget","kind":"app","parent":"support-bot"}`)
	type creds struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
		Scope        string `json:"scope"`
	}
	call := func(request string, slug, clientID, body string) *response {
		t.Helper()
		method, path, _ := strings.Cut(strings.NewReplacer("{slug}", slug, "{clientId}", clientID).Replace(request), " ")
		return s.send(t, method, path, body)
	}
	create := func(request, slug, body string) creds {
		t.Helper()
		r := call(request, slug, "", body)
		r.requireStatus(t, http.StatusCreated)
		r.checkHeader(t, "Cache-Control", "no-store")
		var c creds
		r.decode(t, &c)
		if !uuidPattern.MatchString(c.ClientID) || !secretPattern.MatchString(c.ClientSecret) {
			t.Fatalf("%s: %s", request, r.body)
		}
		return c
	}
	// Creating client credentials, at the project or app level: the bare
	// requests, and one choosing its scope (Corral writes Management).
	project := create(corralProject, "support-bot", "")
	app := create(corralApp, "chat-widget", "")
	manager := create(corralApp, "chat-widget", `{"scope":"Management"}`)
	if project.Scope != "Consumer" || app.Scope != "Consumer" || manager.Scope != "Management" {
		t.Errorf("scopes %q %q %q, want Consumer (the lesser, by default) and Management", project.Scope, app.Scope, manager.Scope)
	}
	call(corralApp, "support-bot", "", "").checkError(t, http.StatusNotFound, "not_found") // a project is no app
	call(corralProject, "support-bot", "", `{"scope":"Owner"}`).checkError(t, http.StatusBadRequest, "invalid_request")
	s.lk.do(t, http.MethodPost, "/api/projects/support-bot/client-credentials", nil).checkError(t, http.StatusUnauthorized, "invalid_token")

	// Getting an access token (the client-credentials grant), the scope in
	// Corral's spelling. An app's credentials reach only that app.
	token := func(c creds, scope string) *response {
		return s.lk.postForm(t, "/protocol/openid-connect/token", "grant_type=client_credentials&scope="+scope, withBasic(c.ClientID, c.ClientSecret))
	}
	tok := requireToken(t, token(manager, "Management"))
	if claims := lcClaims(t, tok.AccessToken); tok.Scope != "management" || !slices.Equal(strs(claims["nodes"]), []string{"chat-widget"}) || claims["preset"] != "full" {
		t.Errorf("Management token of the app: scope %q, claims %v", tok.Scope, claims)
	}
	if tok := requireToken(t, token(project, "CONSUMER")); tok.Scope != "consumer" {
		t.Errorf("Consumer token of the project: %q", tok.Scope)
	}
	token(app, "Management").checkError(t, http.StatusBadRequest, "invalid_scope")

	// Secret rotation: a new secret, the old one invalid at once.
	for _, c := range []struct {
		request, slug string
		old           creds
	}{{corralRotateProj, "support-bot", project}, {corralRotateApp, "chat-widget", app}} {
		r := call(c.request, c.slug, c.old.ClientID, "")
		r.requireStatus(t, http.StatusOK)
		var rotated creds
		r.decode(t, &rotated)
		if rotated.ClientID != c.old.ClientID || rotated.ClientSecret == c.old.ClientSecret || !secretPattern.MatchString(rotated.ClientSecret) {
			t.Fatalf("%s: %s", c.request, r.body)
		}
		token(c.old, "").checkError(t, http.StatusUnauthorized, "invalid_client")
		requireToken(t, token(rotated, ""))
	}
	call(corralRotateProj, "support-bot", app.ClientID, "").checkError(t, http.StatusNotFound, "not_found") // the app's, not the project's

	// The same commands as Latchkey's own endpoints: the same events,
	// saying which path they took.
	s.create(t, "corral", "nodes/support-bot/client-credentials", `{"scope":"consumer"}`)
	events := s.lk.events(t, s.admin, "corral", "after_seq=0&limit=1000").Events
	var created []eventView
	for _, e := range events {
		if e.Type == "client.created" && e.Aggregate != "client/latchkey-console" { // the realm's console came with it
			created = append(created, e)
		}
	}
	if len(created) != 4 || created[0].Via != "corral POST /api/projects/{slug}/client-credentials" ||
		created[1].Via != "corral POST /api/apps/{slug}/client-credentials" || created[3].Via != "" {
		t.Fatalf("client.created events: %+v", created)
	}
	delete(created[0].Data, "client_id")
	delete(created[3].Data, "client_id")
	if !jsonEqual(created[0].Data, created[3].Data) {
		t.Errorf("a project's consumer credentials through Corral's path:\n  %v\nthrough Latchkey's:\n  %v", created[0].Data, created[3].Data)
	}
	if via := s.viaOf(t, "corral", "client.secret_rotated"); !slices.Equal(via, []string{
		"corral POST /api/projects/{slug}/client-credentials/{client_id}/regenerate-secret",
		"corral POST /api/apps/{slug}/client-credentials/{client_id}/regenerate-secret"}) {
		t.Errorf("client.secret_rotated via %q", via)
	}

	// Off by default: a realm without the profile has none of the paths.
	s.realm(t, "plain", "")
	s.create(t, "plain", "nodes", `{"slug":"support-bot","kind":"project"}`)
	s.send(t, http.MethodPost, "/realms/plain/api/projects/support-bot/client-credentials", "").checkError(t, http.StatusNotFound, "not_found")
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// ---- Credal: the authorization-code flow of a confidential client ----

func TestCompatCredal(t *testing.T) {
	t.Parallel()
	s := startCompat(t, "credal")
	// Credal's clients: refresh tokens on, valid 30 days (access tokens
	// keep Latchkey's hour, as Credal's); they send no PKCE, which a new
	// realm would require of them.
	s.realm(t, "credal", `{"client_defaults":{"issue_refresh_tokens":true,"refresh_token_lifetime":2592000},"require_pkce":false}`)
	s.create(t, "credal", "nodes", `{"slug":"credal-org","kind":"organization"}`)
	s.create(t, "credal", "nodes", `{"slug":"research","kind":"team","parent":"credal-org"}`)
	s.user(t, "credal", `{"username":"dana","email":"dana@example.com","password":"correct horse battery","memberships":[{"node":"research","role":"editor"}]}`)
	rs := s.client(t, "credal", `{"name":"credal api"}`)

	// 1. Register an OAuth client: redirect URIs, no kind. It is an app
	// that acts for users, not a service client.
	const callback = "https://app.example.com/oauth/callback"
	c := s.client(t, "credal", `{"name":"Credal API v1 client","redirect_uris":["`+callback+`"],"scopes":["openid","read"]}`)
	if c.Kind != "user_app" || !slices.Equal(c.GrantTypes, []string{"authorization_code", "refresh_token"}) || c.RefreshTokenLifetime != 2592000 || c.AccessTokenLifetime != 3600 {
		t.Fatalf("registered client: %+v", c)
	}
	// A combination that cannot work says why, rather than guessing.
	e := lcError(t, s.send(t, http.MethodPost, "/admin/realms/credal/clients", `{"name":"x","kind":"service","redirect_uris":["`+callback+`"]}`),
		http.StatusBadRequest, "invalid_request")
	if !strings.Contains(e.Description, "a service client gets its tokens with client_credentials and is never redirected to") {
		t.Errorf("a service client with redirect URIs: %q", e.Description)
	}

	ctx := context.Background()
	cfg := &oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: callback, Scopes: []string{"openid", "read"},
		Endpoint: oauth2.Endpoint{AuthURL: s.lk.base + "/realms/credal/protocol/openid-connect/auth", TokenURL: s.lk.base + tokenPath("credal")}}
	b := newBrowser(t)
	// 2. Direct the user to authorize: the confidential variant, no PKCE.
	q := b.signIn(s.lk.base, cfg.AuthCodeURL("xyz"), "dana", "correct horse battery", []string{"research"})
	if q.Get("state") != "xyz" || q.Get("code") == "" {
		t.Fatalf("redirect after approval: %v", q)
	}
	// 3. Exchange the code, server-side, with the client secret.
	tok, err := cfg.Exchange(ctx, q.Get("code"))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	if expires, _ := tok.Extra("expires_in").(float64); expires != 3600 || tok.RefreshToken == "" {
		t.Fatalf("token response: expires_in %v, refresh token %q", tok.Extra("expires_in"), tok.RefreshToken)
	}
	// 4. The access token calls the API (here: introspected by it).
	s.lk.requireActive(t, "credal", rs.ClientID, rs.ClientSecret, tok.AccessToken, "the access token of a fresh sign-in")

	// 5. Refresh: rotated on every use, the previous one invalid at once.
	refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	if err != nil || refreshed.RefreshToken == "" || refreshed.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v", err)
	}
	claims := lcClaims(t, refreshed.AccessToken)
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 3600 {
		t.Errorf("a refreshed access token lives %v s, want an hour", exp-iat)
	}
	r := s.lk.postForm(t, tokenPath("credal"), "grant_type=refresh_token&refresh_token="+tok.RefreshToken, withBasic(c.ClientID, c.ClientSecret))
	r.checkError(t, http.StatusBadRequest, "invalid_grant")

	// The code is single-use: presented again it is refused, and what it
	// gave is revoked.
	if _, err := cfg.Exchange(ctx, q.Get("code")); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("a code exchanged twice: %v", err)
	}
	s.lk.requireInactive(t, "credal", rs.ClientID, rs.ClientSecret, refreshed.AccessToken, "a token of a code presented twice")

	// PKCE as defense-in-depth works as well.
	verifier := oauth2.GenerateVerifier()
	q = b.signIn(s.lk.base, cfg.AuthCodeURL("pkce", oauth2.S256ChallengeOption(verifier)), "", "", nil)
	if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Errorf("the exchange with PKCE: %v", err)
	}
}
