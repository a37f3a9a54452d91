package main

// Verbs on a realm's structure: its tree of nodes and its scope catalog.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/adminclient"
	"github.com/latchkeyhq/latchkey/domain"
)

// apiNode is a node as the admin API shows it.
type apiNode struct {
	Slug    string `json:"slug"`
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Parent  string `json:"parent"`
	Version uint64 `json:"version"`
}

func init() {
	registerGroup(verbGroup{name: "node", summary: "A realm's tree: organizations hold teams, projects hold apps.", verbs: []verb{
		{name: "node create", args: "SLUG", nargs: 1,
			summary: "Add a node.",
			example: "latchkey node create acme-corp --kind organization --name 'Acme Corp'\nlatchkey node create eng --kind team --parent acme-corp",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				kind := fs.String("kind", "", "organization, team, project or app (required)")
				name := fs.String("name", "", "display name (default: the slug)")
				parent := fs.String("parent", "", "the organization of a team, the project of an app")
				return func(ctx context.Context, args []string) error {
					if *kind == "" {
						return usageError(errors.New("node create: --kind is required"))
					}
					body := domain.CreateNode{Slug: args[0], Name: *name, Kind: *kind, Parent: *parent}
					resp, err := s.call(ctx, "create node "+args[0], adminclient.Request{Method: http.MethodPost, Path: s.realmPath("/nodes"), Body: body})
					if err != nil {
						return err
					}
					return s.showNode(resp)
				}
			}},
		{name: "node list",
			summary: "List the tree, roots first.",
			example: "latchkey node list --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, _ []string) error {
					items, err := s.onePage(ctx, "list nodes", s.realmPath("/nodes"), "nodes")
					if err != nil {
						return err
					}
					return printList(s, items, []string{"SLUG", "NAME", "KIND", "PARENT"}, func(n apiNode) []string {
						return []string{n.Slug, n.Name, n.Kind, n.Parent}
					})
				}
			}},
		{name: "node get", args: "SLUG", nargs: 1,
			summary: "Show one node.",
			example: "latchkey node get eng --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, args []string) error {
					resp, err := s.call(ctx, "read node "+args[0], adminclient.Request{Method: http.MethodGet, Path: s.nodePath(args[0], "")})
					if err != nil {
						return err
					}
					return s.showNode(resp)
				}
			}},
		{name: "node rename", args: "SLUG", nargs: 1,
			summary: "Give a node another display name (its slug never changes).",
			example: "latchkey node rename eng --name Engineering",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				name := fs.String("name", "", "the new display name (required)")
				return func(ctx context.Context, args []string) error {
					if *name == "" {
						return usageError(errors.New("node rename: --name is required"))
					}
					resp, err := s.call(ctx, "rename node "+args[0], adminclient.Request{Method: http.MethodPatch, Path: s.nodePath(args[0], ""), Body: map[string]string{"name": *name}})
					if err != nil {
						return err
					}
					return s.showNode(resp)
				}
			}},
		{name: "node delete", args: "SLUG", nargs: 1,
			summary: "Delete a node nothing refers to any more (no child node, client or user).",
			example: "latchkey node delete eng --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, args []string) error {
					if _, err := s.call(ctx, "delete node "+args[0], adminclient.Request{Method: http.MethodDelete, Path: s.nodePath(args[0], "")}); err != nil {
						return err
					}
					fmt.Fprintf(s.io.stdout, "Deleted node %s of realm %s.\n", args[0], s.realm)
					return nil
				}
			}},
		{name: "node credentials", args: "SLUG", nargs: 1,
			summary: "Create a service client owned by the node; its secret is printed this once.",
			example: "latchkey node credentials eng --scope consumer --name 'eng reporting'",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				scope := fs.String("scope", "", "management (admin on the node) or consumer (viewer) (required)")
				name := fs.String("name", "", "the client's name (default: \"<node> <scope> credentials\")")
				return func(ctx context.Context, args []string) error {
					if *scope == "" {
						return usageError(errors.New("node credentials: --scope management or --scope consumer is required"))
					}
					resp, err := s.call(ctx, "create credentials for node "+args[0], adminclient.Request{Method: http.MethodPost, Path: s.nodePath(args[0], "/client-credentials"),
						Body: map[string]string{"scope": *scope, "name": *name}})
					if err != nil {
						return err
					}
					return s.showClient(resp)
				}
			}},
	}})
	registerGroup(verbGroup{name: "scope", summary: "A realm's scope catalog: what clients may be given, described at consent.", verbs: []verb{
		{name: "scope list",
			summary: "List the catalog: built-in scopes, then the realm's.",
			example: "latchkey scope list --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, _ []string) error {
					scopes, raw, err := s.scopes(ctx)
					if err != nil {
						return err
					}
					if s.json {
						return printJSONList(s.io.stdout, raw)
					}
					t := newTable(s.io.stdout, "NAME", "BUILT-IN", "DESCRIPTION")
					for _, sc := range scopes {
						t.row(sc.Name, strconv.FormatBool(sc.BuiltIn), sc.Description)
					}
					return t.flush()
				}
			}},
		{name: "scope set", args: "NAME", nargs: 1,
			summary: "Define a scope, or change its description.",
			example: "latchkey scope set billing:read --description 'Read your invoices'",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				desc := fs.String("description", "", "one line shown at consent (required)")
				return func(ctx context.Context, args []string) error {
					if *desc == "" {
						return usageError(errors.New("scope set: --description is required (it is shown at consent)"))
					}
					resp, err := s.call(ctx, "set scope "+args[0], adminclient.Request{Method: http.MethodPut, Path: s.scopePath(args[0]), Body: map[string]string{"description": *desc}})
					if err != nil {
						return err
					}
					if s.json {
						return printJSON(s.io.stdout, resp.Body)
					}
					var sc domain.ScopeEntry
					if err := resp.Decode(&sc); err != nil {
						return err
					}
					return fields(s.io.stdout, "name", sc.Name, "description", sc.Description)
				}
			}},
		{name: "scope delete", args: "NAME", nargs: 1,
			summary: "Remove a scope of the realm's that no client holds.",
			example: "latchkey scope delete billing:read --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, args []string) error {
					if _, err := s.call(ctx, "delete scope "+args[0], adminclient.Request{Method: http.MethodDelete, Path: s.scopePath(args[0])}); err != nil {
						return err
					}
					fmt.Fprintf(s.io.stdout, "Removed scope %s from realm %s.\n", args[0], s.realm)
					return nil
				}
			}},
	}})
}

func (s *session) nodePath(slug, suffix string) string {
	return s.realmPath("/nodes/" + url.PathEscape(slug) + suffix)
}

func (s *session) scopePath(name string) string {
	return s.realmPath("/scopes/" + url.PathEscape(name))
}

// scopes reads the realm's catalog, decoded and as sent.
func (s *session) scopes(ctx context.Context) ([]domain.ScopeEntry, []json.RawMessage, error) {
	resp, err := s.call(ctx, "list the scopes of realm "+s.realm, adminclient.Request{Method: http.MethodGet, Path: s.realmPath("/scopes")})
	if err != nil {
		return nil, nil, err
	}
	var page struct {
		Scopes []json.RawMessage `json:"scopes"`
	}
	if err := resp.Decode(&page); err != nil {
		return nil, nil, err
	}
	out := make([]domain.ScopeEntry, 0, len(page.Scopes))
	for _, raw := range page.Scopes {
		var sc domain.ScopeEntry
		if err := json.Unmarshal(raw, &sc); err != nil {
			return nil, nil, err
		}
		out = append(out, sc)
	}
	return out, page.Scopes, nil
}

func (s *session) showNode(resp *adminclient.Response) error {
	if s.json {
		return printJSON(s.io.stdout, resp.Body)
	}
	var n apiNode
	if err := resp.Decode(&n); err != nil {
		return err
	}
	return fields(s.io.stdout, "slug", n.Slug, "name", n.Name, "kind", n.Kind, "parent", n.Parent, "version", strconv.FormatUint(n.Version, 10))
}
