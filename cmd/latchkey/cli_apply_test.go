package main

// `latchkey apply` and `latchkey export` against real servers: the plan,
// idempotency (a second apply writes no event), one changed field writes
// exactly one event, export → apply on a fresh server → export gives the
// same file, --prune, and files that are refused before anything changes.

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const acmeRealmFile = `# acme, as its operators keep it
realm: acme
settings:
  checkpoint_every: 500
  checkpoint_interval: 30
  token_retention: 0
scopes:
  - name: billing
    description: Read your invoices
nodes:
  - slug: eng            # before its parent: apply orders them
    kind: team
    parent: acme-corp
  - slug: acme-corp
    name: Acme Corp
    kind: organization
  - slug: shop
    kind: project
  - slug: shop-web
    kind: app
    parent: shop
clients:
  - name: backend
    scopes: [read, billing]
    roles:
      - {node: eng, role: editor}
  - name: web
    kind: user_app
    redirect_uris: [https://app.example.com/cb]
    issue_refresh_tokens: true
    team_restrictions: [acme-corp]
  - name: cli
    type: public
    redirect_uris: [http://127.0.0.1/callback]
  - name: old
    status: disabled
users:
  - username: alice
    email: alice@example.com
    display_name: Alice
    memberships:
      - {node: eng, role: admin}
  - username: bob
    status: disabled
    memberships:
      - {node: acme-corp, role: viewer}
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func lastSeq(evs []eventView) uint64 {
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

func TestApplyAndExport(t *testing.T) {
	dir := t.TempDir()
	a := startLatchkey(t, serverOpts{name: "apply-a", data: t.TempDir(), bootstrapSecret: cliBootstrapSecret})
	adminA := a.adminToken(t, cliBootstrapSecret).AccessToken
	u := newCLIUser(t, a)
	u.login(cliBootstrapSecret)
	file := writeFile(t, dir, "realm.yaml", acmeRealmFile)

	// The plan of a realm that does not exist; nothing is written.
	plan := u.ok("", "apply", "-f", file, "--dry-run")
	for _, line := range []string{"create realm acme", "create scope acme/billing", "create node acme/acme-corp", "create node acme/eng",
		"create client acme/backend", "create client acme/old", "create user acme/bob", "dry run: nothing was written"} {
		if !strings.Contains(plan, line) {
			t.Errorf("the plan lacks %q:\n%s", line, plan)
		}
	}
	if strings.Index(plan, "node acme/acme-corp") > strings.Index(plan, "node acme/eng") {
		t.Errorf("the plan creates a team before its organization:\n%s", plan)
	}
	a.get(t, "/admin/realms/acme", withBearer(adminA)).checkStatus(t, http.StatusNotFound)

	// Apply: new secrets go to --secrets-out (0600), never to stdout.
	secretsFile := filepath.Join(dir, "secrets.json")
	r := u.run("", "apply", "-f", file, "--secrets-out", secretsFile)
	if r.status != 0 || !strings.Contains(r.stdout, "realm acme: ") || !strings.Contains(r.stderr, "3 new client secrets written to "+secretsFile) {
		t.Fatalf("apply: %s", r)
	}
	info, err := os.Stat(secretsFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	raw, _ := os.ReadFile(secretsFile)
	var secrets []newSecret
	if err := json.Unmarshal(raw, &secrets); err != nil || len(secrets) != 3 {
		t.Fatalf("secrets file (%v):\n%s", err, raw)
	}
	for _, s := range secrets {
		if strings.Contains(r.stdout, s.ClientSecret) || strings.Contains(r.stderr, s.ClientSecret) {
			t.Errorf("the secret of %s was printed though --secrets-out was given", s.Client)
		}
		if s.Client == "backend" {
			tok := a.clientToken(t, "acme", s.ClientID, s.ClientSecret, "billing")
			if tok.Scope != "billing" {
				t.Errorf("backend's token: scope %q", tok.Scope)
			}
		}
	}
	applied := realmEvents(t, a, adminA, "acme")

	// What the server holds is what the file says.
	users := decodeJSON[[]apiUser](t, "user list", u.ok("", "user", "list", "--realm", "acme", "-o", "json"))
	if len(users) != 2 || users[0].Username != "alice" || users[0].DisplayName != "Alice" || users[1].Status != "disabled" ||
		membershipList(users[0].Memberships) != "eng=admin" {
		t.Errorf("users after apply: %+v", users)
	}
	clients := decodeJSON[[]apiClient](t, "client list", u.ok("", "client", "list", "--realm", "acme", "-o", "json"))
	if len(clients) != 4 || clients[1].Kind != "user_app" || !clients[1].IssueRefreshTokens || clients[2].Type != "public" || clients[3].Status != "disabled" {
		t.Errorf("clients after apply: %+v", clients)
	}

	// Again: nothing to do, and not one event written.
	if out := u.ok("", "apply", "-f", file); strings.TrimSpace(out) != "realm acme: no changes" {
		t.Errorf("a second apply: %q", out)
	}
	if again := realmEvents(t, a, adminA, "acme"); len(again) != len(applied) || lastSeq(again) != lastSeq(applied) {
		t.Errorf("a second apply wrote %d events", len(again)-len(applied))
	}

	// One field changed: the plan says so, and apply writes one event.
	changed := writeFile(t, dir, "changed.yaml", strings.Replace(acmeRealmFile, "  - name: backend\n", "  - name: backend\n    description: Billing backend\n", 1))
	if out := u.ok("", "apply", "-f", changed, "--dry-run"); !strings.Contains(out, "update client acme/backend (description)\nrealm acme: 1 change planned") {
		t.Errorf("the plan of one change:\n%s", out)
	}
	u.ok("", "apply", "-f", changed)
	after := realmEvents(t, a, adminA, "acme")
	if n := len(after) - len(applied); n != 1 || after[len(after)-1].Type != "client.updated" || after[len(after)-1].Aggregate != "client/"+clients[0].ClientID {
		t.Errorf("one changed field wrote %d events: %+v", n, after[len(applied):])
	}

	// Export, apply to a fresh server, export again: the same file.
	exported := u.ok("", "export", "--realm", "acme")
	for _, bad := range []string{"client_id:", "client_secret:", "version:", "has_password", secrets[0].ClientSecret, secrets[0].ClientID} {
		if strings.Contains(exported, bad) {
			t.Errorf("the export holds %q:\n%s", bad, exported)
		}
	}
	// require_pkce, left out of the file, kept the new realm's value.
	for _, want := range []string{"description: Billing backend", "status: disabled", "slug: shop-web", "name: billing", "require_pkce: true"} {
		if !strings.Contains(exported, want) {
			t.Errorf("the export lacks %q:\n%s", want, exported)
		}
	}
	if out := u.ok("", "apply", "-f", writeFile(t, dir, "export-a.yaml", exported)); strings.TrimSpace(out) != "realm acme: no changes" {
		t.Errorf("applying its own export to the realm: %q", out)
	}
	b := startLatchkey(t, serverOpts{name: "apply-b", data: t.TempDir(), bootstrapSecret: cliBootstrapSecret})
	ub := newCLIUser(t, b)
	ub.login(cliBootstrapSecret)
	out := ub.run(exported, "apply", "-f", "-")
	if out.status != 0 || !strings.Contains(out.stdout, "create realm acme") || strings.Count(out.stderr, "shown this once") != 3 || strings.Count(out.stdout, "client_secret ") != 3 {
		t.Fatalf("apply of the export on a fresh server: %s", out)
	}
	if again := ub.ok("", "export", "--realm", "acme"); again != exported {
		t.Errorf("export → apply → export differs:\n--- first\n%s\n--- second\n%s", exported, again)
	}

	// --prune deletes what the file's sections leave out, and only that.
	stray := a.createClient(t, adminA, "acme", `{"name":"stray","scopes":["read"]}`)
	a.postJSON(t, "/admin/realms/acme/users", `{"username":"carol"}`, withBearer(adminA)).requireStatus(t, http.StatusCreated)
	exportFile := writeFile(t, dir, "export.yaml", exported)
	if out := u.ok("", "apply", "-f", exportFile); strings.TrimSpace(out) != "realm acme: no changes" {
		t.Errorf("without --prune nothing is deleted: %q", out)
	}
	plan = u.ok("", "apply", "-f", exportFile, "--prune", "--dry-run")
	if !strings.Contains(plan, "delete client acme/stray ("+stray.ClientID+")") || !strings.Contains(plan, "delete user acme/carol") || !strings.Contains(plan, "2 changes planned") {
		t.Errorf("the prune plan:\n%s", plan)
	}
	u.ok("", "apply", "-f", exportFile, "--prune")
	if again := u.ok("", "export", "--realm", "acme"); again != exported {
		t.Errorf("after --prune the realm differs from the file:\n%s", again)
	}
	// The client the login uses is never pruned.
	master := writeFile(t, dir, "master.yaml", "realm: master\nclients: []\n")
	r = u.run("", "apply", "-f", master, "--prune")
	if r.status != 0 || !strings.Contains(r.stderr, "keeping client Latchkey bootstrap admin (latchkey-admin)") || !strings.Contains(r.stdout, "realm master: no changes") {
		t.Errorf("prune of master's clients: %s", r)
	}
}

func TestApplyRefusesABadFileBeforeChangingAnything(t *testing.T) {
	dir := t.TempDir()
	lk := startLatchkey(t, serverOpts{name: "apply-bad", data: t.TempDir(), bootstrapSecret: cliBootstrapSecret})
	admin := lk.adminToken(t, cliBootstrapSecret).AccessToken
	u := newCLIUser(t, lk)
	u.login(cliBootstrapSecret)

	// Read strictly: an unknown field, with its line.
	unknown := writeFile(t, dir, "unknown.yaml", "realm: gamma\nclients:\n  - name: svc\n    colour: blue\n")
	u.fails(1, "unknown.yaml: line 4: field colour not found in a client", "apply", "-f", unknown)
	dup := writeFile(t, dir, "dup.yaml", "realm: gamma\nusers:\n  - username: ann\n    username: bob\n")
	u.fails(1, `line 4: mapping key "username" already defined at line 3`, "apply", "-f", dup)
	twice := writeFile(t, dir, "twice.yaml", "realm: gamma\nclients:\n  - name: svc\n  - name: svc\n")
	u.fails(1, `client "svc" is listed twice`, "apply", "-f", twice)

	// Checked with the domain's rules against the realm as it will be:
	// every problem at once, and nothing written, not even the realm.
	bad := writeFile(t, dir, "bad.yaml", `realm: gamma
scopes:
  - name: billing
    description: "two\nlines"
nodes:
  - slug: eng
    kind: team
    parent: nowhere
clients:
  - name: svc
    kind: user_app
users:
  - username: "not a name"
`)
	r := u.fails(1, "realm gamma: nothing was changed", "apply", "-f", bad)
	for _, want := range []string{`scope "billing"`, `node "eng"`, `client "svc"`, "authorization_code needs at least one redirect URI", `user "not a name"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the refusal does not name %s:\n%s", want, r.stderr)
		}
	}
	lk.get(t, "/admin/realms/gamma", withBearer(admin)).checkStatus(t, http.StatusNotFound)

	u.fails(2, "-f FILE is required", "apply")
	u.fails(2, "--realm is required", "export")
	u.fails(1, "realm nope does not exist", "export", "--realm", "nope")
}
