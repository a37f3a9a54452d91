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
	"strings"
	"testing"
	"time"
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
