package main

// End-to-end hardening: who may use the NATS listener, the HTTP server's
// timeouts and connection limit, metrics and logs that a caller cannot
// inflate.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/latchkeyhq/latchkey/eventstore/estest"
	"github.com/latchkeyhq/latchkey/realms/verifier"
)

// runLatchkey runs the binary to its end with extra environment.
func runLatchkey(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, latchkeyBin, args...)
	cmd.Env = childEnv(env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		code = exitErr.ExitCode()
	default:
		t.Fatalf("latchkey %v: %v\n%s", args, err, errOut.String())
	}
	return out.String(), errOut.String(), code
}

// realmNATSCredentials is what `latchkey nats-credentials` prints for realm.
func realmNATSCredentials(t *testing.T, data, realm string) verifier.Credentials {
	t.Helper()
	out, errOut, code := runLatchkey(t, nil, "nats-credentials", "--realm", realm, "--data", data)
	if code != 0 {
		t.Fatalf("nats-credentials --realm %s: exit %d\n%s", realm, code, errOut)
	}
	var c verifier.Credentials
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("nats-credentials output %q: %v", out, err)
	}
	return c
}

// refusedByNATS reports whether connecting with opts fails authorization.
func refusedByNATS(t *testing.T, url string, opts ...nats.Option) bool {
	t.Helper()
	nc, err := nats.Connect(url, append(opts, nats.Timeout(3*time.Second), nats.MaxReconnects(0))...)
	if err == nil {
		nc.Close()
		return false
	}
	if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("connecting to %s: %v, want an authorization error", url, err)
	}
	return true
}

func TestNATSListenerAuthentication(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	natsAddr := freeAddr(t)
	const adminSecret = "e2e-nats-auth-admin-secret-not-for-production-01"
	lk := startLatchkey(t, serverOpts{name: "nats auth", data: data, bootstrapSecret: adminSecret, args: []string{"--nats-listen", natsAddr}})
	admin := lk.adminToken(t, adminSecret).AccessToken
	for _, realm := range []string{"acme", "beta"} {
		lk.postJSON(t, "/admin/realms", `{"name":"`+realm+`"}`, withBearer(admin)).requireStatus(t, http.StatusCreated)
	}
	url := "nats://" + natsAddr

	// The server user's password was generated into the data directory,
	// readable by its owner only.
	pwFile := filepath.Join(data, "nats-password")
	st, err := os.Stat(pwFile)
	if err != nil {
		t.Fatalf("no generated NATS password: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", pwFile, st.Mode().Perm())
	}
	raw, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(raw))

	// Nobody gets in without credentials, or with wrong ones.
	if !refusedByNATS(t, url) {
		t.Error("a client without credentials connected")
	}
	if !refusedByNATS(t, url, nats.UserInfo("latchkey", password+"x")) {
		t.Error("a client with a wrong password connected")
	}
	acme := realmNATSCredentials(t, data, "acme")
	beta := realmNATSCredentials(t, data, "beta")
	if acme.User != "rs-acme" || acme.InboxPrefix != "_INBOX_LK_ACME" || len(acme.Password) < 32 || acme.Password == beta.Password {
		t.Fatalf("nats-credentials: acme %+v, beta %+v", acme, beta)
	}
	if again := realmNATSCredentials(t, data, "acme"); again != acme {
		t.Errorf("nats-credentials is not stable: %+v then %+v", acme, again)
	}
	if !refusedByNATS(t, url, nats.UserInfo("rs-acme", beta.Password)) {
		t.Error("rs-acme connected with beta's password")
	}

	// The server user reads any realm: replay against the running server.
	out, errOut, code := runLatchkey(t, []string{"LATCHKEY_NATS_PASSWORD=" + password}, "replay", "--nats-url", url, "--realm", "acme")
	if code != 0 || !strings.Contains(out, `"type"`) {
		t.Errorf("replay over the listener as user latchkey: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if _, errOut, code := runLatchkey(t, nil, "replay", "--nats-url", url, "--realm", "acme"); code == 0 {
		t.Errorf("replay over the listener without the password succeeded\n%s", errOut)
	}

	// A resource server of acme verifies acme's tokens with its realm's
	// credentials (the permissions themselves: realms/verifier's tests).
	backend := lk.createClient(t, admin, "acme", `{"name":"backend"}`)
	tok := lk.clientToken(t, "acme", backend.ClientID, backend.ClientSecret, "").AccessToken
	nc, err := verifier.Connect(url, "acme", acme)
	if err != nil {
		t.Fatalf("rs-acme: %v", err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	v, err := verifier.New(ctx, verifier.Config{Issuer: lk.base + "/realms/acme", Audience: lk.base + "/realms/acme", NATS: nc})
	if err != nil {
		t.Fatalf("verifier as rs-acme: %v", err)
	}
	defer v.Close()
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("verifier as rs-acme: %v", err)
	}
	if h := v.Health(); !h.Live {
		t.Errorf("verifier health %+v", h)
	}

	// No password reaches the log.
	for name, secret := range map[string]string{"server": password, "acme": acme.Password, "beta": beta.Password} {
		if strings.Contains(lk.stderr.String(), secret) {
			t.Errorf("the log holds the %s NATS password", name)
		}
	}
	lk.waitStderr(t, `"msg":"nats listener"`, 5*time.Second)

	// nats-credentials never makes a master key, and checks the realm.
	if _, errOut, code := runLatchkey(t, nil, "nats-credentials", "--realm", "acme", "--data", t.TempDir()); code != 1 || !strings.Contains(errOut, "master key") {
		t.Errorf("nats-credentials without a master key: exit %d, %s", code, errOut)
	}
	if _, errOut, code := runLatchkey(t, nil, "nats-credentials", "--realm", "Not.A.Realm", "--data", data); code != 2 {
		t.Errorf("nats-credentials with a bad realm name: exit %d, %s", code, errOut)
	}
}

func TestNATSListenerBeyondLoopbackNeedsTLSOrInsecure(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	everywhere := "0.0.0.0:" + port

	if _, errOut, code := runLatchkey(t, nil, "serve", "--data", data, "--http", freeAddr(t), "--nats-listen", everywhere); code != 2 || !strings.Contains(errOut, "--nats-insecure") {
		t.Errorf("serve --nats-listen %s without TLS: exit %d, want 2 and a message naming --nats-insecure:\n%s", everywhere, code, errOut)
	}

	lk := startLatchkey(t, serverOpts{name: "insecure nats", data: data, args: []string{"--nats-listen", everywhere, "--nats-insecure"}})
	lk.waitStderr(t, "without TLS", 5*time.Second)
	if !strings.Contains(lk.stderr.String(), `"level":"WARN"`) {
		t.Error("--nats-insecure on every interface is not logged as a warning")
	}
	lk.stop(t)

	// With TLS on every interface: no --nats-insecure needed; clients
	// trust the server with --nats-ca.
	cert, key := estest.WriteCertificate(t)
	lk = startLatchkey(t, serverOpts{name: "tls nats", data: data, args: []string{"--nats-listen", everywhere, "--nats-tls-cert", cert, "--nats-tls-key", key}})
	if strings.Contains(lk.stderr.String(), "without TLS") {
		t.Error("a TLS listener is warned about as plain text")
	}
	raw, err := os.ReadFile(filepath.Join(data, "nats-password"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"LATCHKEY_NATS_PASSWORD=" + strings.TrimSpace(string(raw))}
	tlsURL := "tls://127.0.0.1:" + port
	if out, errOut, code := runLatchkey(t, env, "replay", "--nats-url", tlsURL, "--nats-ca", cert, "--realm", "master"); code != 0 || out == "" {
		t.Errorf("replay over TLS with --nats-ca: exit %d\n%s", code, errOut)
	}
	if _, _, code := runLatchkey(t, env, "replay", "--nats-url", tlsURL, "--realm", "master"); code == 0 {
		t.Error("replay trusted a certificate of an unknown CA")
	}
	plain, err := nats.Connect("nats://127.0.0.1:"+port, nats.UserInfo("latchkey", strings.TrimSpace(string(raw))), nats.Timeout(3*time.Second), nats.MaxReconnects(0))
	if err == nil {
		// nats.go upgrades on the server's demand; it must still have
		// verified the certificate, which it cannot without the CA.
		plain.Close()
		t.Error("a client without the CA connected to the TLS listener")
	}
}

func TestServeRefusesContradictoryHardeningFlags(t *testing.T) {
	t.Parallel()
	cert, key := estest.WriteCertificate(t)
	for _, tc := range []struct {
		env  []string
		args []string
		say  string
	}{
		{nil, []string{"--nats-listen", "127.0.0.1:0", "--nats-tls-cert", cert}, "--nats-tls-key"},
		{nil, []string{"--nats-tls-cert", cert, "--nats-tls-key", key}, "--nats-listen"},
		{nil, []string{"--nats-url", "nats://127.0.0.1:1", "--nats-listen", "127.0.0.1:0"}, "--nats-url"},
		{nil, []string{"--nats-ca", cert}, "--nats-url"},
		{nil, []string{"--nats-listen", ":4222"}, "--nats-insecure"},
		{nil, []string{"--nats-listen", "localhost"}, "missing port"},
		{[]string{"LATCHKEY_NATS_INSECURE=maybe"}, nil, "LATCHKEY_NATS_INSECURE"},
		{nil, []string{"--http-read-timeout", "0s"}, "timeout"},
		{nil, []string{"--http-max-conns-per-ip", "-1"}, "max-conns-per-ip"},
		{[]string{"LATCHKEY_HTTP_IDLE_TIMEOUT=forever"}, nil, "LATCHKEY_HTTP_IDLE_TIMEOUT"},
	} {
		args := append([]string{"serve", "--data", t.TempDir(), "--http", freeAddr(t)}, tc.args...)
		if _, errOut, code := runLatchkey(t, tc.env, args...); code != 2 || !strings.Contains(errOut, tc.say) {
			t.Errorf("serve %v with %v: exit %d, want 2 and a message naming %q:\n%s", tc.args, tc.env, code, tc.say, errOut)
		}
	}
	if _, errOut, code := runLatchkey(t, []string{"LATCHKEY_NATS_PASSWORD=short"}, "serve", "--data", t.TempDir(), "--http", freeAddr(t), "--nats-listen", freeAddr(t)); code == 0 || !strings.Contains(errOut, "32 characters") {
		t.Errorf("serve with a short NATS password: exit %d:\n%s", code, errOut)
	}
}

// rawConn is a TCP connection to the server whose reads are watched: ended
// is closed, at endedAt, once the server answered or closed.
type rawConn struct {
	net.Conn
	ended   chan struct{}
	endedAt time.Time
	got     []byte
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, ended: make(chan struct{})}
}

// watch reads until the server sends something or closes.
func (c *rawConn) watch() {
	go func() {
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		c.got, c.endedAt = buf[:n], time.Now()
		close(c.ended)
	}()
}

func (c *rawConn) endedWithin(d time.Duration) bool {
	select {
	case <-c.ended:
		return true
	case <-time.After(d):
		return false
	}
}

func TestHTTPTimeoutsCutSlowAndIdleClientsButNotTheAuditStream(t *testing.T) {
	t.Parallel()
	// Read and write timeouts of 2 s; an idle timeout apart from them, so
	// that each is seen to apply.
	const timeout, idleTimeout = 2 * time.Second, 3 * time.Second
	const adminSecret = "e2e-timeouts-admin-secret-not-for-production-01"
	lk := startLatchkey(t, serverOpts{name: "timeouts", data: t.TempDir(), bootstrapSecret: adminSecret, args: []string{
		"--http-read-timeout", timeout.String(), "--http-write-timeout", timeout.String(), "--http-idle-timeout", idleTimeout.String(),
	}})
	admin := lk.adminToken(t, adminSecret).AccessToken
	lk.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(admin)).requireStatus(t, http.StatusCreated)

	// The audit stream opens first and must outlive every timeout.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, lk.base+"/admin/realms/acme/audit/stream", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("audit stream: HTTP %d", resp.StatusCode)
	}
	streamOpened := time.Now()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	// A body sent one byte at a time is cut off within the read timeout.
	slow := dialRaw(t, lk.addr)
	fmt.Fprintf(slow, "POST /realms/master/protocol/openid-connect/token HTTP/1.1\r\nHost: %s\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n", lk.addr)
	started := time.Now()
	slow.watch()
	for sent := 0; !slow.endedWithin(500 * time.Millisecond); sent++ {
		if time.Since(started) > 4*timeout {
			t.Fatalf("a body trickling in one byte per 500 ms still held the connection after %s (read timeout %s)", time.Since(started), timeout)
		}
		if _, err := slow.Write([]byte("a")); err != nil {
			break
		}
	}
	<-slow.ended
	if held := slow.endedAt.Sub(started); held > timeout+time.Second {
		t.Errorf("the slow body held the connection %s, read timeout %s", held, timeout)
	}
	if bytes.HasPrefix(slow.got, []byte("HTTP/1.1 200")) {
		t.Errorf("the cut-off request was answered 200: %q", slow.got)
	}

	// A keep-alive connection idle past the idle timeout is closed.
	idle := dialRaw(t, lk.addr)
	fmt.Fprintf(idle, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", lk.addr)
	br := bufio.NewReader(idle)
	hr, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, hr.Body)
	hr.Body.Close()
	answered := time.Now()
	_ = idle.SetReadDeadline(time.Now().Add(4 * idleTimeout))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("an idle keep-alive connection: %v, want the server to close it", err)
	}
	if held := time.Since(answered); held < idleTimeout-500*time.Millisecond || held > idleTimeout+time.Second {
		t.Errorf("an idle connection was closed after %s, idle timeout %s", held, idleTimeout)
	}

	// The audit stream, open for more than twice the read and write
	// timeouts, still delivers.
	time.Sleep(time.Until(streamOpened.Add(2*timeout + time.Second)))
	lk.createClient(t, admin, "acme", `{"name":"after the timeouts"}`)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the audit stream ended %s after it opened (timeouts %s)", time.Since(streamOpened), timeout)
			}
			if strings.HasPrefix(line, "data:") && strings.Contains(line, "client.created") {
				t.Logf("audit stream delivered %s after it opened", time.Since(streamOpened))
				return
			}
		case <-deadline:
			t.Fatal("the audit stream delivered no client.created event")
		}
	}
}

func TestConnectionLimitAndBoundedMetricsAndLogs(t *testing.T) {
	t.Parallel()
	lk := startLatchkey(t, serverOpts{name: "limits", data: t.TempDir(), args: []string{"--http-max-conns-per-ip", "3"}})
	lk.transport.CloseIdleConnections()
	time.Sleep(300 * time.Millisecond) // the server sees the probe's connections go

	// Three connections from one IP are kept; the fourth is closed at once.
	var held []*rawConn
	for range 3 {
		c := dialRaw(t, lk.addr)
		c.watch()
		held = append(held, c)
	}
	for i, c := range held {
		if c.endedWithin(300 * time.Millisecond) {
			t.Fatalf("connection %d of 3 was closed", i+1)
		}
	}
	fourth := dialRaw(t, lk.addr)
	fourth.watch()
	if !fourth.endedWithin(2*time.Second) || len(fourth.got) != 0 {
		t.Fatalf("a fourth connection from one IP was not closed at once (got %q)", fourth.got)
	}
	held[0].Close()
	time.Sleep(200 * time.Millisecond)
	scrape := func() string {
		t.Helper()
		r := lk.get(t, "/metrics")
		r.requireStatus(t, http.StatusOK)
		lk.transport.CloseIdleConnections()
		time.Sleep(100 * time.Millisecond)
		return string(r.body)
	}
	if m := scrape(); !strings.Contains(m, "latchkey_http_connections_refused_total 1") {
		t.Errorf("refused connections not counted:\n%s", grepLines(m, "refused"))
	}
	for _, c := range held[1:] {
		c.Close()
	}
	time.Sleep(200 * time.Millisecond)

	// 100 KB method names and paths grow neither the scrape nor the log.
	sendRaw := func(method, path string) {
		t.Helper()
		c := dialRaw(t, lk.addr)
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", method, path, lk.addr)
		r, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%.20s… %.20s…: %v", method, path, err)
		}
		r.Body.Close()
		c.Close()
	}
	huge := func(b byte) string { return strings.Repeat(string(b), 100_000) }
	sendRaw("GET", "/healthz")
	base := httpSeries(scrape())
	sendRaw(huge('A'), "/healthz")
	first := httpSeries(scrape())
	sendRaw(huge('B'), "/healthz")
	sendRaw(huge('C'), "/realms/master/protocol/openid-connect/token")
	sendRaw("GET", "/"+huge('p'))
	m := scrape()
	last := httpSeries(m)
	if strings.Contains(m, "AAAAAAAAAA") || strings.Contains(m, "pppppppppp") {
		t.Fatal("the scrape repeats a caller's method or path")
	}
	if !strings.Contains(m, `method="other"`) {
		t.Errorf("no series labelled method=\"other\":\n%s", grepLines(m, "latchkey_http_request"))
	}
	if grew := len(first) - len(base); grew > 3000 {
		t.Errorf("one unknown method added %d bytes of HTTP series", grew)
	}
	// Two more unknown methods and a huge path add at most the series of
	// one new route and one unmatched path: no series per method.
	if grew := len(last) - len(first); grew > 6000 {
		t.Errorf("two more 100 KB methods and a 100 KB path added %d bytes of HTTP series:\n%s", grew, truncatedForTest(last))
	}
	log := lk.stderr.String()
	if strings.Contains(log, strings.Repeat("A", 100)) || strings.Contains(log, strings.Repeat("p", 1000)) {
		t.Error("a log line repeats a 100 KB method or path")
	}
	if !strings.Contains(log, `"method":"AAAAAAAAAAAAAAAA…"`) {
		t.Errorf("the log does not show the truncated method:\n%s", grepLines(log, "AAAA"))
	}
}

// httpSeries is the part of a scrape with Latchkey's HTTP series.
func httpSeries(scrape string) string {
	var out []string
	for line := range strings.SplitSeq(scrape, "\n") {
		if strings.HasPrefix(line, "latchkey_http_request_duration_seconds") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// grepLines shows the lines of s holding sub, each cut to 300 bytes.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, truncatedForTest(line))
		}
	}
	return strings.Join(out, "\n")
}

func truncatedForTest(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
