package main

// End-to-end tests of what MCP servers and AI agents need: resources and
// audiences (RFC 8707), the example MCP server behind verifier.Resource
// (RFC 9728), client ID metadata documents, dynamic registration (RFC
// 7591/7592) with initial access tokens, and private_key_jwt (RFC 7523);
// and the proof with the real JavaScript clients (test/mcp-js).

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// docServer serves client metadata documents and key sets over TLS on
// 127.0.0.1, each path answering what the test set.
type docServer struct {
	*httptest.Server
	mu    sync.Mutex
	paths map[string]docAnswer
	hits  map[string]int
}

type docAnswer struct {
	body, contentType string
	delay             time.Duration
}

func newDocServer(t *testing.T) *docServer {
	d := &docServer{paths: map[string]docAnswer{}, hits: map[string]int{}}
	d.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		a, ok := d.paths[r.URL.Path]
		d.hits[r.URL.Path]++
		d.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if a.delay > 0 {
			select {
			case <-time.After(a.delay):
			case <-r.Context().Done():
				return
			}
		}
		ct := a.contentType
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *docServer) set(path string, a docAnswer) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.paths[path] = a
	return d.URL + path
}

func (d *docServer) hitsOf(path string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hits[path]
}

// caFile writes the server's certificate where Latchkey's TLS roots are
// read from (SSL_CERT_FILE).
func (d *docServer) caFile(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// cimdDocument is a metadata document for a public MCP client.
func cimdDocument(clientID, redirect string) string {
	return `{"client_id":"` + clientID + `","client_name":"Latchkey MCP test client","redirect_uris":["` + redirect + `"],` +
		`"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`
}

// mcpWorld is a Latchkey with realm mcp: a scope mcp:tools, the example
// MCP server's resource (and another), a user, client ID metadata
// documents and open dynamic registration on.
type mcpWorld struct {
	lk        *latchkey
	admin     string
	issuer    string
	docs      *docServer
	natsAddr  string
	mcpURL    string // the example MCP server's resource identifier
	otherURL  string // another resource
	resources map[string]string
}

const (
	mcpRealm    = "mcp"
	mcpUser     = "alice"
	mcpPassword = "alice's long password"
	mcpRedirect = "http://127.0.0.1:33418/callback"
)

func setUpMCP(t *testing.T) *mcpWorld {
	t.Helper()
	docs := newDocServer(t)
	w := &mcpWorld{docs: docs, natsAddr: freeAddr(t), resources: map[string]string{}}
	opts := serverOpts{name: "mcp", data: t.TempDir(), bootstrapSecret: "bootstrap-secret-for-mcp-e2e-tests-0001",
		args: []string{"--cimd-allow-loopback", "--nats-listen", w.natsAddr}, env: []string{"SSL_CERT_FILE=" + docs.caFile(t)}}
	w.lk = startLatchkey(t, opts)
	w.lk.waitStderr(t, "never use this in production", 5*time.Second)
	w.admin = w.lk.adminToken(t, opts.bootstrapSecret).AccessToken
	w.issuer = w.lk.base + "/realms/" + mcpRealm
	w.admin2xx(t, http.MethodPost, "/admin/realms", `{"name":"`+mcpRealm+`"}`)
	w.admin2xx(t, http.MethodPut, w.path("/scopes/mcp:tools"), `{"description":"Use the example MCP tools"}`)
	w.mcpURL = "http://" + freeAddr(t) + "/mcp"
	w.otherURL = "https://other.example.test/api"
	w.resource(t, w.mcpURL, `"name":"Example tools","scopes":["mcp:tools"],"access_token_lifetime":600`)
	w.resource(t, w.otherURL, `"name":"Other API","scopes":["read"]`)
	w.admin2xx(t, http.MethodPost, w.path("/users"), `{"username":"`+mcpUser+`","display_name":"Alice","password":"`+mcpPassword+`"}`)
	w.admin2xx(t, http.MethodPut, w.path("/client-registration"), `{"cimd":{"enabled":true,"allowed_hosts":[]},"dynamic_registration":{"enabled":true,"open":true}}`)
	return w
}

func (w *mcpWorld) path(p string) string { return "/admin/realms/" + mcpRealm + p }

// admin2xx sends an admin request and requires a 2xx answer.
func (w *mcpWorld) admin2xx(t *testing.T, method, path, body string) *response {
	t.Helper()
	var r *response
	if body == "" {
		r = w.lk.do(t, method, path, nil, withBearer(w.admin))
	} else {
		r = w.lk.do(t, method, path, strings.NewReader(body), withBearer(w.admin), withContentType("application/json"))
	}
	if r.status < 200 || r.status > 299 {
		t.Fatalf("%s %s: %s", method, path, r)
	}
	return r
}

func (w *mcpWorld) resource(t *testing.T, identifier, fields string) {
	t.Helper()
	var out struct {
		ID string `json:"id"`
	}
	w.admin2xx(t, http.MethodPost, w.path("/resources"), `{"identifier":"`+identifier+`",`+fields+`}`).decode(t, &out)
	w.resources[identifier] = out.ID
}

// startMCPServer builds and starts cmd/mcp-server-example for the world's
// MCP resource, as the realm's NATS user, and waits until it answers.
func (w *mcpWorld) startMCPServer(t *testing.T) {
	t.Helper()
	bin := buildMCPServer(t)
	creds := realmNATSCredentials(t, w.lk.data, mcpRealm)
	raw, _ := json.Marshal(creds)
	credsFile := filepath.Join(t.TempDir(), "nats.json")
	if err := os.WriteFile(credsFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd := exec.Command(bin, "--issuer", w.issuer, "--resource", w.mcpURL, "--nats-url", "nats://"+w.natsAddr, "--nats-credentials", credsFile)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("---- mcp-server-example ----\n%s", out.String())
		}
	})
	metadata := strings.Replace(w.mcpURL, "/mcp", "/.well-known/oauth-protected-resource/mcp", 1)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(metadata)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the MCP server did not answer at %s: %v\n%s", metadata, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var (
	mcpServerOnce sync.Once
	mcpServerBin  string
	mcpServerErr  error
)

// buildMCPServer builds cmd/mcp-server-example once per test binary.
func buildMCPServer(t *testing.T) string {
	t.Helper()
	mcpServerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mcp-server-example-")
		if err != nil {
			mcpServerErr = err
			return
		}
		mcpServerBin = filepath.Join(dir, "mcp-server-example")
		out, err := exec.Command("go", "build", "-o", mcpServerBin, "../mcp-server-example").CombinedOutput()
		if err != nil {
			mcpServerErr = fmt.Errorf("go build ../mcp-server-example: %v\n%s", err, out)
		}
	})
	if mcpServerErr != nil {
		t.Fatal(mcpServerErr)
	}
	return mcpServerBin
}

// ecKey is an ES256 key pair with its public and private JWKs.
type ecKey struct {
	priv              *ecdsa.PrivateKey
	kid               string
	public, private   map[string]string
	publicSetJSONText string
}

func newECKey(t *testing.T) ecKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := priv.PublicKey.Bytes()
	d, _ := priv.Bytes()
	enc := base64.RawURLEncoding.EncodeToString
	k := ecKey{priv: priv, kid: uuid.NewString()[:8]}
	k.public = map[string]string{"kty": "EC", "crv": "P-256", "kid": k.kid, "x": enc(pub[1:33]), "y": enc(pub[33:])}
	k.private = map[string]string{"d": enc(d)}
	for n, v := range k.public {
		k.private[n] = v
	}
	set, _ := json.Marshal(map[string]any{"keys": []any{k.public}})
	k.publicSetJSONText = string(set)
	return k
}

// assertion signs a client assertion of clientID for aud.
func (k ecKey) assertion(t *testing.T, clientID, aud, jti string, lifetime time.Duration) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.RegisteredClaims{
		Issuer: clientID, Subject: clientID, Audience: jwt.ClaimStrings{aud}, ID: jti,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(lifetime)),
	})
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOfficialMCPAndOpenIDClients runs test/mcp-js: the official MCP
// TypeScript SDK, unmodified, against the example MCP server and Latchkey
// (once through a client ID metadata document, once through dynamic
// registration), and openid-client 6 with private_key_jwt.
func TestOfficialMCPAndOpenIDClients(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is not installed, and CI must run the JavaScript clients: .ci/run installs nodejs and npm")
		}
		t.Skip("node is not installed: the official MCP SDK and openid-client tests need Node.js 20 or later (apt-get install nodejs npm)")
	}
	jsDir, _ := filepath.Abs("../../test/mcp-js")
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		npm := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		npm.Dir = jsDir
		if out, err := npm.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", jsDir, err, out)
		}
	}
	t.Parallel()
	w := setUpMCP(t)
	w.startMCPServer(t)
	cimdURL := w.docs.set("/mcp-client.json", docAnswer{})
	w.docs.set("/mcp-client.json", docAnswer{body: cimdDocument(cimdURL, mcpRedirect)})

	// A token for another resource, to be refused by the MCP server.
	other := w.lk.createClient(t, w.admin, mcpRealm, `{"name":"other service","scopes":["read","mcp:tools"]}`)
	otherTok := requireToken(t, w.lk.postForm(t, tokenPath(mcpRealm), "grant_type=client_credentials&resource="+w.otherURL,
		withBasic(other.ClientID, other.ClientSecret)))
	// A private_key_jwt service for openid-client.
	key := newECKey(t)
	var svc clientCreated
	w.admin2xx(t, http.MethodPost, w.path("/clients"), `{"name":"signed service","token_endpoint_auth_method":"private_key_jwt","jwks":`+key.publicSetJSONText+`,"scopes":["mcp:tools"]}`).decode(t, &svc)
	privJWK, _ := json.Marshal(key.private)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-force-exit", "--test-reporter=spec", "mcp.test.mjs")
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(),
		"MCP_URL="+w.mcpURL, "CIMD_CLIENT_ID="+cimdURL, "REDIRECT_URI="+mcpRedirect, "USERNAME="+mcpUser, "PASSWORD="+mcpPassword,
		"OTHER_TOKEN="+otherTok.AccessToken, "ISSUER="+w.issuer, "PKJWT_CLIENT_ID="+svc.ClientID, "PKJWT_PRIVATE_JWK="+string(privJWK),
		"PKJWT_RESOURCE="+w.mcpURL)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test mcp.test.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("the JavaScript clients failed: %v", err)
	}
	if !strings.Contains(string(out), "ℹ pass 4") || !strings.Contains(string(out), "ℹ fail 0") {
		t.Fatalf("want 4 passing JavaScript tests")
	}

	// Both clients are ordinary clients of the realm now, with their
	// origin recorded.
	var list struct {
		Clients []struct {
			ClientID string `json:"client_id"`
			Source   string `json:"source"`
		} `json:"clients"`
	}
	w.admin2xx(t, http.MethodGet, w.path("/clients"), "").decode(t, &list)
	sources := map[string]int{}
	for _, c := range list.Clients {
		sources[c.Source]++
		if c.Source == "metadata_document" && c.ClientID != cimdURL {
			t.Errorf("a client known by its document has client_id %q, want %q", c.ClientID, cimdURL)
		}
	}
	if sources["metadata_document"] != 1 || sources["registration"] != 1 {
		t.Errorf("clients by source: %v", sources)
	}
}
