package main

// `latchkey apply` makes realms look like a realm file: it reads what
// exists through the admin API, checks the whole file against it with the
// domain's own rules (nothing is written when anything is wrong), and then
// creates and updates what differs, in an order each step can rely on:
// realm, settings, scopes, resources (which accept scopes), nodes, clients,
// users; with --prune it then deletes what the file's sections leave out:
// clients, users, resources, nodes (children first), scopes (last: no
// client or resource names them by then). A second apply finds nothing to
// do.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/adminclient"
	"github.com/latchkeyhq/latchkey/domain"
)

var applyVerb = verb{
	name: "apply", noRealm: true, noOutput: true,
	summary: "Make realms look like a realm file: create and update what differs, never delete unless --prune\n" +
		"(and then only within the sections the file has). Secrets are never in the file: new clients'\n" +
		"secrets are printed once, or written to --secrets-out (mode 0600).",
	example: `latchkey apply -f realm.yaml --dry-run      # the plan; nothing is written
latchkey apply -f realm.yaml --secrets-out secrets.json
latchkey export --realm acme | latchkey apply -f -`,
	define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
		var o applyOptions
		file := fs.String("f", "", "the realm file (YAML; - for stdin) (required)")
		fs.BoolVar(&o.dryRun, "dry-run", false, "print the plan and change nothing")
		fs.BoolVar(&o.prune, "prune", false, "also delete what the file's sections leave out")
		fs.BoolVar(&o.confirmHighRisk, "confirm-high-risk", false, "confirm clients with full access and access tokens over an hour")
		secretsOut := fs.String("secrets-out", "", "write new client secrets to this file (JSON, mode 0600) instead of printing them")
		return func(ctx context.Context, _ []string) error {
			if *file == "" {
				return usageError(errors.New("apply: -f FILE is required"))
			}
			files, err := readRealmFiles(s.io, *file)
			if err != nil {
				return err
			}
			secrets := &secretLog{out: *secretsOut}
			err = s.applyFiles(ctx, files, o, secrets)
			if o.dryRun {
				return err
			}
			return errors.Join(err, secrets.flush(s.io))
		}
	},
}

var exportVerb = verb{
	name: "export", noRealm: true, noOutput: true,
	summary: "Write a realm's configuration as a realm file, without secrets: apply it to reproduce the realm.",
	example: "latchkey export --realm acme > acme.yaml\nlatchkey export --realm acme --out acme.yaml",
	define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
		fs.StringVar(&s.realm, "realm", "", "the realm (required)")
		out := fs.String("out", "", "file to write (default: stdout)")
		return func(ctx context.Context, _ []string) error {
			if !has(fs, "realm") {
				return usageError(errors.New("export: --realm is required"))
			}
			st, err := s.readRealm(ctx)
			if err != nil {
				return err
			}
			if st == nil {
				return fmt.Errorf("realm %s does not exist", s.realm)
			}
			f, err := st.export(s.realm)
			if err != nil {
				return err
			}
			raw, err := encodeRealmFile(f)
			if err != nil {
				return err
			}
			if *out == "" {
				_, err = s.io.stdout.Write(raw)
				return err
			}
			return os.WriteFile(*out, raw, 0o644)
		}
	},
}

type applyOptions struct {
	dryRun, prune, confirmHighRisk bool
}

func readRealmFiles(x *cliIO, name string) ([]realmFile, error) {
	if name == "-" {
		return decodeRealmFiles(x.stdin, "stdin")
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decodeRealmFiles(f, name)
}

// applyFiles applies each realm in turn.
func (s *session) applyFiles(ctx context.Context, files []realmFile, o applyOptions, secrets *secretLog) error {
	for _, f := range files {
		if err := s.applyRealm(ctx, f, o, secrets); err != nil {
			return err
		}
	}
	return nil
}

// change is one step of a plan.
type change struct {
	line string // "create client acme/backend"
	run  func(ctx context.Context) error
}

func (s *session) applyRealm(ctx context.Context, f realmFile, o applyOptions, secrets *secretLog) error {
	s.realm = f.Realm
	st, err := s.readRealm(ctx)
	if err != nil {
		return err
	}
	var done []string
	if st == nil {
		// Checked against a new realm before it is made: a bad file
		// creates nothing.
		st = &realmState{assumeScopes: true, settings: domain.NewRealmSettings()}
		if _, err := s.plan(f, st, o, secrets); err != nil {
			return fmt.Errorf("realm %s: nothing was changed:\n  - %w", f.Realm, err)
		}
		line := "create realm " + f.Realm
		done = append(done, line)
		if o.dryRun {
			fmt.Fprintf(s.io.stdout, "%s (it does not exist; the plan below assumes the scopes its clients name are in its default catalog)\n", line)
		} else {
			if _, err := s.call(ctx, line, adminclient.Request{Method: http.MethodPost, Path: "/admin/realms", Body: map[string]string{"name": f.Realm}}); err != nil {
				return err
			}
			fmt.Fprintln(s.io.stdout, line)
			if st, err = s.readRealm(ctx); err != nil {
				return err
			}
		}
	}
	plan, err := s.plan(f, st, o, secrets)
	if err != nil {
		return fmt.Errorf("realm %s: nothing was changed:\n  - %w", f.Realm, err)
	}
	for _, c := range plan {
		if !o.dryRun {
			if err := c.run(ctx); err != nil {
				return err
			}
		}
		fmt.Fprintln(s.io.stdout, c.line)
	}
	switch n := len(plan) + len(done); {
	case n == 0:
		fmt.Fprintf(s.io.stdout, "realm %s: no changes\n", f.Realm)
	case o.dryRun:
		fmt.Fprintf(s.io.stdout, "realm %s: %s planned (dry run: nothing was written)\n", f.Realm, changes(n))
	default:
		fmt.Fprintf(s.io.stdout, "realm %s: %s applied\n", f.Realm, changes(n))
	}
	return nil
}

// realmState is what a realm holds now, read through the admin API.
type realmState struct {
	settings  domain.RealmSettings
	scopes    []domain.ScopeEntry // the realm's own, not the built-in ones
	resources []apiResource       // by identifier
	nodes     []apiNode           // roots first
	clients   []apiClient         // in creation order
	// foreign are the clients no file manages (the console's, those met
	// through a metadata document or registered dynamically).
	foreign []apiClient
	users   []apiUser // by username
	// assumeScopes: the realm does not exist yet (a dry run), so the
	// scopes of its default catalog are not known.
	assumeScopes bool
}

// readRealm reads the session's realm; nil when it does not exist.
func (s *session) readRealm(ctx context.Context) (*realmState, error) {
	resp, err := s.call(ctx, "read realm "+s.realm, adminclient.Request{Method: http.MethodGet, Path: s.realmPath("")})
	var apiErr *adminclient.APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rl apiRealm
	if err := resp.Decode(&rl); err != nil {
		return nil, err
	}
	st := &realmState{}
	if rl.Settings != nil {
		st.settings = *rl.Settings
	}
	scopes, _, err := s.scopes(ctx)
	if err != nil {
		return nil, err
	}
	for _, sc := range scopes {
		if !sc.BuiltIn {
			st.scopes = append(st.scopes, sc)
		}
	}
	if err := s.readList(ctx, "resources", s.realmPath("/resources"), &st.resources); err != nil {
		return nil, err
	}
	if err := s.readList(ctx, "nodes", s.realmPath("/nodes"), &st.nodes); err != nil {
		return nil, err
	}
	if err := s.readAll(ctx, "clients", &st.clients); err != nil {
		return nil, err
	}
	// Clients that came through their metadata document or registered
	// themselves are not an administrator's: a realm file neither writes
	// nor prunes them.
	foreign := func(c apiClient) bool { return c.Source != "" && c.Source != "admin" }
	for _, c := range st.clients {
		if foreign(c) {
			st.foreign = append(st.foreign, c)
		}
	}
	st.clients = slices.DeleteFunc(st.clients, foreign)
	// The console's built-in client is not listed, but gives scopes too.
	resp, err = s.call(ctx, "read the console client of realm "+s.realm, adminclient.Request{Method: http.MethodGet, Path: s.clientPath(domain.ConsoleClientID, "")})
	switch {
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound:
	case err != nil:
		return nil, err
	default:
		var console apiClient
		if err := resp.Decode(&console); err != nil {
			return nil, err
		}
		st.foreign = append(st.foreign, console)
	}
	if err := s.readAll(ctx, "users", &st.users); err != nil {
		return nil, err
	}
	return st, nil
}

// readList reads a list answered whole, like {"nodes": [...]}.
func (s *session) readList(ctx context.Context, key, path string, into any) error {
	resp, err := s.call(ctx, "list the "+key+" of realm "+s.realm, adminclient.Request{Method: http.MethodGet, Path: path})
	if err != nil {
		return err
	}
	var page map[string]json.RawMessage
	if err := resp.Decode(&page); err != nil {
		return err
	}
	return json.Unmarshal(page[key], into)
}

// readAll reads every page of a paged list, like {"clients": [...]}.
func (s *session) readAll(ctx context.Context, key string, into any) error {
	items, err := s.allPages(ctx, "list the "+key+" of realm "+s.realm, s.realmPath("/"+key), nil, key, "next_cursor")
	if err != nil {
		return err
	}
	raw, _ := json.Marshal(items)
	return json.Unmarshal(raw, into)
}

// plan compares the file with the realm and returns the changes, or every
// problem found: the file is checked as a whole with the domain's rules
// against the realm as it will be, so that a bad file changes nothing.
func (s *session) plan(f realmFile, st *realmState, o applyOptions, secrets *secretLog) ([]change, error) {
	p := &planner{s: s, f: f, st: st, o: o, secrets: secrets}
	p.settings()
	p.scopes()
	p.resources()
	p.nodes()
	p.clients()
	p.users()
	if o.prune {
		p.pruneClients()
		p.pruneUsers()
		p.pruneResources()
		p.pruneNodes()
		p.pruneScopes()
	}
	if len(p.problems) > 0 {
		return nil, errors.New(strings.Join(p.problems, "\n  - "))
	}
	return p.changes, nil
}

type planner struct {
	s        *session
	f        realmFile
	st       *realmState
	o        applyOptions
	secrets  *secretLog
	changes  []change
	problems []string
	// catalog and tree are the realm's scopes and nodes as they will be.
	catalog domain.Catalog
	tree    domain.Tree
}

func (p *planner) problem(format string, args ...any) {
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

func (p *planner) add(line string, r adminclient.Request, after func(*adminclient.Response) error) {
	p.changes = append(p.changes, change{line: line, run: func(ctx context.Context) error {
		resp, err := p.s.call(ctx, line, r)
		if err == nil && after != nil {
			err = after(resp)
		}
		return err
	}})
}

func (p *planner) name(kind, name string) string { return kind + " " + p.f.Realm + "/" + name }

// realmSettings are the realm's settings as they will be: the file's, or
// else the realm's now.
func (p *planner) realmSettings() domain.RealmSettings {
	if p.f.Settings != nil {
		return p.f.Settings.realm(p.st.settings)
	}
	return p.st.settings
}

func (p *planner) settings() {
	if p.f.Settings == nil {
		return
	}
	want := p.f.Settings.realm(p.st.settings)
	if want.Equal(p.st.settings) {
		return
	}
	if _, err := domain.DecideRealmSettings(&domain.Realm{Settings: p.st.settings}, want, domain.RealmContext{}); err != nil {
		p.problem("settings: %v", err)
		return
	}
	p.add("update the settings of realm "+p.f.Realm, adminclient.Request{Method: http.MethodPut, Path: p.s.realmPath("/settings"), Body: want}, nil)
}

func (p *planner) scopes() {
	p.catalog = domain.Catalog{}
	for _, sc := range p.st.scopes {
		if p.f.Scopes == nil || !p.o.prune {
			p.catalog[sc.Name] = sc.Description
		}
	}
	current := map[string]string{}
	for _, sc := range p.st.scopes {
		current[sc.Name] = sc.Description
	}
	for _, sc := range p.f.Scopes {
		if _, err := domain.DecideDefineScope(domain.ScopeDefined{Name: sc.Name, Description: sc.Description}); err != nil {
			p.problem("scope %q: %v", sc.Name, err)
			continue
		}
		p.catalog[sc.Name] = sc.Description
		desc, exists := current[sc.Name]
		if exists && desc == sc.Description {
			continue
		}
		verb := "create"
		if exists {
			verb = "update"
		}
		p.add(verb+" "+p.name("scope", sc.Name), adminclient.Request{Method: http.MethodPut, Path: p.s.scopePath(sc.Name),
			Body: map[string]string{"description": sc.Description}}, nil)
	}
	if p.st.assumeScopes {
		var named []string
		for _, c := range p.f.Clients {
			named = append(named, c.Scopes...)
		}
		for _, r := range p.f.Resources {
			named = append(named, r.Scopes...)
		}
		for _, sc := range named {
			if _, ok := p.catalog[sc]; !ok {
				p.catalog[sc] = "(assumed)"
			}
		}
	}
}

// resources creates and updates the file's resources, by identifier,
// checked against the catalog as it will be: the scopes they accept are
// created before them, and are removed (--prune) only after them.
func (p *planner) resources() {
	current := map[string]apiResource{}
	for _, r := range p.st.resources {
		current[r.Identifier] = r
	}
	for _, fr := range p.f.Resources {
		want := fr.settings()
		if err := want.Validate(p.catalog); err != nil {
			p.problem("resource %q: %v", fr.Identifier, err)
			continue
		}
		body := map[string]any{"identifier": fr.Identifier, "name": want.Name, "scopes": want.Scopes, "access_token_lifetime": want.AccessTokenLifetime}
		cur, exists := current[fr.Identifier]
		if !exists {
			p.add("create "+p.name("resource", fr.Identifier), adminclient.Request{Method: http.MethodPost, Path: p.s.realmPath("/resources"), Body: body}, nil)
			continue
		}
		have := domain.ResourceSettings{Name: cur.Name, Scopes: cur.Scopes, AccessTokenLifetime: cur.AccessTokenLifetime}
		have.Normalize()
		changed := changedResource(want, have)
		if len(changed) == 0 {
			continue
		}
		p.add("update "+p.name("resource", fr.Identifier)+" ("+strings.Join(changed, ", ")+")",
			adminclient.Request{Method: http.MethodPut, Path: p.s.realmPath("/resources/" + url.PathEscape(cur.ID)), Body: body,
				Header: http.Header{"If-Match": {strconv.Quote(strconv.FormatUint(cur.Version, 10))}}}, nil)
	}
}

func (p *planner) nodes() {
	p.tree = domain.Tree{}
	current := domain.Tree{}
	for _, n := range p.st.nodes {
		node := &domain.Node{Slug: n.Slug, Name: n.Name, Kind: n.Kind, Parent: n.Parent}
		current[n.Slug] = node
		if p.f.Nodes == nil || !p.o.prune {
			p.tree[n.Slug] = node
		}
	}
	// Parents before children, whatever the file's order (a tree is two
	// levels deep at most).
	fileNodes := slices.Clone(p.f.Nodes)
	slices.SortStableFunc(fileNodes, func(a, b fileNode) int {
		return boolInt(a.Parent != "") - boolInt(b.Parent != "")
	})
	for _, n := range fileNodes {
		name := cmp.Or(n.Name, n.Slug)
		if cur, exists := current[n.Slug]; exists {
			p.tree[n.Slug] = cur
			if cur.Kind != n.Kind || cur.Parent != n.Parent {
				p.problem("node %s is a %s under %q; a node's kind and parent never change (delete it first)", n.Slug, cur.Kind, cur.Parent)
				continue
			}
			if cur.Name != name {
				p.add("rename "+p.name("node", n.Slug), adminclient.Request{Method: http.MethodPatch, Path: p.s.nodePath(n.Slug, ""),
					Body: map[string]string{"name": name}}, nil)
			}
			continue
		}
		ev, err := domain.DecideCreateNode(domain.CreateNode{Slug: n.Slug, Name: n.Name, Kind: n.Kind, Parent: n.Parent}, p.tree)
		if err != nil {
			p.problem("node %q: %v", n.Slug, err)
			continue
		}
		p.tree[n.Slug] = &domain.Node{Slug: ev.Slug, Name: ev.Name, Kind: ev.Kind, Parent: ev.Parent}
		p.add("create "+p.name("node", n.Slug), adminclient.Request{Method: http.MethodPost, Path: p.s.realmPath("/nodes"),
			Body: domain.CreateNode{Slug: n.Slug, Name: n.Name, Kind: n.Kind, Parent: n.Parent}}, nil)
	}
}

func (p *planner) clients() {
	byName := map[string][]apiClient{}
	for _, c := range p.st.clients {
		byName[c.Name] = append(byName[c.Name], c)
	}
	for _, fc := range p.f.Clients {
		realm := p.realmSettings()
		want := fc.normalized(realm.ClientDefaults)
		if err := want.ValidateIn(domain.ClientContext{Catalog: p.catalog, Tree: p.tree, MixedGrants: realm.MixedGrants()}); err != nil {
			p.problem("client %q: %v", fc.Name, err)
			continue
		}
		body := clientBody(fc, p.o.confirmHighRisk)
		switch existing := byName[want.Name]; len(existing) {
		case 0:
			p.add("create "+p.name("client", want.Name), adminclient.Request{Method: http.MethodPost, Path: p.s.realmPath("/clients"), Body: body},
				func(resp *adminclient.Response) error {
					var c apiClient
					if err := resp.Decode(&c); err != nil {
						return err
					}
					p.secrets.add(p.f.Realm, c)
					return nil
				})
		case 1:
			cur := existing[0]
			have := cur.ClientSettings
			have.Normalize()
			if have.Type != want.Type {
				p.problem("client %q is %s; a client's type never changes (delete it first)", want.Name, have.Type)
				continue
			}
			changed := changedSettings(want, have)
			if cur.Status != fc.status() {
				changed = append(changed, "status")
			}
			if len(changed) == 0 {
				continue
			}
			p.add("update "+p.name("client", want.Name)+" ("+strings.Join(changed, ", ")+")",
				adminclient.Request{Method: http.MethodPut, Path: p.s.clientPath(cur.ClientID, ""), Body: body,
					Header: http.Header{"If-Match": {strconv.Quote(strconv.FormatUint(cur.Version, 10))}}}, nil)
		default:
			p.problem("realm %s has %d clients named %q: a realm file names clients by name, so rename all but one", p.f.Realm, len(existing), want.Name)
		}
	}
}

// clientBody is the request body of a client in the file: the settings it
// gives (the server fills in the rest, as the plan did) and its status.
func clientBody(fc fileClient, confirm bool) map[string]any {
	raw, _ := json.Marshal(fc.settings())
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	for k, v := range body {
		if isZeroJSON(v) {
			delete(body, k)
		}
	}
	body["status"] = fc.status()
	if confirm {
		body["confirm_high_risk"] = true
	}
	return body
}

func isZeroJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case float64:
		return x == 0
	case bool:
		return !x
	case []any:
		return len(x) == 0
	}
	return false
}

func (p *planner) users() {
	byName := map[string]apiUser{}
	for _, u := range p.st.users {
		byName[strings.ToLower(u.Username)] = u
	}
	for _, fu := range p.f.Users {
		profile := domain.UserProfile{Username: fu.Username, Email: fu.Email, DisplayName: fu.DisplayName}
		if err := errors.Join(domain.ValidateProfile(&profile), domain.ValidateMemberships(fu.Memberships, p.tree)); err != nil {
			p.problem("user %q: %v", fu.Username, err)
			continue
		}
		status := cmp.Or(fu.Status, domain.StatusEnabled)
		cur, exists := byName[strings.ToLower(profile.Username)]
		if !exists {
			line := "create " + p.name("user", profile.Username)
			p.changes = append(p.changes, change{line: line, run: func(ctx context.Context) error {
				resp, err := p.s.call(ctx, line, adminclient.Request{Method: http.MethodPost, Path: p.s.realmPath("/users"), Body: map[string]any{
					"username": profile.Username, "email": profile.Email, "display_name": profile.DisplayName, "memberships": nonNilMemberships(fu.Memberships)}})
				if err != nil || status == domain.StatusEnabled {
					return err
				}
				var u apiUser
				if err := resp.Decode(&u); err != nil {
					return err
				}
				_, err = p.s.call(ctx, "disable "+p.name("user", profile.Username), adminclient.Request{Method: http.MethodPost, Path: p.s.userPath(u.ID, "/disable")})
				return err
			}})
			continue
		}
		if cur.Username != profile.Username || cur.Email != profile.Email || cur.DisplayName != profile.DisplayName {
			p.add("update "+p.name("user", profile.Username)+" (profile)", adminclient.Request{Method: http.MethodPut, Path: p.s.userPath(cur.ID, ""),
				Body: map[string]string{"username": profile.Username, "email": profile.Email, "display_name": profile.DisplayName}}, nil)
		}
		if !sameMemberships(cur.Memberships, fu.Memberships) {
			p.add("update "+p.name("user", profile.Username)+" (memberships)", adminclient.Request{Method: http.MethodPut, Path: p.s.userPath(cur.ID, "/memberships"),
				Body: map[string]any{"memberships": nonNilMemberships(fu.Memberships)}}, nil)
		}
		if cur.Status != status {
			action := strings.TrimSuffix(status, "d") // enable, disable
			p.add(action+" "+p.name("user", profile.Username), adminclient.Request{Method: http.MethodPost, Path: p.s.userPath(cur.ID, "/"+action)}, nil)
		}
	}
}

func (p *planner) pruneClients() {
	if p.f.Clients == nil {
		return
	}
	keep := map[string]bool{}
	for _, c := range p.f.Clients {
		keep[strings.TrimSpace(c.Name)] = true
	}
	for _, c := range p.st.clients {
		if keep[c.Name] {
			continue
		}
		if p.f.Realm == p.s.cfg.Realm && c.ClientID == p.s.cfg.ClientID {
			fmt.Fprintf(p.s.io.stderr, "latchkey: keeping client %s (%s): it is the client this login uses\n", c.Name, c.ClientID)
			continue
		}
		p.add("delete "+p.name("client", c.Name)+" ("+c.ClientID+")", adminclient.Request{Method: http.MethodDelete, Path: p.s.clientPath(c.ClientID, ""),
			Header: http.Header{"If-Match": {strconv.Quote(strconv.FormatUint(c.Version, 10))}}}, nil)
	}
}

func (p *planner) pruneUsers() {
	if p.f.Users == nil {
		return
	}
	keep := map[string]bool{}
	for _, u := range p.f.Users {
		keep[strings.ToLower(strings.TrimSpace(u.Username))] = true
	}
	for _, u := range p.st.users {
		if !keep[strings.ToLower(u.Username)] {
			p.add("delete "+p.name("user", u.Username), adminclient.Request{Method: http.MethodDelete, Path: p.s.userPath(u.ID, "")}, nil)
		}
	}
}

// pruneNodes deletes nodes the file leaves out, children (teams, apps)
// before their parents.
func (p *planner) pruneNodes() {
	if p.f.Nodes == nil {
		return
	}
	keep := map[string]bool{}
	for _, n := range p.f.Nodes {
		keep[n.Slug] = true
	}
	gone := slices.DeleteFunc(slices.Clone(p.st.nodes), func(n apiNode) bool { return keep[n.Slug] })
	slices.SortStableFunc(gone, func(a, b apiNode) int { return boolInt(a.Parent == "") - boolInt(b.Parent == "") })
	for _, n := range gone {
		p.add("delete "+p.name("node", n.Slug), adminclient.Request{Method: http.MethodDelete, Path: p.s.nodePath(n.Slug, "")}, nil)
	}
}

// pruneResources deletes the resources the file leaves out, before the
// scopes they accept.
func (p *planner) pruneResources() {
	if p.f.Resources == nil {
		return
	}
	keep := map[string]bool{}
	for _, r := range p.f.Resources {
		keep[r.Identifier] = true
	}
	for _, r := range p.st.resources {
		if !keep[r.Identifier] {
			p.add("delete "+p.name("resource", r.Identifier), adminclient.Request{Method: http.MethodDelete, Path: p.s.realmPath("/resources/" + url.PathEscape(r.ID)),
				Header: http.Header{"If-Match": {strconv.Quote(strconv.FormatUint(r.Version, 10))}}}, nil)
		}
	}
}

func (p *planner) pruneScopes() {
	if p.f.Scopes == nil {
		return
	}
	keep := map[string]bool{}
	for _, sc := range p.f.Scopes {
		keep[sc.Name] = true
	}
	// A client or resource the file does not manage keeps its scopes: the
	// server would refuse their removal halfway through the plan.
	usedBy := map[string][]string{}
	unmanaged := p.st.foreign
	if p.f.Clients == nil {
		unmanaged = append(slices.Clone(p.st.clients), unmanaged...)
	}
	for _, c := range unmanaged {
		for _, sc := range c.AllScopes() {
			usedBy[sc] = append(usedBy[sc], "client "+c.Name)
		}
	}
	if p.f.Resources == nil {
		for _, r := range p.st.resources {
			for _, sc := range r.Scopes {
				usedBy[sc] = append(usedBy[sc], "resource "+r.Identifier)
			}
		}
	}
	for _, sc := range p.st.scopes {
		if keep[sc.Name] {
			continue
		}
		if users := usedBy[sc.Name]; len(users) > 0 {
			p.problem("scope %q cannot be pruned: %s still names it, and this file has no section to change that", sc.Name, strings.Join(users, ", "))
			continue
		}
		p.add("delete "+p.name("scope", sc.Name), adminclient.Request{Method: http.MethodDelete, Path: p.s.scopePath(sc.Name)}, nil)
	}
}

// export writes the realm as a realm file: every section, so that an
// apply with --prune of the file reproduces exactly this realm.
func (st *realmState) export(realm string) (realmFile, error) {
	settings := exportSettings(st.settings)
	f := realmFile{Realm: realm, Settings: &settings, Scopes: []fileScope{}, Resources: []fileResource{}, Nodes: []fileNode{}, Clients: []fileClient{}, Users: []fileUser{}}
	for _, sc := range st.scopes {
		f.Scopes = append(f.Scopes, fileScope{Name: sc.Name, Description: sc.Description})
	}
	for _, r := range st.resources {
		f.Resources = append(f.Resources, exportResource(r.Identifier, domain.ResourceSettings{Name: r.Name, Scopes: r.Scopes, AccessTokenLifetime: r.AccessTokenLifetime}))
	}
	for _, n := range st.nodes {
		fn := fileNode{Slug: n.Slug, Kind: n.Kind, Parent: n.Parent}
		if n.Name != n.Slug {
			fn.Name = n.Name
		}
		f.Nodes = append(f.Nodes, fn)
	}
	names := map[string]int{}
	for _, c := range st.clients {
		names[c.Name]++
		f.Clients = append(f.Clients, exportClient(c.ClientSettings, c.Status, st.settings.ClientDefaults))
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if names[name] > 1 {
			return f, fmt.Errorf("realm %s has %d clients named %q: a realm file names clients by name, so rename all but one first", realm, names[name], name)
		}
	}
	for _, u := range st.users {
		fu := fileUser{Username: u.Username, Email: u.Email, DisplayName: u.DisplayName, Memberships: u.Memberships}
		if u.Status == domain.StatusDisabled {
			fu.Status = u.Status
		}
		f.Users = append(f.Users, fu)
	}
	return f, nil
}

// secretLog collects the secrets of the clients apply creates: printed at
// the end, or written to --secrets-out, even when a later step fails (a
// secret is shown only once).
type secretLog struct {
	out     string
	secrets []newSecret
}

type newSecret struct {
	Realm        string `json:"realm"`
	Client       string `json:"client"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func (l *secretLog) add(realm string, c apiClient) {
	if c.ClientSecret == "" {
		return // a public client has none
	}
	l.secrets = append(l.secrets, newSecret{Realm: realm, Client: c.Name, ClientID: c.ClientID, ClientSecret: c.ClientSecret})
}

func (l *secretLog) flush(x *cliIO) error {
	if l.out == "" {
		for _, sec := range l.secrets {
			fmt.Fprint(x.stderr, secretWarning)
			fmt.Fprintf(x.stdout, "client %s/%s: client_id %s client_secret %s\n", sec.Realm, sec.Client, sec.ClientID, sec.ClientSecret)
		}
		return nil
	}
	if l.secrets == nil {
		l.secrets = []newSecret{}
	}
	raw, _ := json.MarshalIndent(l.secrets, "", "  ")
	if err := writePrivateFile(l.out, append(raw, '\n')); err != nil {
		return fmt.Errorf("writing the new client secrets to %s: %w", l.out, err)
	}
	fmt.Fprintf(x.stderr, "latchkey: %d new client secrets written to %s (mode 0600)\n", len(l.secrets), l.out)
	return nil
}

// writePrivateFile writes data to a file only its owner can read, made so
// before the data is in it.
func writePrivateFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func sameMemberships(a, b []domain.Membership) bool {
	key := func(ms []domain.Membership) []string {
		out := make([]string, 0, len(ms))
		for _, m := range ms {
			out = append(out, m.Node+"="+m.Role)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

func changes(n int) string {
	if n == 1 {
		return "1 change"
	}
	return strconv.Itoa(n) + " changes"
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
