package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/adminclient"
	"github.com/latchkeyhq/latchkey/domain"
)

// apiRealm is a realm as the admin API shows it.
type apiRealm struct {
	Name     string                `json:"name"`
	Issuer   string                `json:"issuer"`
	Keys     []apiKey              `json:"keys"`
	Settings *domain.RealmSettings `json:"settings"`
}

type apiKey struct {
	Kid         string `json:"kid"`
	Alg         string `json:"alg"`
	Active      bool   `json:"active"`
	VerifyUntil int64  `json:"verify_until"`
}

func init() {
	registerGroup(verbGroup{name: "realm", summary: "Realms: each has its own issuer, keys, clients and users.", verbs: []verb{
		{name: "realm create", args: "NAME", nargs: 1, noRealm: true,
			summary: "Create a realm (a login to realm master only).",
			example: "latchkey realm create acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, args []string) error {
					resp, err := s.call(ctx, "create realm "+args[0], adminclient.Request{Method: http.MethodPost, Path: "/admin/realms", Body: map[string]string{"name": args[0]}})
					if err != nil {
						return err
					}
					return s.showRealm(resp)
				}
			}},
		{name: "realm list", noRealm: true,
			summary: "List the realms the login may administer.",
			example: "latchkey realm list\nlatchkey realm list -o json | jq -r '.[].name'",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, _ []string) error {
					items, err := s.onePage(ctx, "list realms", "/admin/realms", "realms")
					if err != nil {
						return err
					}
					return printList(s, items, []string{"NAME", "ISSUER"}, func(rl apiRealm) []string {
						return []string{rl.Name, rl.Issuer}
					})
				}
			}},
		{name: "realm set", args: "NAME", nargs: 1, noRealm: true,
			summary: "Change a realm's settings: only the flags given change (a merge patch).",
			example: "latchkey realm set acme --compat seacat,corral --host id.acme.example\nlatchkey realm set acme --client-credentials-token-lifetime 3m --client-refresh-tokens\nlatchkey realm set acme --compat ''",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				body, defaults := map[string]any{}, map[string]any{}
				fs.Var(&bodyValue{body: body, key: "compat", kind: listSetting}, "compat", "compatibility profiles: coralogix, corral, seacat, keycloak ('' for none)")
				fs.Var(&bodyValue{body: body, key: "hosts", kind: listSetting}, "host", "host names the realm claims; the first is its issuer ('' for none)")
				for _, f := range realmDefaultFlags {
					fs.Var(&bodyValue{body: defaults, key: f.json, kind: f.kind}, f.flag, f.usage)
				}
				return func(ctx context.Context, args []string) error {
					if len(defaults) > 0 {
						body["client_defaults"] = defaults
					}
					if len(body) == 0 {
						return usageError(fmt.Errorf("realm set: give at least one setting"))
					}
					resp, err := s.call(ctx, "change the settings of realm "+args[0], adminclient.Request{
						Method: http.MethodPatch, Path: "/admin/realms/" + url.PathEscape(args[0]) + "/settings", Body: body})
					if err != nil {
						return err
					}
					return s.showRealm(resp)
				}
			}},
		{name: "realm get", args: "NAME", nargs: 1, noRealm: true,
			summary: "Show a realm: issuer, signing keys and settings.",
			example: "latchkey realm get acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, args []string) error {
					resp, err := s.call(ctx, "read realm "+args[0], adminclient.Request{Method: http.MethodGet, Path: "/admin/realms/" + url.PathEscape(args[0])})
					if err != nil {
						return err
					}
					return s.showRealm(resp)
				}
			}},
	}})
	registerGroup(verbGroup{name: "keys", summary: "A realm's signing keys.", verbs: []verb{
		{name: "keys rotate",
			summary: "Make new active signing keys; the old ones stay in the JWKS until every token they signed has expired.",
			example: "latchkey keys rotate --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, _ []string) error {
					resp, err := s.call(ctx, "rotate the keys of realm "+s.realm, adminclient.Request{Method: http.MethodPost, Path: s.realmPath("/keys/rotate")})
					if err != nil {
						return err
					}
					return s.showRealm(resp)
				}
			}},
	}})
}

// realmDefaultFlags are the realm's client defaults `realm set` takes.
var realmDefaultFlags = []struct {
	flag, json string
	kind       settingKind
	usage      string
}{
	{"client-access-token-lifetime", "access_token_lifetime", secondsSetting, "new clients' access-token lifetime (0: 1h)"},
	{"client-credentials-token-lifetime", "client_credentials_token_lifetime", secondsSetting, "new clients' lifetime with client credentials (SeaCat 3m, Keycloak 5m)"},
	{"client-refresh-tokens", "issue_refresh_tokens", boolSetting, "refresh tokens on for new clients with the code grant"},
	{"client-refresh-token-lifetime", "refresh_token_lifetime", secondsSetting, "new clients' refresh-token lifetime (0: 168h)"},
	{"client-access-preset", "access_preset", textSetting, "new clients' preset: read_only or full ('' for Latchkey's)"},
}

// showRealm prints a realm with its keys and settings.
func (s *session) showRealm(resp *adminclient.Response) error {
	if s.json {
		return printJSON(s.io.stdout, resp.Body)
	}
	var rl apiRealm
	if err := resp.Decode(&rl); err != nil {
		return err
	}
	pairs := []string{"name", rl.Name, "issuer", rl.Issuer}
	if st := rl.Settings; st != nil {
		pairs = append(pairs,
			"checkpoint_every", fmt.Sprint(st.CheckpointEvery),
			"checkpoint_interval", fmt.Sprint(st.CheckpointInterval),
			"token_retention", fmt.Sprint(st.TokenRetention),
			"compat", list(st.Compat), "hosts", list(st.Hosts))
		if d := st.ClientDefaults; d != (domain.ClientDefaults{}) {
			pairs = append(pairs,
				"client_defaults", fmt.Sprintf("access_token_lifetime=%d client_credentials_token_lifetime=%d issue_refresh_tokens=%v refresh_token_lifetime=%d access_preset=%s",
					d.AccessTokenLifetime, d.ClientCredentialsTokenLifetime, d.IssueRefreshTokens, d.RefreshTokenLifetime, d.AccessPreset))
		}
	}
	if err := fields(s.io.stdout, pairs...); err != nil {
		return err
	}
	if len(rl.Keys) == 0 {
		return nil
	}
	fmt.Fprintln(s.io.stdout)
	t := newTable(s.io.stdout, "KID", "ALG", "ACTIVE", "VERIFY UNTIL")
	for _, k := range rl.Keys {
		t.row(k.Kid, k.Alg, fmt.Sprint(k.Active), unixTime(k.VerifyUntil))
	}
	return t.flush()
}
