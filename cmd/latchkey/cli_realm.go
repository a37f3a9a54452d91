package main

import (
	"context"
	"encoding/json"
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
					resp, err := s.call(ctx, "list realms", adminclient.Request{Method: http.MethodGet, Path: "/admin/realms"})
					if err != nil {
						return err
					}
					var page struct {
						Realms []json.RawMessage `json:"realms"`
					}
					if err := resp.Decode(&page); err != nil {
						return err
					}
					if s.json {
						return printJSONList(s.io.stdout, page.Realms)
					}
					t := newTable(s.io.stdout, "NAME", "ISSUER")
					for _, raw := range page.Realms {
						var rl apiRealm
						_ = json.Unmarshal(raw, &rl)
						t.row(rl.Name, rl.Issuer)
					}
					return t.flush()
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
			"token_retention", fmt.Sprint(st.TokenRetention))
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
