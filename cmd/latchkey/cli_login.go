package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/adminclient"
	"github.com/latchkeyhq/latchkey/domain"
)

var loginVerb = verb{
	name: "login", noRealm: true, noOutput: true,
	summary: "Store a server URL and a realm-wide service client's credentials in the user's configuration\n" +
		"directory (mode 0600). The secret is read from LATCHKEY_CLIENT_SECRET, from stdin, or from a\n" +
		"prompt that does not echo; never from the command line. The login is checked with a token\n" +
		"(scope management) before it is stored.",
	example: `latchkey login --url https://id.example.com                 # latchkey-admin of realm master
LATCHKEY_CLIENT_SECRET=… latchkey login --url https://id.example.com --realm acme --client-id 3f9c…
jq -r .client_secret data/bootstrap-admin.json | latchkey login --url http://127.0.0.1:8080`,
	define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
		server := fs.String("url", "", "server base URL, as --public-url (required)")
		realm := fs.String("realm", domain.MasterRealm, "realm of the client: master administers every realm")
		clientID := fs.String("client-id", "latchkey-admin", "the service client's client_id")
		return func(ctx context.Context, _ []string) error {
			if *server == "" {
				return usageError(errors.New("--url is required: the server's base URL, like https://id.example.com"))
			}
			base, err := checkPublicURL(*server) // the URL the server was given as --public-url
			if err != nil {
				return usageError(fmt.Errorf("--url %q must be an http or https URL with no query, fragment or user info", *server))
			}
			if !domain.IsValidName(*realm) {
				return usageError(fmt.Errorf("--realm %q is not a realm name", *realm))
			}
			if *clientID == "" {
				return usageError(errors.New("--client-id is required"))
			}
			path, err := configPath(s.io)
			if err != nil {
				return err
			}
			secret, err := s.io.readSecret("LATCHKEY_CLIENT_SECRET", "Client secret of "+*clientID)
			if err != nil {
				return err
			}
			cfg := &cliConfig{URL: base, Realm: *realm, Grant: grantClientCredentials, ClientID: *clientID, ClientSecret: secret, path: path}
			tok, err := (&configTokens{cfg: cfg, io: s.io}).fetch(ctx)
			if err != nil {
				var auth *adminclient.AuthError
				if errors.As(err, &auth) {
					return fmt.Errorf("%s refused client %s of realm %s: %s; nothing was stored", base, *clientID, *realm, auth.Description)
				}
				return fmt.Errorf("%w; nothing was stored", err)
			}
			cfg.AccessToken, cfg.Expiry = tok.AccessToken, tok.Expiry
			if err := cfg.save(); err != nil {
				return fmt.Errorf("storing the login in %s: %w", path, err)
			}
			fmt.Fprintf(s.io.stdout, "Logged in to %s as client %s of realm %s; the login is in %s.\n", base, *clientID, *realm, path)
			return nil
		}
	},
}
