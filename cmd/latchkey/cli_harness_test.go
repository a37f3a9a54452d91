package main

// Harness for the admin command line's tests: each command runs in-process
// through adminCommand and exitStatus, as main runs it, against a real
// server (the binary) over real HTTP. Every admin request the CLI sends and
// every answer it gets is validated against /admin/openapi.json.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cliUser is one person at a terminal: a config file and environment.
type cliUser struct {
	t      *testing.T
	lk     *latchkey
	config string
	env    map[string]string
}

func newCLIUser(t *testing.T, lk *latchkey) *cliUser {
	return &cliUser{t: t, lk: lk, config: filepath.Join(t.TempDir(), "config.json"), env: map[string]string{}}
}

// cliResult is what a command printed and its exit status.
type cliResult struct {
	args           []string
	stdout, stderr string
	status         int
}

func (r cliResult) String() string {
	return "latchkey " + strings.Join(r.args, " ") + " → exit " + strconv.Itoa(r.status) +
		"\n  stdout: " + r.stdout + "\n  stderr: " + r.stderr
}

// textWriter is where a command's output goes: a bytes.Buffer, or a
// syncBuffer read while the command runs.
type textWriter interface {
	io.Writer
	String() string
}

// run runs one command line with stdin.
func (u *cliUser) run(stdin string, args ...string) cliResult {
	return u.runContext(context.Background(), stdin, &bytes.Buffer{}, args...)
}

// runContext runs one command line, writing stdout to out (a tail reads
// it while the command runs).
func (u *cliUser) runContext(ctx context.Context, stdin string, out textWriter, args ...string) cliResult {
	u.t.Helper()
	return u.runWith(ctx, stdin, out, &bytes.Buffer{}, args...)
}

// runWith runs one command line, writing stdout to out and stderr to
// errOut (a device login shows its code there while it waits).
func (u *cliUser) runWith(ctx context.Context, stdin string, out, errOut textWriter, args ...string) cliResult {
	u.t.Helper()
	x := &cliIO{
		stdin: strings.NewReader(stdin), stdout: out, stderr: errOut,
		getenv: func(k string) string {
			if k == "LATCHKEY_CONFIG" {
				return u.config
			}
			return u.env[k]
		},
		transport: &validatingTransport{t: u.t, base: u.lk.base, next: u.lk.transport},
	}
	err := adminCommand(ctx, x, args)
	status := exitStatus(err, errOut)
	return cliResult{args: args, stdout: out.String(), stderr: errOut.String(), status: status}
}

// ok runs a command that must succeed and returns its stdout.
func (u *cliUser) ok(stdin string, args ...string) string {
	u.t.Helper()
	r := u.run(stdin, args...)
	if r.status != 0 {
		u.t.Fatalf("want exit 0:\n%s", r)
	}
	return r.stdout
}

// fails runs a command that must exit with status and say want on stderr.
func (u *cliUser) fails(status int, want string, args ...string) cliResult {
	u.t.Helper()
	r := u.run("", args...)
	if r.status != status || !strings.Contains(r.stderr, want) {
		u.t.Errorf("want exit %d saying %q:\n%s", status, want, r)
	}
	return r
}

// login logs in as the bootstrap client with its secret on stdin.
func (u *cliUser) login(secret string) {
	u.t.Helper()
	u.ok(secret+"\n", "login", "--url", u.lk.base)
}

// validatingTransport checks each admin request and answer against the
// served OpenAPI document (streams are left to their own checks).
type validatingTransport struct {
	t    *testing.T
	base string
	next http.RoundTripper
}

// A request the document refuses must be one the server refuses (400): the
// tests also pass bad input through the CLI on purpose.
func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	admin := strings.HasPrefix(req.URL.Path, "/admin/") && req.URL.Path != "/admin/openapi.json"
	var reqBody []byte
	if admin && req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := v.next.RoundTrip(req)
	if err != nil || !admin {
		return resp, err
	}
	if resp.StatusCode != http.StatusBadRequest {
		if err := validateAdminRequest(v.base, req, reqBody); err != nil {
			v.t.Errorf("the CLI sent %s %s, which /admin/openapi.json does not allow (the server answered %d): %v\nbody: %s", req.Method, req.URL, resp.StatusCode, err, reqBody)
		}
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	checkAdminResponse(v.t, v.base, req, resp.StatusCode, resp.Header, body)
	return resp, nil
}

// waitOutput waits until a running command's output holds s.
func waitOutput(t *testing.T, b *syncBuffer, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(b.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("output does not show %q within %s:\n%s", s, within, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
