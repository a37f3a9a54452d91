package main

// The admin verbs against a real server: what a person and a script see,
// exit statuses, and the errors (409 as a sentence, 401 asking for a new
// login, usage errors exiting 2).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const cliBootstrapSecret = "cli-bootstrap-secret-0123456789-long-enough"

// realmEvents lists a realm's events, without the checkpoints the server
// appends on its own schedule.
func realmEvents(t *testing.T, lk *latchkey, admin, realm string) []eventView {
	t.Helper()
	var out []eventView
	for after := uint64(0); ; {
		page := lk.events(t, admin, realm, "limit=1000&after_seq="+strconv.FormatUint(after, 10))
		if len(page.Events) == 0 {
			return out
		}
		for _, e := range page.Events {
			if e.Type != "audit.checkpoint" {
				out = append(out, e)
			}
		}
		after = page.NextAfterSeq
	}
}

func decodeJSON[T any](t *testing.T, what, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: not JSON (%v):\n%s", what, err, s)
	}
	return v
}

func TestCLILoginAndErrors(t *testing.T) {
	lk := startLatchkey(t, serverOpts{name: "cli-login", data: t.TempDir(), bootstrapSecret: cliBootstrapSecret})
	u := newCLIUser(t, lk)

	// Not logged in yet.
	u.fails(1, "not logged in: run latchkey login", "realm", "list")

	// Usage errors exit 2 and change nothing.
	u.fails(2, "--url is required", "login")
	u.fails(2, "must be an http or https URL", "login", "--url", "ftp://x")
	u.fails(2, "flag provided but not defined", "login", "--url", lk.base, "--secret", "x")

	// A wrong secret is refused and nothing is stored.
	r := u.run("not-the-secret\n", "login", "--url", lk.base)
	if r.status != 1 || !strings.Contains(r.stderr, "refused client latchkey-admin of realm master") || !strings.Contains(r.stderr, "nothing was stored") {
		t.Errorf("a wrong secret: %s", r)
	}
	if _, err := os.Stat(u.config); !os.IsNotExist(err) {
		t.Errorf("a refused login left %s behind (%v)", u.config, err)
	}

	// The secret from the environment wins over stdin, and is checked.
	u.env["LATCHKEY_CLIENT_SECRET"] = cliBootstrapSecret
	out := u.ok("ignored\n", "login", "--url", lk.base+"/")
	delete(u.env, "LATCHKEY_CLIENT_SECRET")
	if !strings.Contains(out, "Logged in to "+lk.base+" as client latchkey-admin of realm master") {
		t.Errorf("login says: %s", out)
	}
	info, err := os.Stat(u.config)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("config %s: %v, mode %v; want 0600", u.config, err, info.Mode().Perm())
	}

	// 409 reads as a sentence; 404 too.
	u.ok("", "realm", "create", "acme")
	u.fails(1, "latchkey: cannot create realm acme: already exists (HTTP 409 Conflict)", "realm", "create", "acme")
	u.fails(1, "cannot read realm nope: realm nope does not exist (HTTP 404 Not Found)", "realm", "get", "nope")
	u.fails(1, "HTTP 400 Bad Request", "realm", "create", "Bad_Name")

	// Usage errors of verbs.
	u.fails(2, "client get takes ID", "client", "get")
	u.fails(2, "unknown command \"client frob\"", "client", "frob")
	u.fails(2, "--output must be table or json", "realm", "list", "-o", "yaml")
	u.fails(2, "flag provided but not defined: -bogus", "client", "list", "--bogus")
	u.fails(2, "give the settings to change", "client", "update", "3f9c0c4e-2b1a-4e8e-9d55-0f6b8f1f2a11")
	u.fails(2, "usage: latchkey client <command>", "client")
	for _, args := range [][]string{{"client", "create", "-h"}, {"apply", "-h"}, {"login", "--help"}, {"sessions", "revoke", "-h"}, {"audit", "-h"}} {
		r := u.run("", args...)
		if r.status != 0 || !strings.Contains(r.stderr, "usage: latchkey "+args[0]) {
			t.Errorf("-h must answer with the usage and exit 0: %s", r)
		}
		if len(args) == 3 && !strings.Contains(r.stderr, "example:") {
			t.Errorf("-h of a verb shows an example: %s", r)
		}
	}

	// A login whose client is disabled since: 401, and the message says
	// how to log in again.
	admin := lk.adminToken(t, cliBootstrapSecret).AccessToken
	second := lk.createClient(t, admin, "master", `{"name":"ops","scopes":["management"]}`)
	ops := newCLIUser(t, lk)
	ops.env["LATCHKEY_CLIENT_SECRET"] = second.ClientSecret
	ops.ok("", "login", "--url", lk.base, "--client-id", second.ClientID)
	ops.ok("", "realm", "list")
	lk.postJSON(t, "/admin/realms/master/clients/"+second.ClientID+"/disable", "", withBearer(admin)).requireStatus(t, http.StatusOK)
	r = ops.fails(1, "log in again: latchkey login --url "+lk.base+" --realm master --client-id "+second.ClientID, "realm", "list")
	if !strings.Contains(r.stderr, "HTTP 401") {
		t.Errorf("the refusal names the 401: %s", r)
	}
	if strings.Contains(r.stderr, second.ClientSecret) {
		t.Errorf("an error shows the client secret: %s", r)
	}
}

// TestCLIBinaryUsesTheConfigDirectory runs the real binary: the login
// lands in $XDG_CONFIG_HOME/latchkey/config.json with mode 0600, and exit
// statuses are serve's.
func TestCLIBinaryUsesTheConfigDirectory(t *testing.T) {
	lk := startLatchkey(t, serverOpts{name: "cli-binary", data: t.TempDir(), bootstrapSecret: cliBootstrapSecret})
	home := t.TempDir()
	run := func(stdin string, env []string, args ...string) (string, string, int) {
		cmd := exec.Command(latchkeyBin, args...)
		cmd.Env = childEnv(append([]string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "xdg")}, env...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr syncBuffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		status := 0
		if exit, ok := err.(*exec.ExitError); ok {
			status = exit.ExitCode()
		} else if err != nil {
			t.Fatalf("running %v: %v", args, err)
		}
		return stdout.String(), stderr.String(), status
	}
	if _, stderr, status := run(cliBootstrapSecret+"\n", nil, "login", "--url", lk.base); status != 0 {
		t.Fatalf("login: exit %d: %s", status, stderr)
	}
	path := filepath.Join(home, "xdg", "latchkey", "config.json")
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v; want a file with mode 0600", path, err)
	}
	if stdout, stderr, status := run("", nil, "realm", "list", "-o", "json"); status != 0 || !strings.Contains(stdout, `"name": "master"`) {
		t.Errorf("realm list: exit %d\n%s\n%s", status, stdout, stderr)
	}
	if _, stderr, status := run("", nil, "realm", "create", "master"); status != 1 || !strings.Contains(stderr, "cannot create realm master: already exists (HTTP 409 Conflict)") {
		t.Errorf("realm create master: exit %d: %s", status, stderr)
	}
	if _, stderr, status := run("", nil, "client", "get"); status != 2 || !strings.Contains(stderr, "client get takes ID") {
		t.Errorf("client get without ID: exit %d: %s", status, stderr)
	}
	if _, stderr, status := run("", nil, "user", "create", "-h"); status != 0 || !strings.Contains(stderr, "example:") {
		t.Errorf("user create -h: exit %d: %s", status, stderr)
	}
}

func TestCLIVerbs(t *testing.T) {
	lk := startLatchkey(t, serverOpts{name: "cli-verbs", data: t.TempDir(), bootstrapSecret: cliBootstrapSecret})
	admin := lk.adminToken(t, cliBootstrapSecret).AccessToken
	u := newCLIUser(t, lk)
	u.login(cliBootstrapSecret)
	u.ok("", "realm", "create", "acme")

	realms := decodeJSON[[]map[string]any](t, "realm list", u.ok("", "realm", "list", "--output", "json"))
	if len(realms) != 2 {
		t.Errorf("realm list: %v", realms)
	}
	if out := u.ok("", "realm", "get", "acme"); !strings.Contains(out, "issuer:") || !strings.Contains(out, "ES256") {
		t.Errorf("realm get shows issuer and keys:\n%s", out)
	}
	// Realm settings: only the flags given change (a merge patch).
	settings := func() map[string]any {
		t.Helper()
		rl := decodeJSON[map[string]any](t, "realm get", u.ok("", "realm", "get", "acme", "-o", "json"))
		st, _ := rl["settings"].(map[string]any)
		return st
	}
	u.ok("", "realm", "set", "acme", "--compat", "seacat,corral", "--client-credentials-token-lifetime", "3m")
	st := settings()
	if fmt.Sprint(st["compat"]) != "[seacat corral]" || fmt.Sprint(st["client_defaults"].(map[string]any)["client_credentials_token_lifetime"]) != "180" {
		t.Errorf("realm set: settings %v", st)
	}
	u.ok("", "realm", "set", "acme", "--compat", "", "--client-credentials-token-lifetime", "0")
	if st := settings(); fmt.Sprint(st["compat"]) != "[]" || fmt.Sprint(st["client_defaults"].(map[string]any)["client_credentials_token_lifetime"]) != "0" {
		t.Errorf("realm set back: settings %v", st)
	}
	u.fails(2, "give at least one setting", "realm", "set", "acme")
	before := len(strings.Split(strings.TrimSpace(u.ok("", "realm", "get", "acme")), "\n"))
	u.ok("", "keys", "rotate", "--realm", "acme")
	if after := len(strings.Split(strings.TrimSpace(u.ok("", "realm", "get", "acme")), "\n")); after != before+2 {
		t.Errorf("keys rotate: %d lines of realm get, then %d; want two more keys", before, after)
	}

	// Clients: the secret once, with a warning; then never again.
	r := u.run("", "client", "create", "--realm", "acme", "--name", "backend", "--scope", "read,write", "--access-token-lifetime", "15m", "-o", "json")
	if r.status != 0 || !strings.Contains(r.stderr, "shown this once") {
		t.Fatalf("client create: %s", r)
	}
	created := decodeJSON[apiClient](t, "client create", r.stdout)
	if created.ClientSecret == "" || created.AccessTokenLifetime != 900 || strings.Join(created.Scopes, " ") != "read write" {
		t.Fatalf("client create: %+v", created)
	}
	lk.clientToken(t, "acme", created.ClientID, created.ClientSecret, "read")
	got := u.ok("", "client", "get", created.ClientID, "--realm", "acme", "-o", "json")
	if strings.Contains(got, created.ClientSecret) || strings.Contains(got, `"client_secret":`) {
		t.Errorf("client get shows the secret:\n%s", got)
	}
	if out := u.ok("", "client", "list", "--realm", "acme", "--scope", "write"); !strings.Contains(out, created.ClientID) || !strings.Contains(out, "backend") {
		t.Errorf("client list:\n%s", out)
	}
	if out := u.ok("", "client", "list", "--realm", "acme", "--q", "nomatch", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("client list of nothing, as JSON: %q", out)
	}

	// A stale version is refused, the right one goes through.
	u.fails(1, "cannot update client "+created.ClientID+": ", "client", "update", created.ClientID, "--realm", "acme", "--description", "x", "--if-match", "1")
	v := decodeJSON[apiClient](t, "client get", got).Version
	updated := decodeJSON[apiClient](t, "client update", u.ok("", "client", "update", created.ClientID, "--realm", "acme",
		"--description", "the backend", "--if-match", strconv.FormatUint(v, 10), "-o", "json"))
	if updated.Description != "the backend" || updated.AccessTokenLifetime != 900 || strings.Join(updated.Scopes, " ") != "read write" {
		t.Errorf("client update changed more or less than asked: %+v", updated)
	}
	u.fails(1, "HTTP 400 Bad Request", "client", "update", created.ClientID, "--realm", "acme", "--access-token-lifetime", "30s")

	// Rotation: the new secret works, the old one no longer.
	r = u.run("", "client", "rotate-secret", created.ClientID, "--realm", "acme")
	if r.status != 0 || !strings.Contains(r.stderr, "shown this once") || !strings.Contains(r.stdout, "client_secret:") {
		t.Fatalf("rotate-secret: %s", r)
	}
	newSecret := strings.TrimSpace(r.stdout[strings.LastIndex(r.stdout, "client_secret:")+len("client_secret:"):])
	lk.clientToken(t, "acme", created.ClientID, newSecret, "")
	lk.postForm(t, tokenPath("acme"), "grant_type=client_credentials", withBasic(created.ClientID, created.ClientSecret)).checkStatus(t, http.StatusUnauthorized)

	u.ok("", "client", "disable", created.ClientID, "--realm", "acme")
	lk.postForm(t, tokenPath("acme"), "grant_type=client_credentials", withBasic(created.ClientID, newSecret)).checkStatus(t, http.StatusUnauthorized)
	u.ok("", "client", "enable", created.ClientID, "--realm", "acme")
	token := lk.clientToken(t, "acme", created.ClientID, newSecret, "")

	// Sessions: the token is listed and revoked by its jti.
	jti := jtiOf(t, token.AccessToken)
	if out := u.ok("", "sessions", "list", "--realm", "acme", "--client-id", created.ClientID, "--status", "active"); !strings.Contains(out, jti) {
		t.Errorf("sessions list lacks %s:\n%s", jti, out)
	}
	u.ok("", "sessions", "revoke", jti, "--realm", "acme")
	lk.requireInactive(t, "acme", created.ClientID, newSecret, token.AccessToken, "revoked by sessions revoke")
	again := lk.clientToken(t, "acme", created.ClientID, newSecret, "")
	u.ok("", "sessions", "revoke", "--client", created.ClientID, "--realm", "acme")
	lk.requireInactive(t, "acme", created.ClientID, newSecret, again.AccessToken, "revoked by sessions revoke --client")
	u.fails(2, "give exactly one of", "sessions", "revoke", jti, "--client", created.ClientID, "--realm", "acme")
	if out := u.ok("", "sessions", "list", "--browser", "--realm", "acme", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("no browser sessions yet: %q", out)
	}

	// Nodes and scopes.
	u.ok("", "node", "create", "acme-corp", "--kind", "organization", "--name", "Acme Corp", "--realm", "acme")
	u.ok("", "node", "create", "eng", "--kind", "team", "--parent", "acme-corp", "--realm", "acme")
	u.ok("", "node", "rename", "eng", "--name", "Engineering", "--realm", "acme")
	if out := u.ok("", "node", "list", "--realm", "acme"); !strings.Contains(out, "Engineering") || strings.Index(out, "acme-corp") > strings.Index(out, "eng ") {
		t.Errorf("node list (roots first):\n%s", out)
	}
	r = u.run("", "node", "credentials", "eng", "--scope", "consumer", "--realm", "acme", "-o", "json")
	nodeClient := decodeJSON[apiClient](t, "node credentials", r.stdout)
	if r.status != 0 || nodeClient.OwnerNode != "eng" || nodeClient.ClientSecret == "" || !strings.Contains(r.stderr, "shown this once") {
		t.Errorf("node credentials: %s", r)
	}
	u.fails(1, "cannot delete node eng: node eng is still referenced by", "node", "delete", "eng", "--realm", "acme")
	u.ok("", "scope", "set", "billing", "--description", "Read your invoices", "--realm", "acme")
	if out := u.ok("", "scope", "list", "--realm", "acme"); !strings.Contains(out, "Read your invoices") || !strings.Contains(out, "openid") {
		t.Errorf("scope list:\n%s", out)
	}
	u.fails(1, "cannot delete scope read: scope read is still given to clients", "scope", "delete", "read", "--realm", "acme")
	u.ok("", "scope", "delete", "billing", "--realm", "acme")
	u.fails(2, "--description is required", "scope", "set", "x", "--realm", "acme")

	// Users, by username; the password never on the command line.
	u.env["LATCHKEY_USER_PASSWORD"] = "correct horse battery"
	alice := decodeJSON[apiUser](t, "user create", u.ok("", "user", "create", "--realm", "acme", "--username", "alice",
		"--email", "alice@example.com", "--member", "eng=editor", "--password", "-o", "json"))
	delete(u.env, "LATCHKEY_USER_PASSWORD")
	if !alice.HasPassword || membershipList(alice.Memberships) != "eng=editor" {
		t.Errorf("user create: %+v", alice)
	}
	u.fails(1, `username "alice" is taken in this realm (HTTP 409 Conflict)`, "user", "create", "--realm", "acme", "--username", "alice")
	if out := u.ok("", "user", "get", "alice", "--realm", "acme"); !strings.Contains(out, alice.ID) {
		t.Errorf("user get by username:\n%s", out)
	}
	u.ok("", "user", "set-memberships", "alice", "--member", "acme-corp=viewer", "--realm", "acme")
	if out := u.ok("", "user", "list", "--realm", "acme"); !strings.Contains(out, "acme-corp=viewer") {
		t.Errorf("user list:\n%s", out)
	}
	u.ok("new password here\n", "user", "set-password", "alice", "--realm", "acme")
	if r := u.run("short\n", "user", "set-password", "alice", "--realm", "acme"); r.status != 1 || !strings.Contains(r.stderr, "password must be 10 to 1024 characters (HTTP 400 Bad Request)") {
		t.Errorf("a short password: %s", r)
	}
	u.fails(1, "no new password for alice: set LATCHKEY_USER_PASSWORD", "user", "set-password", "alice", "--realm", "acme")
	u.ok("", "user", "disable", "alice", "--realm", "acme")
	if got := decodeJSON[apiUser](t, "user get", u.ok("", "user", "get", alice.ID, "--realm", "acme", "-o", "json")); got.Status != "disabled" {
		t.Errorf("after disable: %+v", got)
	}
	u.ok("", "user", "enable", "alice", "--realm", "acme")
	if out := u.ok("", "user", "set-realm-roles", "alice", "--role", "auditor", "--role", "client-manager", "--realm", "acme"); !strings.Contains(out, "client-manager,auditor") {
		t.Errorf("user set-realm-roles:\n%s", out)
	}
	u.fails(1, `unknown realm role "root"`, "user", "set-realm-roles", "alice", "--role", "root", "--realm", "acme")
	u.fails(2, "give --role ROLE (repeatable) or --none", "user", "set-realm-roles", "alice", "--realm", "acme")
	u.ok("", "user", "set-realm-roles", "alice", "--none", "--realm", "acme")
	if out := u.ok("", "user", "unlock", "alice", "--realm", "acme"); !strings.Contains(out, "alice") {
		t.Errorf("user unlock:\n%s", out)
	}
	u.ok("", "user", "set-memberships", "alice", "--none", "--realm", "acme")
	u.ok("", "user", "delete", "alice", "--realm", "acme")
	u.fails(1, "realm acme has no user alice", "user", "get", "alice", "--realm", "acme")

	u.ok("", "client", "delete", nodeClient.ClientID, "--realm", "acme")
	u.ok("", "node", "delete", "eng", "--realm", "acme")
	u.fails(1, "HTTP 404 Not Found", "client", "get", nodeClient.ClientID, "--realm", "acme")

	// The audit log: export writes JSON lines; tail prints and follows.
	export := filepath.Join(t.TempDir(), "audit.jsonl")
	u.ok("", "audit", "export", "--realm", "acme", "--type", "client.", "--out", export)
	raw, err := os.ReadFile(export)
	if err != nil || !strings.Contains(string(raw), `"type":"client.created"`) || strings.Contains(string(raw), `"type":"node.`) {
		t.Errorf("audit export (%v):\n%.2000s", err, raw)
	}
	info, _ := os.Stat(export)
	if info.Mode().Perm() != 0o600 {
		t.Errorf("audit export file mode %v, want 0600", info.Mode().Perm())
	}

	var shown struct {
		Entries []json.RawMessage `json:"entries"`
	}
	lk.get(t, "/admin/realms/acme/audit?type=realm.scope_*&limit=3", withBearer(admin)).decode(t, &shown)
	ctx, stop := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan cliResult, 1)
	go func() {
		done <- u.runContext(ctx, "", out, "audit", "tail", "--realm", "acme", "--lines", "3", "--type", "realm.scope_*")
	}()
	waitOutput(t, out, "realm.scope_removed", 10*time.Second)
	time.Sleep(300 * time.Millisecond) // the stream is open
	lk.do(t, http.MethodPut, "/admin/realms/acme/scopes/tailed", strings.NewReader(`{"description":"Seen by tail"}`),
		withBearer(admin), withContentType("application/json")).requireStatus(t, http.StatusOK)
	waitOutput(t, out, "tailed", 10*time.Second)
	stop()
	select {
	case r := <-done:
		if r.status != 0 {
			t.Errorf("audit tail ended with %s", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("audit tail did not stop when cancelled")
	}
	if lines := strings.Count(out.String(), "\n"); lines != len(shown.Entries)+1 {
		t.Errorf("audit tail printed %d lines, want %d old ones and 1 new:\n%s", lines, len(shown.Entries), out)
	}
}

// The verbs an MCP server operator scripts: resources, the registration
// policy, initial access tokens.
func TestCLIResourcesAndRegistration(t *testing.T) {
	lk := startLatchkey(t, serverOpts{name: "cli-mcp", data: t.TempDir(), bootstrapSecret: cliBootstrapSecret})
	u := newCLIUser(t, lk)
	u.login(cliBootstrapSecret)
	u.ok("", "realm", "create", "acme")
	u.ok("", "scope", "set", "mcp:tools", "--realm", "acme", "--description", "Use the tools")
	created := decodeJSON[apiResource](t, "resource create", u.ok("", "resource", "create", "--realm", "acme",
		"--identifier", "https://mcp.example.com/mcp", "--name", "Tools", "--scope", "mcp:tools", "--access-token-lifetime", "10m", "-o", "json"))
	if created.AccessTokenLifetime != 600 || strings.Join(created.Scopes, " ") != "mcp:tools" {
		t.Errorf("resource create: %+v", created)
	}
	if out := u.ok("", "resource", "list", "--realm", "acme"); !strings.Contains(out, "https://mcp.example.com/mcp") || !strings.Contains(out, created.ID) {
		t.Errorf("resource list:\n%s", out)
	}
	u.fails(1, "is registered already", "resource", "create", "--realm", "acme", "--identifier", "https://mcp.example.com/mcp", "--name", "Again")
	u.fails(2, "--identifier and --name are required", "resource", "create", "--realm", "acme")

	if out := strings.Join(strings.Fields(u.ok("", "registration", "set", "--realm", "acme", "--cimd", "--cimd-host", "claude.ai", "--dynamic")), " "); !strings.Contains(out, "metadata_documents: true") ||
		!strings.Contains(out, "allowed_hosts: claude.ai") || !strings.Contains(out, "open_registration: false") {
		t.Errorf("registration set:\n%s", out)
	}
	r := u.run("", "initial-token", "create", "--realm", "acme", "--max-uses", "3", "--expires-in", "1h", "-o", "json")
	if r.status != 0 || !strings.Contains(r.stderr, "shown this once") {
		t.Fatalf("initial-token create: %s", r)
	}
	it := decodeJSON[apiInitialToken](t, "initial-token create", r.stdout)
	if it.Token == "" || it.MaxUses != 3 || it.Status != "active" {
		t.Errorf("initial-token create: %+v", it)
	}
	if out := u.ok("", "initial-token", "list", "--realm", "acme"); strings.Contains(out, it.Token) || !strings.Contains(out, "0/3") {
		t.Errorf("initial-token list:\n%s", out)
	}
	u.ok("", "initial-token", "revoke", it.ID, "--realm", "acme")
	if out := u.ok("", "initial-token", "list", "--realm", "acme"); !strings.Contains(out, "revoked") {
		t.Errorf("initial-token list after revoke:\n%s", out)
	}
	u.ok("", "resource", "delete", created.ID, "--realm", "acme")
	if out := u.ok("", "resource", "list", "--realm", "acme", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("resource list after delete: %q", out)
	}
}
