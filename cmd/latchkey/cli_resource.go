package main

// Verbs for MCP servers and AI agents: protected resources (RFC 8707), the
// realm's client registration policy (metadata documents, dynamic
// registration) and initial access tokens.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/adminclient"
	"github.com/latchkeyhq/latchkey/domain"
)

// apiResource is a resource as the admin API shows it.
type apiResource struct {
	ID                  string   `json:"id"`
	Identifier          string   `json:"identifier"`
	Name                string   `json:"name"`
	Scopes              []string `json:"scopes"`
	AccessTokenLifetime int64    `json:"access_token_lifetime"`
	Version             uint64   `json:"version"`
}

// apiInitialToken is an initial access token as the admin API shows it.
type apiInitialToken struct {
	ID          string `json:"id"`
	Token       string `json:"token"`
	Description string `json:"description"`
	ExpiresAt   int64  `json:"expires_at"`
	MaxUses     int    `json:"max_uses"`
	Uses        int    `json:"uses"`
	Status      string `json:"status"`
}

// splitList reads "a,b" (and repeated flags) into a list.
func splitList(values []string) []string {
	out := []string{}
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func init() {
	registerGroup(verbGroup{name: "resource", summary: "Protected resources (APIs, MCP servers) tokens are minted for (RFC 8707).", verbs: []verb{
		{name: "resource create",
			summary: "Register a resource: tokens asked for with resource=IDENTIFIER carry it as aud, its scopes only, at most its lifetime.",
			example: "latchkey resource create --realm acme --identifier https://mcp.example.com/mcp --name 'Example tools' --scope mcp:tools --access-token-lifetime 10m",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				identifier := fs.String("identifier", "", "the resource's URL: https (http only on loopback), no fragment (required)")
				name := fs.String("name", "", "shown at consent (required)")
				var scopes repeated
				fs.Var(&scopes, "scope", "catalog scopes it accepts, comma-separated or repeated")
				lifetime := fs.String("access-token-lifetime", "", "cap of its tokens' lifetime: seconds or a duration (default 1h)")
				return func(ctx context.Context, _ []string) error {
					if *identifier == "" || *name == "" {
						return usageError(errors.New("resource create: --identifier and --name are required"))
					}
					body := map[string]any{"identifier": *identifier, "name": *name, "scopes": splitList(scopes)}
					if *lifetime != "" {
						n, err := parseSeconds(*lifetime)
						if err != nil {
							return usageError(err)
						}
						body["access_token_lifetime"] = n
					}
					resp, err := s.call(ctx, "create resource "+*identifier, adminclient.Request{Method: http.MethodPost, Path: s.realmPath("/resources"), Body: body})
					if err != nil {
						return err
					}
					return s.showResource(resp)
				}
			}},
		{name: "resource list",
			summary: "List the realm's resources.",
			example: "latchkey resource list --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, _ []string) error {
					items, err := s.onePage(ctx, "list resources", s.realmPath("/resources"), "resources")
					if err != nil {
						return err
					}
					return printList(s, items, []string{"ID", "IDENTIFIER", "NAME", "SCOPES", "LIFETIME"}, func(r apiResource) []string {
						return []string{r.ID, r.Identifier, r.Name, list(r.Scopes), fmt.Sprint(r.AccessTokenLifetime)}
					})
				}
			}},
		{name: "resource delete", args: "ID", nargs: 1,
			summary: "Delete a resource: no token is minted for it any more.",
			example: "latchkey resource delete 6c1f… --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, args []string) error {
					_, err := s.call(ctx, "delete resource "+args[0], adminclient.Request{Method: http.MethodDelete, Path: s.realmPath("/resources/" + url.PathEscape(args[0]))})
					return err
				}
			}},
	}})
	registerGroup(verbGroup{name: "registration", summary: "Clients met without an administrator: metadata documents and dynamic registration.", verbs: []verb{
		{name: "registration get",
			summary: "Show the realm's client registration policy.",
			example: "latchkey registration get --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, _ []string) error {
					resp, err := s.call(ctx, "read the client registration policy", adminclient.Request{Method: http.MethodGet, Path: s.realmPath("/client-registration")})
					if err != nil {
						return err
					}
					return s.showRegistration(resp)
				}
			}},
		{name: "registration set",
			summary: "Set the policy: what is not given is off.",
			example: "latchkey registration set --realm acme --cimd --cimd-host claude.ai --cimd-host '*.example.com'\nlatchkey registration set --realm acme --dynamic --open",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				cimd := fs.Bool("cimd", false, "admit clients whose client_id is the https URL of their metadata document")
				var hosts repeated
				fs.Var(&hosts, "cimd-host", "host (or *.domain) whose documents are admitted; repeatable; none admits any public host")
				dynamic := fs.Bool("dynamic", false, "admit RFC 7591 registration with an initial access token")
				open := fs.Bool("open", false, "with --dynamic: public clients may register without an initial access token")
				return func(ctx context.Context, _ []string) error {
					body := domain.ClientRegistration{
						CIMD:    domain.CIMDPolicy{Enabled: *cimd, AllowedHosts: splitList(hosts)},
						Dynamic: domain.DynamicRegistation{Enabled: *dynamic, Open: *open},
					}
					resp, err := s.call(ctx, "set the client registration policy", adminclient.Request{Method: http.MethodPut, Path: s.realmPath("/client-registration"), Body: body})
					if err != nil {
						return err
					}
					return s.showRegistration(resp)
				}
			}},
	}})
	registerGroup(verbGroup{name: "initial-token", summary: "Initial access tokens for dynamic client registration (RFC 7591).", verbs: []verb{
		{name: "initial-token create",
			summary: "Issue an initial access token; it is shown this once.",
			example: "latchkey initial-token create --realm acme --max-uses 10 --expires-in 168h --description 'CI agents'",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				uses := fs.Int("max-uses", 1, "registrations it allows")
				expires := fs.String("expires-in", "24h", "lifetime: seconds or a duration (at most 90 days)")
				desc := fs.String("description", "", "what it is for")
				return func(ctx context.Context, _ []string) error {
					secs, err := parseSeconds(*expires)
					if err != nil {
						return usageError(err)
					}
					body := map[string]any{"max_uses": *uses, "expires_in": secs, "description": *desc}
					resp, err := s.call(ctx, "create an initial access token", adminclient.Request{Method: http.MethodPost, Path: s.realmPath("/initial-access-tokens"), Body: body})
					if err != nil {
						return err
					}
					fmt.Fprint(s.io.stderr, "latchkey: the initial access token is shown this once; the server keeps only its hash. Store it now.\n")
					if s.json {
						return printJSON(s.io.stdout, resp.Body)
					}
					var it apiInitialToken
					if err := resp.Decode(&it); err != nil {
						return err
					}
					return fields(s.io.stdout, "id", it.ID, "max_uses", fmt.Sprint(it.MaxUses), "expires_at", unixTime(it.ExpiresAt), "token", it.Token)
				}
			}},
		{name: "initial-token list",
			summary: "List initial access tokens (never the tokens themselves).",
			example: "latchkey initial-token list --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, _ []string) error {
					items, err := s.onePage(ctx, "list initial access tokens", s.realmPath("/initial-access-tokens"), "initial_access_tokens")
					if err != nil {
						return err
					}
					return printList(s, items, []string{"ID", "STATUS", "USES", "EXPIRES", "DESCRIPTION"}, func(it apiInitialToken) []string {
						return []string{it.ID, it.Status, fmt.Sprintf("%d/%d", it.Uses, it.MaxUses), unixTime(it.ExpiresAt), it.Description}
					})
				}
			}},
		{name: "initial-token revoke", args: "ID", nargs: 1,
			summary: "Revoke an initial access token.",
			example: "latchkey initial-token revoke 0f3a… --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, args []string) error {
					_, err := s.call(ctx, "revoke initial access token "+args[0], adminclient.Request{Method: http.MethodDelete, Path: s.realmPath("/initial-access-tokens/" + url.PathEscape(args[0]))})
					return err
				}
			}},
	}})
}

func (s *session) showResource(resp *adminclient.Response) error {
	if s.json {
		return printJSON(s.io.stdout, resp.Body)
	}
	var r apiResource
	if err := resp.Decode(&r); err != nil {
		return err
	}
	return fields(s.io.stdout, "id", r.ID, "identifier", r.Identifier, "name", r.Name, "scopes", list(r.Scopes),
		"access_token_lifetime", fmt.Sprint(r.AccessTokenLifetime))
}

func (s *session) showRegistration(resp *adminclient.Response) error {
	if s.json {
		return printJSON(s.io.stdout, resp.Body)
	}
	var p domain.ClientRegistration
	if err := resp.Decode(&p); err != nil {
		return err
	}
	return fields(s.io.stdout, "metadata_documents", fmt.Sprint(p.CIMD.Enabled), "allowed_hosts", list(p.CIMD.AllowedHosts),
		"dynamic_registration", fmt.Sprint(p.Dynamic.Enabled), "open_registration", fmt.Sprint(p.Dynamic.Open))
}
