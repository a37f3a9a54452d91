package main

// End-to-end with unmodified clients of the device authorization grant
// (RFC 8628), pushed authorization requests (RFC 9126) and DPoP (RFC
// 9449): openid-client 6 and oauth4webapi 3 (test/oauth-js) against
// Latchkey and a resource server protected by realms/verifier, and
// golang.org/x/oauth2's device flow.

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkeyhq/latchkey/realms/verifier"
)

// flowsWorld is a Latchkey whose realm flows requires DPoP nonces, with a
// user, a resource (a resource server in this process, behind
// realms/verifier) and a client for each flow.
type flowsWorld struct {
	lk       *latchkey
	admin    string
	issuer   string
	natsAddr string
	device   string        // a public client allowed the device grant
	par      clientCreated // a confidential client that must push its requests
	service  clientCreated // a service client whose tokens are DPoP-bound
	rsID     string        // the resource server's identifier
}

const (
	flowsRealm    = "flows"
	flowsUser     = "dana"
	flowsPassword = "dana's long password"
	flowsRedirect = "http://127.0.0.1:33419/callback"
)

func setUpFlows(t *testing.T) *flowsWorld {
	t.Helper()
	w := &flowsWorld{natsAddr: freeAddr(t)}
	opts := serverOpts{name: "flows", data: t.TempDir(), bootstrapSecret: "bootstrap-secret-for-flows-e2e-tests-01",
		args: []string{"--nats-listen", w.natsAddr}}
	w.lk = startLatchkey(t, opts)
	w.admin = w.lk.adminToken(t, opts.bootstrapSecret).AccessToken
	w.issuer = w.lk.base + "/realms/" + flowsRealm
	admin := func(method, path, body string) *response {
		r := w.lk.do(t, method, "/admin/realms"+path, strings.NewReader(body), withBearer(w.admin), withContentType("application/json"))
		if r.status < 200 || r.status > 299 {
			t.Fatalf("%s %s: %s", method, path, r)
		}
		return r
	}
	admin(http.MethodPost, "", `{"name":"`+flowsRealm+`"}`)
	admin(http.MethodPut, "/"+flowsRealm+"/settings", `{"require_dpop_nonce":true}`)
	admin(http.MethodPut, "/"+flowsRealm+"/scopes/read", `{"description":"Read the example API"}`)
	w.rsID = "http://" + freeAddr(t)
	admin(http.MethodPost, "/"+flowsRealm+"/resources", `{"identifier":"`+w.rsID+`","name":"Example API","scopes":["read"]}`)
	admin(http.MethodPost, "/"+flowsRealm+"/users", `{"username":"`+flowsUser+`","display_name":"Dana","password":"`+flowsPassword+`"}`)
	var device clientCreated
	admin(http.MethodPost, "/"+flowsRealm+"/clients", `{"name":"Wall display","type":"public","grant_types":["urn:ietf:params:oauth:grant-type:device_code"],`+
		`"scopes":["openid","profile"]}`).decode(t, &device)
	w.device = device.ClientID
	w.par = w.lk.createClient(t, w.admin, flowsRealm, `{"name":"Reports","kind":"user_app","redirect_uris":["`+flowsRedirect+`"],`+
		`"scopes":["openid","read"],"require_pushed_authorization_requests":true}`)
	w.service = w.lk.createClient(t, w.admin, flowsRealm, `{"name":"Exporter","scopes":["read"],"dpop_bound_access_tokens":true}`)
	return w
}

// startResourceServer serves the world's resource from this process, as
// the realm's NATS user, with realms/verifier: GET /hello needs scope
// read. It returns the URL of /hello.
func (w *flowsWorld) startResourceServer(t *testing.T) string {
	t.Helper()
	nc, err := verifier.Connect("nats://"+w.natsAddr, flowsRealm, realmNATSCredentials(t, w.lk.data, flowsRealm))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := verifier.New(ctx, verifier.Config{Issuer: w.issuer, Audience: w.rsID, NATS: nc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	res := &verifier.Resource{Verifier: v, Identifier: w.rsID, Name: "Example API", Scopes: []string{"read"}}
	mux := http.NewServeMux()
	res.Mount(mux)
	mux.Handle("GET /hello", res.Require("read")(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(map[string]string{"client_id": c.ClientID, "sub": c.Subject})
	})))
	ln, err := net.Listen("tcp", strings.TrimPrefix(w.rsID, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return w.rsID + "/hello"
}

// TestOpenIDClientAndOAuth4WebAPI runs test/oauth-js: openid-client 6
// through the device flow and a pushed code flow, oauth4webapi 3 through
// client credentials, all with the libraries' own DPoP (nonce challenge
// included), against Latchkey's userinfo and a realms/verifier resource
// server.
func TestOpenIDClientAndOAuth4WebAPI(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is not installed, and CI must run the JavaScript clients: .ci/run installs nodejs and npm")
		}
		t.Skip("node is not installed: the openid-client and oauth4webapi tests need Node.js 20 or later (apt-get install nodejs npm)")
	}
	jsDir, _ := filepath.Abs("../../test/oauth-js")
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "oauth4webapi")); err != nil {
		npm := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		npm.Dir = jsDir
		if out, err := npm.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", jsDir, err, out)
		}
	}
	t.Parallel()
	w := setUpFlows(t)
	rsURL := w.startResourceServer(t)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-force-exit", "--test-reporter=spec", "oauth.test.mjs")
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(),
		"ISSUER="+w.issuer, "USERNAME="+flowsUser, "PASSWORD="+flowsPassword, "REDIRECT_URI="+flowsRedirect,
		"DEVICE_CLIENT_ID="+w.device, "PAR_CLIENT_ID="+w.par.ClientID, "PAR_CLIENT_SECRET="+w.par.ClientSecret,
		"CC_CLIENT_ID="+w.service.ClientID, "CC_CLIENT_SECRET="+w.service.ClientSecret,
		"RS_RESOURCE="+w.rsID, "RS_URL="+rsURL)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test oauth.test.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("the JavaScript clients failed: %v", err)
	}
	if !strings.Contains(string(out), "ℹ pass 3") || !strings.Contains(string(out), "ℹ fail 0") {
		t.Fatalf("want 3 passing JavaScript tests")
	}
}

// golang.org/x/oauth2's device flow, unmodified: DeviceAuth asks for the
// codes, the user enters the code in a browser, DeviceAccessToken polls
// until the token comes; the device code then works no more.
func TestGoOAuth2DeviceFlow(t *testing.T) {
	t.Parallel()
	w := setUpFlows(t)
	conf := &oauth2.Config{
		ClientID: w.device,
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: w.issuer + "/protocol/openid-connect/auth/device",
			TokenURL:      w.issuer + "/protocol/openid-connect/token",
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		Scopes: []string{"openid", "profile"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	codes, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	if codes.VerificationURI != w.issuer+"/device" || codes.Interval != 5 || time.Until(codes.Expiry) < 9*time.Minute {
		t.Errorf("device authorization: %+v", codes)
	}

	// The user, in a browser, opens the complete URI (the code is filled
	// in), confirms it, signs in and allows.
	b := newBrowser(t)
	page := b.get(codes.VerificationURIComplete)
	if page.status != http.StatusOK || !strings.Contains(page.body, codes.UserCode) {
		t.Fatalf("verification page: %d\n%s", page.status, page.body)
	}
	action, fields := formOf(t, w.lk.base, page.body)
	fields.Set("user_code", codes.UserCode)
	login := b.post(action, fields)
	if login.status != http.StatusOK || !strings.Contains(login.body, "Sign in") {
		t.Fatalf("after the code: %d\n%s", login.status, login.body)
	}
	action, fields = formOf(t, w.lk.base, login.body)
	fields.Set("username", flowsUser)
	fields.Set("password", flowsPassword)
	consent := b.post(action, fields)
	if consent.status != http.StatusOK || !strings.Contains(consent.body, "wants access") {
		t.Fatalf("consent: %d\n%s", consent.status, consent.body)
	}
	action, fields = formOf(t, w.lk.base, consent.body)
	fields.Set("action", "approve")
	if done := b.post(action, fields); done.status != http.StatusOK || !strings.Contains(done.body, "return to your device") {
		t.Fatalf("after consent: %d\n%s", done.status, done.body)
	}

	tok, err := conf.DeviceAccessToken(ctx, codes)
	if err != nil {
		t.Fatalf("DeviceAccessToken: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.Extra("id_token") == nil {
		t.Errorf("token: type %q, id_token %v", tok.TokenType, tok.Extra("id_token") != nil)
	}
	info := w.lk.get(t, "/realms/"+flowsRealm+"/protocol/openid-connect/userinfo", withBearer(tok.AccessToken))
	info.requireStatus(t, http.StatusOK)
	var who struct {
		PreferredUsername string `json:"preferred_username"`
	}
	info.decode(t, &who)
	if who.PreferredUsername != flowsUser {
		t.Errorf("userinfo: %s", info)
	}
	// Redeemed once: the device code gets nothing more.
	again := w.lk.postForm(t, tokenPath(flowsRealm), url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {codes.DeviceCode}, "client_id": {w.device}}.Encode())
	again.checkError(t, http.StatusBadRequest, "invalid_grant")
}
