package main

// Harness for the black-box end-to-end tests: it builds the latchkey binary
// once, starts it on a free port with its own data directory, waits for
// /readyz, talks to it over real HTTP and stops it with SIGTERM.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// latchkeyBin is the binary built by TestMain.
var latchkeyBin string

func TestMain(m *testing.M) { os.Exit(runTestMain(m)) }

func runTestMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "latchkey-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	latchkeyBin = filepath.Join(dir, "latchkey")
	gobin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: the go command is not on PATH:", err)
		return 1
	}
	build := exec.Command(gobin, "build", "-o", latchkeyBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build -o %s . failed: %v\n%s", latchkeyBin, err, out)
		return 1
	}
	return m.Run()
}

const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// syncBuffer collects a child's output; the test reads it while the
// process still writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serverOpts says how to start latchkey.
type serverOpts struct {
	name string // label in failure output
	addr string // host:port; empty picks a free port on 127.0.0.1
	data string // data directory (required)
	// bootstrapSecret, when not empty, is passed as
	// LATCHKEY_BOOTSTRAP_CLIENT_SECRET; empty leaves the variable unset.
	bootstrapSecret string
	// args are extra flags for `serve`.
	args []string
	// env are extra environment variables (NAME=value).
	env []string
}

// latchkey is one running `latchkey serve` process.
type latchkey struct {
	name   string
	addr   string
	base   string // http://<addr>
	data   string
	cmd    *exec.Cmd
	stderr *syncBuffer
	stdout *syncBuffer

	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed

	transport *http.Transport
	client    *http.Client
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("closing probe listener: %v", err)
	}
	return addr
}

// childEnv is this process's environment without any LATCHKEY_ variable,
// plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATCHKEY_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startLatchkey starts the binary and waits until /readyz answers 200. The
// process is killed at the end of the test if it still runs, and its stderr
// is dumped when the test failed.
func startLatchkey(t *testing.T, o serverOpts) *latchkey {
	t.Helper()
	if o.data == "" {
		t.Fatal("startLatchkey: a data directory is required")
	}
	if o.addr == "" {
		o.addr = freeAddr(t)
	}
	if o.name == "" {
		o.name = "latchkey"
	}
	extra := append([]string(nil), o.env...)
	if o.bootstrapSecret != "" {
		extra = append(extra, "LATCHKEY_BOOTSTRAP_CLIENT_SECRET="+o.bootstrapSecret)
	}
	extra = append(extra, o.env...)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	lk := &latchkey{
		name:      o.name,
		addr:      o.addr,
		base:      "http://" + o.addr,
		data:      o.data,
		stderr:    &syncBuffer{},
		stdout:    &syncBuffer{},
		done:      make(chan struct{}),
		transport: transport,
		client: &http.Client{
			Transport:     transport,
			Timeout:       15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	lk.cmd = exec.Command(latchkeyBin, append([]string{"serve", "--http", o.addr, "--data", o.data}, o.args...)...)
	lk.cmd.Env = childEnv(extra...)
	lk.cmd.Stderr = lk.stderr
	lk.cmd.Stdout = lk.stdout
	if err := lk.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", latchkeyBin, err)
	}
	go func() {
		lk.waitErr = lk.cmd.Wait()
		close(lk.done)
	}()
	t.Cleanup(func() {
		if !lk.exited() {
			_ = lk.cmd.Process.Kill()
			<-lk.done
		}
		lk.transport.CloseIdleConnections()
		if t.Failed() {
			t.Logf("---- %s (%s) stderr ----\n%s\n---- %s stdout ----\n%s", lk.name, lk.base, lk.stderr.String(), lk.name, lk.stdout.String())
		}
	})
	lk.waitReady(t)
	return lk
}

func (lk *latchkey) exited() bool {
	select {
	case <-lk.done:
		return true
	default:
		return false
	}
}

// waitReady polls /readyz until 200, failing after readyTimeout or as soon
// as the process exits.
func (lk *latchkey) waitReady(t *testing.T) {
	t.Helper()
	probe := &http.Client{Transport: lk.transport, Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	last := "no answer yet"
	for {
		if lk.exited() {
			t.Fatalf("%s exited before it was ready (%v); last /readyz: %s\nstderr:\n%s", lk.name, lk.waitErr, last, lk.stderr.String())
		}
		resp, err := probe.Get(lk.base + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("HTTP %d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: GET /readyz did not return 200 within %s; last: %s\nstderr:\n%s", lk.name, readyTimeout, last, lk.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStderr waits until the process's stderr contains s; it reports (and
// does not stop the test) when it never does.
func (lk *latchkey) waitStderr(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(lk.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Errorf("%s: stderr does not contain %q after %s", lk.name, s, timeout)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and requires exit status 0 within stopTimeout.
func (lk *latchkey) stop(t *testing.T) {
	t.Helper()
	lk.transport.CloseIdleConnections()
	if lk.exited() {
		t.Fatalf("%s had already exited (%v) before SIGTERM\nstderr:\n%s", lk.name, lk.waitErr, lk.stderr.String())
	}
	if err := lk.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to %s: %v", lk.name, err)
	}
	select {
	case <-lk.done:
	case <-time.After(stopTimeout):
		_ = lk.cmd.Process.Kill()
		<-lk.done
		t.Fatalf("%s did not exit within %s of SIGTERM\nstderr:\n%s", lk.name, stopTimeout, lk.stderr.String())
	}
	if lk.waitErr != nil {
		var exitErr *exec.ExitError
		if errors.As(lk.waitErr, &exitErr) {
			t.Fatalf("%s exited with status %d after SIGTERM, want 0\nstderr:\n%s", lk.name, exitErr.ExitCode(), lk.stderr.String())
		}
		t.Fatalf("%s: wait after SIGTERM: %v\nstderr:\n%s", lk.name, lk.waitErr, lk.stderr.String())
	}
}

// ---- HTTP ----

// reqOpt changes a request before it is sent.
type reqOpt func(*http.Request)

func withBearer(token string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// withBasic sends client credentials with HTTP Basic, each part
// form-urlencoded as RFC 6749 §2.3.1 requires.
func withBasic(id, secret string) reqOpt {
	return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
}

func withHeader(name, value string) reqOpt {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

func withContentType(ct string) reqOpt { return withHeader("Content-Type", ct) }

// withHost forges the Host header.
func withHost(host string) reqOpt { return func(r *http.Request) { r.Host = host } }

// response is a fully read HTTP response and the request that caused it.
type response struct {
	request string
	status  int
	header  http.Header
	body    []byte
}

func (r *response) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s → HTTP %d", r.request, r.status)
	for _, h := range []string{"Content-Type", "Cache-Control", "Location", "WWW-Authenticate", "Allow"} {
		if v := r.header.Values(h); len(v) > 0 {
			fmt.Fprintf(&b, "\n  %s: %s", h, strings.Join(v, " | "))
		}
	}
	body := string(r.body)
	if len(body) > 4096 {
		body = body[:4096] + "…(truncated)"
	}
	fmt.Fprintf(&b, "\n  body: %s", body)
	return b.String()
}

// do sends a request; path is relative to the server's base URL unless it
// is absolute.
func (lk *latchkey) do(t *testing.T, method, path string, body io.Reader, opts ...reqOpt) *response {
	t.Helper()
	target := path
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		target = lk.base + path
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatalf("building %s %s: %v", method, target, err)
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := lk.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, target, err)
	}
	checkAdminResponse(t, lk.base, req, resp.StatusCode, resp.Header, raw)
	return &response{request: method + " " + target, status: resp.StatusCode, header: resp.Header, body: raw}
}

func (lk *latchkey) get(t *testing.T, path string, opts ...reqOpt) *response {
	t.Helper()
	return lk.do(t, http.MethodGet, path, nil, opts...)
}

// postForm posts an application/x-www-form-urlencoded body as given (raw,
// so that tests can repeat parameters).
func (lk *latchkey) postForm(t *testing.T, path, form string, opts ...reqOpt) *response {
	t.Helper()
	opts = append([]reqOpt{withContentType("application/x-www-form-urlencoded")}, opts...)
	return lk.do(t, http.MethodPost, path, strings.NewReader(form), opts...)
}

func (lk *latchkey) postJSON(t *testing.T, path, body string, opts ...reqOpt) *response {
	t.Helper()
	opts = append([]reqOpt{withContentType("application/json")}, opts...)
	return lk.do(t, http.MethodPost, path, strings.NewReader(body), opts...)
}

// requireStatus fails the test unless the status is want.
func (r *response) requireStatus(t *testing.T, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("want HTTP %d, got:\n%s", want, r)
	}
}

// checkStatus reports a wrong status and returns whether it was right.
func (r *response) checkStatus(t *testing.T, want int) bool {
	t.Helper()
	if r.status != want {
		t.Errorf("want HTTP %d, got:\n%s", want, r)
		return false
	}
	return true
}

// decode unmarshals a JSON body into v.
func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("want a JSON body, got Content-Type %q:\n%s", ct, r)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding JSON body: %v\n%s", err, r)
	}
}

// apiErrorBody is the error shape of every Latchkey error response.
type apiErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// checkError reports unless the response is status with error code and a
// non-empty error_description.
func (r *response) checkError(t *testing.T, status int, code string) apiErrorBody {
	t.Helper()
	var e apiErrorBody
	if r.status != status {
		t.Errorf("want HTTP %d error %q, got:\n%s", status, code, r)
		return e
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("want a JSON error body, got Content-Type %q:\n%s", ct, r)
		return e
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Errorf("decoding error body: %v\n%s", err, r)
		return e
	}
	if e.Error != code {
		t.Errorf("want error %q, got %q:\n%s", code, e.Error, r)
	}
	if e.Description == "" {
		t.Errorf("want a non-empty error_description:\n%s", r)
	}
	return e
}

// requireHeader fails unless header name is exactly want.
func (r *response) checkHeader(t *testing.T, name, want string) {
	t.Helper()
	if got := r.header.Values(name); len(got) != 1 || got[0] != want {
		t.Errorf("want header %s: %q, got %q:\n%s", name, want, got, r)
	}
}

// ---- OAuth helpers ----

func tokenPath(realm string) string { return "/realms/" + realm + "/protocol/openid-connect/token" }

// tokenResponse is RFC 6749 §5.1, with the raw fields kept to check that
// nothing else is present.
type tokenResponse struct {
	AccessToken string
	TokenType   string
	ExpiresIn   float64
	Scope       string
	raw         map[string]any
	resp        *response
}

// requireToken checks a 200 token response and decodes it.
func requireToken(t *testing.T, r *response) tokenResponse {
	t.Helper()
	r.requireStatus(t, http.StatusOK)
	r.checkHeader(t, "Cache-Control", "no-store")
	var raw map[string]any
	r.decode(t, &raw)
	tr := tokenResponse{raw: raw, resp: r}
	var ok bool
	if tr.AccessToken, ok = raw["access_token"].(string); !ok || tr.AccessToken == "" {
		t.Fatalf("token response without access_token:\n%s", r)
	}
	tr.TokenType, _ = raw["token_type"].(string)
	tr.ExpiresIn, _ = raw["expires_in"].(float64)
	tr.Scope, _ = raw["scope"].(string)
	if tr.TokenType != "Bearer" {
		t.Errorf("token_type = %q, want Bearer:\n%s", tr.TokenType, r)
	}
	if _, has := raw["refresh_token"]; has {
		t.Errorf("client-credentials token response carries a refresh_token:\n%s", r)
	}
	return tr
}

// adminToken gets a master-realm management token for the bootstrap client.
func (lk *latchkey) adminToken(t *testing.T, secret string) tokenResponse {
	t.Helper()
	tr := requireToken(t, lk.postForm(t, tokenPath("master"), "grant_type=client_credentials&scope=management",
		withBasic("latchkey-admin", secret)))
	if tr.ExpiresIn != 3600 || tr.Scope != "management" {
		t.Errorf("admin token: expires_in %v scope %q, want 3600 and management:\n%s", tr.ExpiresIn, tr.Scope, tr.resp)
	}
	return tr
}

// clientToken gets a client-credentials token with client_secret_basic.
func (lk *latchkey) clientToken(t *testing.T, realm, id, secret, scope string) tokenResponse {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return requireToken(t, lk.postForm(t, tokenPath(realm), form.Encode(), withBasic(id, secret)))
}

// ---- JWKS and token verification ----

var (
	uuidPattern   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	secretPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
)

// publicJWKMembers are the only members a published key may have.
var publicJWKMembers = []string{"kty", "kid", "alg", "use", "key_ops", "crv", "x", "y", "n", "e", "x5c", "x5t", "x5t#S256"}

// jwkSet is a fetched JWKS.
type jwkSet struct {
	raw  []byte
	keys []map[string]any
}

// fetchJWKS fetches and sanity-checks a JWKS: public members only, each key
// with kid, alg and use.
func (lk *latchkey) fetchJWKS(t *testing.T, jwksURI string) jwkSet {
	t.Helper()
	r := lk.get(t, jwksURI)
	r.requireStatus(t, http.StatusOK)
	var body struct {
		Keys []map[string]any `json:"keys"`
	}
	r.decode(t, &body)
	for _, k := range body.Keys {
		for member := range k {
			if !slices.Contains(publicJWKMembers, member) {
				t.Errorf("JWKS key %v has non-public member %q:\n%s", k["kid"], member, r)
			}
		}
		for _, m := range []string{"kid", "alg", "use", "kty"} {
			if s, _ := k[m].(string); s == "" {
				t.Errorf("JWKS key lacks %q: %v\n%s", m, k, r)
			}
		}
		if k["use"] != "sig" {
			t.Errorf("JWKS key %v has use %v, want sig", k["kid"], k["use"])
		}
	}
	return jwkSet{raw: r.body, keys: body.Keys}
}

// kids lists the kids of the keys with alg.
func (s jwkSet) kids(alg string) []string {
	var out []string
	for _, k := range s.keys {
		if k["alg"] == alg {
			kid, _ := k["kid"].(string)
			out = append(out, kid)
		}
	}
	slices.Sort(out)
	return out
}

func (s jwkSet) key(kid string) (map[string]any, bool) {
	for _, k := range s.keys {
		if k["kid"] == kid {
			return k, true
		}
	}
	return nil, false
}

// ecPublicKey builds a P-256 public key from a JWK's x and y.
func ecPublicKey(jwk map[string]any) (*ecdsa.PublicKey, error) {
	if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
		return nil, fmt.Errorf("key %v is kty %v crv %v, want EC P-256", jwk["kid"], jwk["kty"], jwk["crv"])
	}
	xs, _ := jwk["x"].(string)
	ys, _ := jwk["y"].(string)
	x, err1 := base64.RawURLEncoding.DecodeString(xs)
	y, err2 := base64.RawURLEncoding.DecodeString(ys)
	if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
		return nil, fmt.Errorf("key %v: x/y are not 32-byte base64url values (%v, %v)", jwk["kid"], err1, err2)
	}
	point := append(append([]byte{4}, x...), y...)
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
}

// verifiedToken is an access token that verified against a JWKS.
type verifiedToken struct {
	header map[string]any
	claims jwt.MapClaims
}

func (v verifiedToken) kid() string { s, _ := v.header["kid"].(string); return s }
func (v verifiedToken) jti() string { s, _ := v.claims["jti"].(string); return s }

// verifyAccessToken verifies an RFC 9068 access token with the JWK whose kid
// matches its header and checks the claims every Latchkey access token has.
func verifyAccessToken(t *testing.T, raw string, set jwkSet, issuer, clientID, scope string) verifiedToken {
	t.Helper()
	claims := jwt.MapClaims{}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"ES256"}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second),
	)
	tok, err := parser.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		jwk, ok := set.key(kid)
		if !ok {
			return nil, fmt.Errorf("no JWK with kid %q in %s", kid, set.raw)
		}
		return ecPublicKey(jwk)
	})
	if err != nil || !tok.Valid {
		t.Fatalf("access token does not verify against the JWKS: %v\ntoken: %s\njwks: %s", err, raw, set.raw)
	}
	v := verifiedToken{header: tok.Header, claims: claims}
	if tok.Header["typ"] != "at+jwt" {
		t.Errorf("token header typ = %v, want at+jwt (header %v)", tok.Header["typ"], tok.Header)
	}
	if tok.Header["alg"] != "ES256" {
		t.Errorf("token header alg = %v, want ES256", tok.Header["alg"])
	}
	if claims["iss"] != issuer {
		t.Errorf("iss = %v, want %s", claims["iss"], issuer)
	}
	if claims["sub"] != clientID {
		t.Errorf("sub = %v, want client id %s", claims["sub"], clientID)
	}
	if aud, err := claims.GetAudience(); err != nil || !slices.Equal([]string(aud), []string{issuer}) {
		t.Errorf("aud = %v (%v), want [%s]", claims["aud"], err, issuer)
	}
	if claims["client_id"] != clientID {
		t.Errorf("client_id = %v, want %s", claims["client_id"], clientID)
	}
	if claims["scope"] != scope {
		t.Errorf("scope = %v, want %q", claims["scope"], scope)
	}
	iat, ok1 := claims["iat"].(float64)
	exp, ok2 := claims["exp"].(float64)
	if !ok1 || !ok2 || exp-iat != 3600 {
		t.Errorf("iat %v exp %v: want numbers with exp-iat == 3600", claims["iat"], claims["exp"])
	}
	if now := float64(time.Now().Unix()); iat < now-300 || iat > now+5 {
		t.Errorf("iat %v is not close to now (%v)", iat, now)
	}
	if !uuidPattern.MatchString(v.jti()) {
		t.Errorf("jti = %v, want a UUID", claims["jti"])
	}
	return v
}
