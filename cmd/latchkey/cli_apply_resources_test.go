package main

// Protected resources (RFC 8707) in realm files, against real servers:
// created after the scopes they accept, idempotent, one changed field is
// one event, --prune removes them before the scopes they named, export →
// apply → export gives the same file.

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const mcpRealmFile = `realm: mcp
scopes:
  - {name: tools, description: Use the tools}
  - {name: files, description: Read your files}
resources:
  - identifier: https://mcp.example.com/mcp
    name: Example tools
    scopes: [tools, files]
    access_token_lifetime: 600
  - identifier: https://api.example.com
    name: Example API
    scopes: [files]
clients:
  - name: agent
    scopes: [tools, files]
`

func TestApplyResources(t *testing.T) {
	dir := t.TempDir()
	a := startLatchkey(t, serverOpts{name: "apply-res-a", data: t.TempDir(), bootstrapSecret: cliBootstrapSecret})
	adminA := a.adminToken(t, cliBootstrapSecret).AccessToken
	u := newCLIUser(t, a)
	u.login(cliBootstrapSecret)
	file := writeFile(t, dir, "mcp.yaml", mcpRealmFile)
	const tools, api = "https://mcp.example.com/mcp", "https://api.example.com"

	// The plan creates the scopes before the resources that accept them.
	plan := u.ok("", "apply", "-f", file, "--dry-run")
	for _, line := range []string{"create resource mcp/" + tools, "create resource mcp/" + api} {
		if !strings.Contains(plan, line) {
			t.Errorf("the plan lacks %q:\n%s", line, plan)
		}
		if strings.Index(plan, "create scope mcp/files") > strings.Index(plan, line) {
			t.Errorf("the plan creates a resource before its scopes:\n%s", plan)
		}
	}

	secretsFile := filepath.Join(dir, "secrets.json")
	u.ok("", "apply", "-f", file, "--secrets-out", secretsFile)
	resources := decodeJSON[[]apiResource](t, "resource list", u.ok("", "resource", "list", "--realm", "mcp", "-o", "json"))
	if len(resources) != 2 || resources[0].Identifier != api || resources[0].AccessTokenLifetime != 3600 || strings.Join(resources[0].Scopes, " ") != "files" ||
		resources[1].Identifier != tools || resources[1].Name != "Example tools" || resources[1].AccessTokenLifetime != 600 || strings.Join(resources[1].Scopes, " ") != "tools files" {
		t.Fatalf("resources after apply: %+v", resources)
	}
	// A token for the applied resource has its scopes and lifetime.
	raw, _ := os.ReadFile(secretsFile)
	var secrets []newSecret
	if err := json.Unmarshal(raw, &secrets); err != nil || len(secrets) != 1 {
		t.Fatalf("secrets file (%v):\n%s", err, raw)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"tools"}, "resource": {tools}}
	if tok := requireToken(t, a.postForm(t, tokenPath("mcp"), form.Encode(), withBasic(secrets[0].ClientID, secrets[0].ClientSecret))); tok.Scope != "tools" || tok.ExpiresIn != 600 {
		t.Errorf("a token for %s: scope %q, expires_in %v", tools, tok.Scope, tok.ExpiresIn)
	}
	applied := realmEvents(t, a, adminA, "mcp")

	// Again: nothing to do, not one event.
	if out := u.ok("", "apply", "-f", file); strings.TrimSpace(out) != "realm mcp: no changes" {
		t.Errorf("a second apply: %q", out)
	}
	if again := realmEvents(t, a, adminA, "mcp"); len(again) != len(applied) || lastSeq(again) != lastSeq(applied) {
		t.Errorf("a second apply wrote %d events", len(again)-len(applied))
	}

	// One field changed: one update, one event.
	changed := writeFile(t, dir, "changed.yaml", strings.Replace(mcpRealmFile, "access_token_lifetime: 600", "access_token_lifetime: 900", 1))
	if out := u.ok("", "apply", "-f", changed, "--dry-run"); !strings.Contains(out, "update resource mcp/"+tools+" (access_token_lifetime)\nrealm mcp: 1 change planned") {
		t.Errorf("the plan of one change:\n%s", out)
	}
	u.ok("", "apply", "-f", changed)
	after := realmEvents(t, a, adminA, "mcp")
	if n := len(after) - len(applied); n != 1 || after[len(after)-1].Type != "resource.updated" || after[len(after)-1].Aggregate != "resource/"+resources[1].ID {
		t.Errorf("one changed field wrote %d events: %+v", n, after[len(applied):])
	}

	// Export → apply on a fresh server → export: the same file.
	exported := u.ok("", "export", "--realm", "mcp")
	for _, want := range []string{"resources:\n", "identifier: " + tools, "access_token_lifetime: 900", "name: Example API"} {
		if !strings.Contains(exported, want) {
			t.Errorf("the export lacks %q:\n%s", want, exported)
		}
	}
	if strings.Contains(exported, resources[0].ID) || strings.Contains(exported, "access_token_lifetime: 3600") {
		t.Errorf("the export holds an id or a default lifetime:\n%s", exported)
	}
	b := startLatchkey(t, serverOpts{name: "apply-res-b", data: t.TempDir(), bootstrapSecret: cliBootstrapSecret})
	ub := newCLIUser(t, b)
	ub.login(cliBootstrapSecret)
	if r := ub.run(exported, "apply", "-f", "-"); r.status != 0 || !strings.Contains(r.stdout, "create resource mcp/"+tools) {
		t.Fatalf("apply of the export on a fresh server: %s", r)
	}
	if again := ub.ok("", "export", "--realm", "mcp"); again != exported {
		t.Errorf("export → apply → export differs:\n--- first\n%s\n--- second\n%s", exported, again)
	}

	// Without a resources section, a scope a resource accepts is not
	// pruned, nor one a client no file manages (the console's) is given:
	// refused before anything is written.
	before := realmEvents(t, a, adminA, "mcp")
	noResources := writeFile(t, dir, "no-resources.yaml", "realm: mcp\nscopes: [{name: tools, description: Use the tools}]\nclients: [{name: agent, scopes: [tools]}]\n")
	r := u.fails(1, "realm mcp: nothing was changed", "apply", "-f", noResources, "--prune")
	if !strings.Contains(r.stderr, `scope "files" cannot be pruned: resource `+api+", resource "+tools+" still names it") {
		t.Errorf("the refusal does not name the resources:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, `scope "management" cannot be pruned: client `) {
		t.Errorf("the refusal does not name the console's client:\n%s", r.stderr)
	}
	if again := realmEvents(t, a, adminA, "mcp"); len(again) != len(before) {
		t.Errorf("a refused apply wrote %d events", len(again)-len(before))
	}

	// --prune: the resource stops naming the scope and the other resource
	// goes before the scope does (the server refuses to remove a scope a
	// resource accepts, so the order is what lets this apply succeed).
	pruned := writeFile(t, dir, "pruned.yaml", `realm: mcp
scopes:
  - {name: tools, description: Use the tools}
  - {name: management, description: "Administer this realm through Latchkey's admin API"}
  - {name: read, description: Read data through the API}
  - {name: write, description: Change data through the API}
  - {name: consumer, description: Use the API as a consumer}
resources:
  - {identifier: "https://mcp.example.com/mcp", name: Example tools, scopes: [tools], access_token_lifetime: 900}
clients: [{name: agent, scopes: [tools]}]
`)
	if out := u.ok("", "apply", "-f", pruned, "--dry-run"); strings.Contains(out, "delete") {
		t.Errorf("without --prune nothing is deleted:\n%s", out)
	}
	plan = u.ok("", "apply", "-f", pruned, "--prune", "--dry-run")
	if want := "update resource mcp/" + tools + " (scopes)\nupdate client mcp/agent (scopes)\ndelete resource mcp/" + api +
		"\ndelete scope mcp/files\nrealm mcp: 4 changes planned"; !strings.Contains(plan, want) {
		t.Errorf("the prune plan:\n%s\nwant:\n%s", plan, want)
	}
	u.ok("", "apply", "-f", pruned, "--prune")
	resources = decodeJSON[[]apiResource](t, "resource list", u.ok("", "resource", "list", "--realm", "mcp", "-o", "json"))
	if len(resources) != 1 || resources[0].Identifier != tools || strings.Join(resources[0].Scopes, " ") != "tools" {
		t.Errorf("resources after --prune: %+v", resources)
	}
	if out := u.ok("", "apply", "-f", pruned, "--prune"); strings.TrimSpace(out) != "realm mcp: no changes" {
		t.Errorf("applying the pruned file again: %q", out)
	}

	// A resource is checked against the catalog as it will be.
	unknown := writeFile(t, dir, "unknown.yaml", "realm: mcp\nresources:\n  - {identifier: \"https://x.example.com\", name: X, scopes: [nope, openid]}\n")
	r = u.fails(1, "realm mcp: nothing was changed", "apply", "-f", unknown)
	for _, want := range []string{`resource "https://x.example.com"`, `scope "nope" is not in the realm's scope catalog`, `scope "openid" is a built-in OpenID scope`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the refusal does not say %s:\n%s", want, r.stderr)
		}
	}
}
