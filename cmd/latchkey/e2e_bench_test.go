package main

import (
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchCounts runs `latchkey bench <mode>` against lk for one second and
// returns the successful and failed request counts it reports.
func benchCounts(t *testing.T, lk *latchkey, mode, id, secret string) (ok, failed int, out string) {
	t.Helper()
	return benchWait(t, benchStart(t, lk, mode, id, secret, "1s"))
}

// benchRun is a `latchkey bench` under way.
type benchRun struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	mode string
}

// benchStart starts `latchkey bench <mode>` against lk, four clients for
// duration.
func benchStart(t *testing.T, lk *latchkey, mode, id, secret, duration string) benchRun {
	t.Helper()
	r := benchRun{cmd: exec.Command(latchkeyBin, "bench", mode, "--url", lk.base, "--realm", "acme",
		"--client", id, "--secret", secret, "--concurrency", "4", "--duration", duration), out: &syncBuffer{}, mode: mode}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return r
}

// benchWait waits for the run and returns the counts it reported.
func benchWait(t *testing.T, r benchRun) (ok, failed int, out string) {
	t.Helper()
	err := r.cmd.Wait()
	out = r.out.String()
	if err != nil {
		t.Fatalf("latchkey bench %s: %v\n%s", r.mode, err, out)
	}
	m := regexp.MustCompile(`requests: (\d+) ok, (\d+) failed`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("latchkey bench %s printed no request counts:\n%s", r.mode, out)
	}
	ok, _ = strconv.Atoi(m[1])
	failed, _ = strconv.Atoi(m[2])
	return ok, failed, out
}

// TestBenchReportsWhatTheServerDid: the load command's counts are the
// server's: every token it counts as ok is one token.issued event on the
// realm's stream, and a wrong secret is reported as failures with the
// server's error, not as throughput.
func TestBenchReportsWhatTheServerDid(t *testing.T) {
	t.Parallel()
	const adminSecret = "e2e-bench-admin-secret-not-for-production-000001"
	lk := startLatchkey(t, serverOpts{data: t.TempDir(), bootstrapSecret: adminSecret})
	admin := lk.adminToken(t, adminSecret).AccessToken
	lk.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(admin)).requireStatus(t, http.StatusCreated)
	client := lk.createClient(t, admin, "acme", `{"name":"load","scopes":["read"]}`)

	ok, failed, out := benchCounts(t, lk, "token", client.ClientID, client.ClientSecret)
	if ok == 0 || failed != 0 {
		t.Fatalf("bench token: %d ok, %d failed; want some and none:\n%s", ok, failed, out)
	}
	if !regexp.MustCompile(`throughput: [1-9]\d* requests/s\nlatency: p50 \S+  p90 \S+  p99 \S+  max \S+`).MatchString(out) {
		t.Errorf("bench token output lacks throughput or latency quantiles:\n%s", out)
	}
	if issued := lk.countEvents(t, admin, "acme", "token.issued"); issued != ok {
		t.Errorf("bench token counted %d tokens; the stream holds %d token.issued", ok, issued)
	}

	ok, failed, out = benchCounts(t, lk, "introspect", client.ClientID, client.ClientSecret)
	if ok == 0 || failed != 0 {
		t.Errorf("bench introspect: %d ok, %d failed; want some and none:\n%s", ok, failed, out)
	}
	// An introspection that answers active:false is not counted as one:
	// the token is revoked half-way through the run, once the server has
	// answered some of its introspections (a loaded machine may take a
	// while to start the command).
	before := introspectionsAnswered(t, lk)
	run := benchStart(t, lk, "introspect", client.ClientID, client.ClientSecret, "3s")
	for deadline := time.Now().Add(20 * time.Second); introspectionsAnswered(t, lk) < before+20; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server answered no introspection of the bench run")
		}
	}
	lk.postJSON(t, "/admin/realms/acme/clients/"+client.ClientID+"/revoke-tokens", "", withBearer(admin)).requireStatus(t, http.StatusNoContent)
	if ok, failed, out = benchWait(t, run); ok == 0 || failed == 0 || !strings.Contains(out, `first error: HTTP 200 without "active":true`) {
		t.Errorf("bench introspect of a token revoked half-way: %d ok, %d failed; want both, and the inactive answer as the error:\n%s", ok, failed, out)
	}

	ok, failed, out = benchCounts(t, lk, "token", client.ClientID, "not-the-secret")
	if ok != 0 || failed == 0 || !regexp.MustCompile(`first error: HTTP 401: .*invalid_client`).MatchString(out) {
		t.Errorf("bench token with a wrong secret: %d ok, %d failed; want none and some, with the server's invalid_client:\n%s", ok, failed, out)
	}
}

// introspectionsAnswered is how many introspection requests the server
// has answered 200, from its Prometheus metrics.
func introspectionsAnswered(t *testing.T, lk *latchkey) int {
	t.Helper()
	r := lk.get(t, "/metrics")
	r.requireStatus(t, http.StatusOK)
	for line := range strings.SplitSeq(string(r.body), "\n") {
		if strings.HasPrefix(line, "latchkey_http_request_duration_seconds_count{") &&
			strings.Contains(line, `code="200"`) && strings.Contains(line, `route="/realms/:realm/protocol/openid-connect/token/introspect"`) {
			n, _ := strconv.Atoi(line[strings.LastIndexByte(line, ' ')+1:])
			return n
		}
	}
	return 0
}
