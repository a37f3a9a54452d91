package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/adminclient"
	"github.com/latchkeyhq/latchkey/domain"
)

// apiClient is a client as the admin API shows it.
type apiClient struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	domain.ClientSettings
	Status                  string           `json:"status"`
	Source                  string           `json:"source"`
	PreviousSecretExpiresAt int64            `json:"previous_secret_expires_at"`
	LastUsedAt              int64            `json:"last_used_at"`
	Warnings                []domain.Warning `json:"warnings"`
	Version                 uint64           `json:"version"`
}

// settingKind is how a setting is written on the command line.
type settingKind int

const (
	textSetting    settingKind = iota
	listSetting                // repeat the flag, or separate with commas; "" is the empty list
	secondsSetting             // a duration (90s, 1h) or seconds
	boolSetting
	rolesSetting // node=role (or node/role), repeated
)

// clientSettingFlags are the client settings `client create` and `client
// update` take, by their admin API names.
var clientSettingFlags = []struct {
	flag, json string
	kind       settingKind
	usage      string
}{
	{"name", "name", textSetting, "display name, shown at consent (required at creation)"},
	{"description", "description", textSetting, "description"},
	{"type", "type", textSetting, "confidential (default) or public; never changes"},
	{"kind", "kind", textSetting, "service or user_app"},
	{"grant-type", "grant_types", listSetting, "client_credentials, authorization_code, refresh_token, urn:ietf:params:oauth:grant-type:device_code"},
	{"auth-method", "token_endpoint_auth_method", textSetting, "client_secret_basic, client_secret_post or none"},
	{"scope", "scopes", listSetting, "default scopes: a request naming nothing or only openid gets them all"},
	{"optional-scope", "optional_scopes", listSetting, "scopes granted only when a request names them"},
	{"access-preset", "access_preset", textSetting, "read_only or full"},
	{"team-selection", "team_selection", textSetting, "single or multiple (at consent)"},
	{"team-restriction", "team_restrictions", listSetting, "organizations or teams the client is restricted to"},
	{"owner-node", "owner_node", textSetting, "node that owns the client"},
	{"role", "roles", rolesSetting, "node=role (viewer, editor or admin), for service clients"},
	{"redirect-uri", "redirect_uris", listSetting, "exact redirect URIs"},
	{"post-logout-redirect-uri", "post_logout_redirect_uris", listSetting, "post-logout redirect URIs"},
	{"access-token-lifetime", "access_token_lifetime", secondsSetting, "1m to 24h (default 1h)"},
	{"refresh-tokens", "issue_refresh_tokens", boolSetting, "issue refresh tokens"},
	{"refresh-token-lifetime", "refresh_token_lifetime", secondsSetting, "up to 8760h (default 168h)"},
	{"refresh-reuse-grace", "refresh_reuse_grace", secondsSetting, "0 to 60s"},
	{"id-token-alg", "id_token_signed_response_alg", textSetting, "RS256 (default) or ES256"},
	{"dpop-bound", "dpop_bound_access_tokens", boolSetting, "every token request must carry a DPoP proof (RFC 9449)"},
	{"require-par", "require_pushed_authorization_requests", boolSetting, "authorization requests must be pushed first (RFC 9126)"},
}

// bodyValue is a flag that writes its value into a JSON body.
type bodyValue struct {
	body map[string]any
	key  string
	kind settingKind
}

func (v *bodyValue) String() string   { return "" }
func (v *bodyValue) IsBoolFlag() bool { return v.kind == boolSetting }

func (v *bodyValue) Set(s string) error {
	switch v.kind {
	case textSetting:
		v.body[v.key] = s
	case boolSetting:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("want true or false")
		}
		v.body[v.key] = b
	case secondsSetting:
		n, err := parseSeconds(s)
		if err != nil {
			return err
		}
		v.body[v.key] = n
	case listSetting:
		items, _ := v.body[v.key].([]string)
		if items == nil {
			items = []string{}
		}
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				items = append(items, part)
			}
		}
		v.body[v.key] = items
	case rolesSetting:
		roles, _ := v.body[v.key].([]domain.Membership)
		m, err := parseMembership(s)
		if err != nil {
			return err
		}
		v.body[v.key] = append(roles, m)
	}
	return nil
}

// parseSeconds reads a duration (90s, 1h) or a number of seconds.
func parseSeconds(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d%time.Second != 0 {
		return 0, errors.New("want a duration in whole seconds, like 90s or 1h, or a number of seconds")
	}
	return int64(d / time.Second), nil
}

// parseMembership reads node=role (or SeaCat Auth's node/role).
func parseMembership(s string) (domain.Membership, error) {
	node, role, ok := strings.Cut(s, "=")
	if !ok {
		node, role, ok = strings.Cut(s, "/")
	}
	if !ok || node == "" || role == "" {
		return domain.Membership{}, fmt.Errorf("want node=role, like eng=admin, not %q", s)
	}
	return domain.Membership{Node: node, Role: role}, nil
}

// settingFlags adds the client settings to fs; what is given lands in body.
func settingFlags(fs *flag.FlagSet, body map[string]any) {
	for _, f := range clientSettingFlags {
		fs.Var(&bodyValue{body: body, key: f.json, kind: f.kind}, f.flag, f.usage)
	}
}

// ifMatch adds --if-match, which makes a change conditional on the
// client's version.
func ifMatch(fs *flag.FlagSet) func() (http.Header, error) {
	v := fs.Uint64("if-match", 0, "change only if the client is still at this version (else HTTP 412)")
	return func() (http.Header, error) {
		if !has(fs, "if-match") {
			return nil, nil
		}
		if *v == 0 {
			return nil, usageError(errors.New("--if-match takes a client's version, a positive number"))
		}
		return http.Header{"If-Match": {strconv.Quote(strconv.FormatUint(*v, 10))}}, nil
	}
}

func init() {
	registerGroup(verbGroup{name: "client", summary: "OAuth clients of a realm.", verbs: []verb{
		{name: "client create",
			summary: "Create a client; a confidential client's secret is printed this once.",
			example: "latchkey client create --realm acme --name backend --grant-type client_credentials --scope read,write\n" +
				"latchkey client create --name web --kind user_app --redirect-uri https://app.example.com/cb --refresh-tokens",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				body := map[string]any{}
				settingFlags(fs, body)
				confirm := fs.Bool("confirm-high-risk", false, "confirm full access with access tokens over an hour")
				return func(ctx context.Context, _ []string) error {
					if *confirm {
						body["confirm_high_risk"] = true
					}
					resp, err := s.call(ctx, "create the client", adminclient.Request{Method: http.MethodPost, Path: s.realmPath("/clients"), Body: body})
					if err != nil {
						return err
					}
					return s.showClient(resp)
				}
			}},
		{name: "client list",
			summary: "List clients in creation order, every page.",
			example: "latchkey client list --realm acme --scope read --status enabled\nlatchkey client list -o json | jq -r '.[].client_id'",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				q := url.Values{}
				for _, f := range []struct{ name, usage string }{
					{"q", "part of the name, any case"}, {"scope", "holding this scope"}, {"status", "enabled or disabled"},
					{"kind", "service or user_app"}, {"preset", "read_only or full"},
					{"team-restriction", "restricted to this organization or team (or one above it); * for the unrestricted"},
				} {
					fs.Func(f.name, f.usage, func(v string) error { q.Set(strings.ReplaceAll(f.name, "-", "_"), v); return nil })
				}
				return func(ctx context.Context, _ []string) error {
					items, err := s.allPages(ctx, "list clients", s.realmPath("/clients"), q, "clients", "next_cursor")
					if err != nil {
						return err
					}
					if s.json {
						return printJSONList(s.io.stdout, items)
					}
					t := newTable(s.io.stdout, "CLIENT_ID", "NAME", "KIND", "TYPE", "STATUS", "SCOPES")
					for _, raw := range items {
						var c apiClient
						_ = json.Unmarshal(raw, &c)
						t.row(c.ClientID, c.Name, c.Kind, c.Type, c.Status, list(c.Scopes))
					}
					return t.flush()
				}
			}},
		{name: "client get", args: "ID", nargs: 1,
			summary: "Show one client (never its secret).",
			example: "latchkey client get 3f9c0c4e-2b1a-4e8e-9d55-0f6b8f1f2a11 --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, args []string) error {
					resp, err := s.call(ctx, "read client "+args[0], adminclient.Request{Method: http.MethodGet, Path: s.clientPath(args[0], "")})
					if err != nil {
						return err
					}
					return s.showClient(resp)
				}
			}},
		{name: "client update", args: "ID", nargs: 1,
			summary: "Change the settings given (a JSON merge patch); the others stay as they are.",
			example: "latchkey client update 3f9c… --scope read --access-token-lifetime 15m\nlatchkey client update 3f9c… --reset owner_node --if-match 42",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				body := map[string]any{}
				settingFlags(fs, body)
				confirm := fs.Bool("confirm-high-risk", false, "confirm full access with access tokens over an hour")
				fs.Func("reset", "a setting (by its JSON name) to set back to its default; repeatable", func(v string) error {
					body[v] = nil
					return nil
				})
				header := ifMatch(fs)
				return func(ctx context.Context, args []string) error {
					h, err := header()
					if err != nil {
						return err
					}
					if len(body) == 0 {
						return usageError(errors.New("client update: give the settings to change (see latchkey client update -h)"))
					}
					if *confirm {
						body["confirm_high_risk"] = true
					}
					h = setHeader(h, "Content-Type", "application/merge-patch+json")
					resp, err := s.call(ctx, "update client "+args[0], adminclient.Request{Method: http.MethodPatch, Path: s.clientPath(args[0], ""), Body: body, Header: h})
					if err != nil {
						return err
					}
					return s.showClient(resp)
				}
			}},
		{name: "client rotate-secret", args: "ID", nargs: 1,
			summary: "Give a confidential client a new secret, printed this once; tokens already issued keep working.",
			example: "latchkey client rotate-secret 3f9c… --overlap 1h   # the old secret works one more hour",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				overlap := fs.Duration("overlap", 0, "how long the old secret stays valid (at most 168h)")
				header := ifMatch(fs)
				return func(ctx context.Context, args []string) error {
					h, err := header()
					if err != nil {
						return err
					}
					if *overlap < 0 || *overlap%time.Second != 0 {
						return usageError(errors.New("--overlap must be whole seconds, 0 or more"))
					}
					body := map[string]int64{"previous_secret_expires_in": int64(*overlap / time.Second)}
					resp, err := s.call(ctx, "rotate the secret of client "+args[0], adminclient.Request{Method: http.MethodPost, Path: s.clientPath(args[0], "/rotate-secret"), Body: body, Header: h})
					if err != nil {
						return err
					}
					return s.showClient(resp)
				}
			}},
		clientAction("disable", "Disable a client: it gets no token, and every token it holds is revoked at once.", "/disable"),
		clientAction("enable", "Enable a client (the tokens revoked when it was disabled stay revoked).", "/enable"),
		{name: "client delete", args: "ID", nargs: 1,
			summary: "Delete a client for good: its tokens are revoked and its id is never used again.",
			example: "latchkey client delete 3f9c… --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				header := ifMatch(fs)
				return func(ctx context.Context, args []string) error {
					h, err := header()
					if err != nil {
						return err
					}
					if _, err := s.call(ctx, "delete client "+args[0], adminclient.Request{Method: http.MethodDelete, Path: s.clientPath(args[0], ""), Header: h}); err != nil {
						return err
					}
					fmt.Fprintf(s.io.stdout, "Deleted client %s of realm %s.\n", args[0], s.realm)
					return nil
				}
			}},
	}})
}

// clientAction is a POST on a client that answers with the client.
func clientAction(name, summary, suffix string) verb {
	return verb{name: "client " + name, args: "ID", nargs: 1, summary: summary,
		example: "latchkey client " + name + " 3f9c0c4e-2b1a-4e8e-9d55-0f6b8f1f2a11 --realm acme",
		define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
			header := ifMatch(fs)
			return func(ctx context.Context, args []string) error {
				h, err := header()
				if err != nil {
					return err
				}
				resp, err := s.call(ctx, name+" client "+args[0], adminclient.Request{Method: http.MethodPost, Path: s.clientPath(args[0], suffix), Header: h})
				if err != nil {
					return err
				}
				return s.showClient(resp)
			}
		}}
}

func (s *session) clientPath(id, suffix string) string {
	return s.realmPath("/clients/" + url.PathEscape(id) + suffix)
}

func setHeader(h http.Header, name, value string) http.Header {
	if h == nil {
		h = http.Header{}
	}
	h.Set(name, value)
	return h
}

// showClient prints a client; a secret in it comes with a warning.
func (s *session) showClient(resp *adminclient.Response) error {
	var c apiClient
	if err := resp.Decode(&c); err != nil {
		return err
	}
	if c.ClientSecret != "" {
		fmt.Fprint(s.io.stderr, secretWarning)
	}
	if s.json {
		return printJSON(s.io.stdout, resp.Body)
	}
	roles := make([]string, 0, len(c.Roles))
	for _, r := range c.Roles {
		roles = append(roles, r.Node+"="+r.Role)
	}
	pairs := []string{
		"client_id", c.ClientID, "name", c.Name, "description", c.Description, "type", c.Type, "kind", c.Kind,
		"status", c.Status, "grant_types", list(c.GrantTypes), "token_endpoint_auth_method", c.TokenEndpointAuthMethod,
		"scopes", list(c.Scopes), "optional_scopes", list(c.OptionalScopes), "access_preset", c.AccessPreset, "team_selection", c.TeamSelection,
		"team_restrictions", list(c.TeamRestrictions), "owner_node", c.OwnerNode, "roles", list(roles),
		"redirect_uris", list(c.RedirectURIs), "post_logout_redirect_uris", list(c.PostLogoutRedirectURIs),
		"access_token_lifetime", num(c.AccessTokenLifetime), "issue_refresh_tokens", strconv.FormatBool(c.IssueRefreshTokens),
		"refresh_token_lifetime", num(c.RefreshTokenLifetime), "refresh_reuse_grace", num(c.RefreshReuseGrace),
		"id_token_signed_response_alg", c.IDTokenAlg, "version", strconv.FormatUint(c.Version, 10),
	}
	if c.LastUsedAt != 0 {
		pairs = append(pairs, "last_used_at", unixTime(c.LastUsedAt))
	}
	if c.PreviousSecretExpiresAt != 0 {
		pairs = append(pairs, "previous_secret_expires_at", unixTime(c.PreviousSecretExpiresAt))
	}
	for _, w := range c.Warnings {
		pairs = append(pairs, "warning ("+w.Level+")", w.Message)
	}
	if c.ClientSecret != "" {
		pairs = append(pairs, "client_secret", c.ClientSecret)
	}
	return fields(s.io.stdout, pairs...)
}

// allPages reads every page of a list: items under key, the next page's
// cursor under cursorKey.
func (s *session) allPages(ctx context.Context, what, path string, q url.Values, key, cursorKey string) ([]json.RawMessage, error) {
	q = cloneValues(q)
	q.Set("limit", "1000")
	var items []json.RawMessage
	for {
		resp, err := s.call(ctx, what, adminclient.Request{Method: http.MethodGet, Path: path + "?" + q.Encode()})
		if err != nil {
			return nil, err
		}
		var page map[string]json.RawMessage
		if err := resp.Decode(&page); err != nil {
			return nil, err
		}
		var batch []json.RawMessage
		if err := json.Unmarshal(page[key], &batch); err != nil {
			return nil, fmt.Errorf("the server's answer has no %s list: %w", key, err)
		}
		items = append(items, batch...)
		var next string
		_ = json.Unmarshal(page[cursorKey], &next)
		if next == "" {
			return items, nil
		}
		q.Set("cursor", next)
	}
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}
