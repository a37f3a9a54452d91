package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"golang.org/x/oauth2"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/adminclient"
	"github.com/latchkeyhq/latchkey/domain"
)

var loginVerb = verb{
	name: "login", noRealm: true, noOutput: true,
	summary: "Store a server URL and credentials in the user's configuration directory (mode 0600).\n" +
		"Either a realm-wide service client's: the secret is read from LATCHKEY_CLIENT_SECRET, from\n" +
		"stdin, or from a prompt that does not echo; never from the command line. Or, with --device, a\n" +
		"person's: sign in on the page shown (the device authorization grant, through a public client\n" +
		"of the realm with that grant and scope management); the refresh token is stored and renewed.\n" +
		"The login is checked with a token (scope management) before it is stored.",
	example: `latchkey login --url https://id.example.com                 # latchkey-admin of realm master
LATCHKEY_CLIENT_SECRET=… latchkey login --url https://id.example.com --realm acme --client-id 3f9c…
jq -r .client_secret data/bootstrap-admin.json | latchkey login --url http://127.0.0.1:8080
latchkey login --url https://id.example.com --realm acme --device --client-id 7b1e…   # a person`,
	define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
		server := fs.String("url", "", "server base URL, as --public-url (required)")
		realm := fs.String("realm", domain.MasterRealm, "realm of the client: master administers every realm")
		clientID := fs.String("client-id", "latchkey-admin", "the client's client_id (with --device: required)")
		device := fs.Bool("device", false, "sign in as a person, in a browser, through the device authorization grant")
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
			if *clientID == "" || (*device && !has(fs, "client-id")) {
				return usageError(errors.New("--client-id is required: with --device, a public client of the realm with the device grant and scope management"))
			}
			path, err := configPath(s.io)
			if err != nil {
				return err
			}
			cfg := &cliConfig{URL: base, Realm: *realm, ClientID: *clientID, path: path}
			if *device {
				cfg.Grant = grantDevice
				err = deviceLogin(ctx, s.io, cfg)
			} else {
				cfg.Grant = grantClientCredentials
				err = secretLogin(ctx, s.io, cfg)
			}
			if err != nil {
				return err
			}
			if err := cfg.save(); err != nil {
				return fmt.Errorf("storing the login in %s: %w", path, err)
			}
			as := "client " + *clientID
			if *device {
				as = "the user who signed in through client " + *clientID
			}
			fmt.Fprintf(s.io.stdout, "Logged in to %s as %s of realm %s; the login is in %s.\n", base, as, *realm, path)
			return nil
		}
	},
}

// secretLogin reads the service client's secret and checks it with a token.
func secretLogin(ctx context.Context, x *cliIO, cfg *cliConfig) error {
	secret, err := x.readSecret("LATCHKEY_CLIENT_SECRET", "Client secret of "+cfg.ClientID)
	if err != nil {
		return err
	}
	cfg.ClientSecret = secret
	tok, err := (&configTokens{cfg: cfg, io: x}).fetch(ctx)
	if err != nil {
		var auth *adminclient.AuthError
		if errors.As(err, &auth) {
			return fmt.Errorf("%s refused client %s of realm %s: %s; nothing was stored", cfg.URL, cfg.ClientID, cfg.Realm, auth.Description)
		}
		return fmt.Errorf("%w; nothing was stored", err)
	}
	cfg.AccessToken, cfg.Expiry = tok.AccessToken, tok.Expiry
	return nil
}

// deviceLogin signs a person in with the device authorization grant (RFC
// 8628): it shows where to enter the code, waits until they have answered
// (polling as the server's interval says) and keeps the tokens.
func deviceLogin(ctx context.Context, x *cliIO, cfg *cliConfig) error {
	conf := cfg.deviceConfig()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, x.httpClient())
	codes, err := conf.DeviceAuth(ctx)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" {
			return fmt.Errorf("%s refused client %s of realm %s for a device login: %s %s; nothing was stored", cfg.URL, cfg.ClientID, cfg.Realm, re.ErrorCode, re.ErrorDescription)
		}
		return fmt.Errorf("asking %s for a device code: %w; nothing was stored", cfg.URL, err)
	}
	fmt.Fprintf(x.stderr, "To sign in, open %s\nand enter the code %s\n", codes.VerificationURI, codes.UserCode)
	if codes.VerificationURIComplete != "" {
		fmt.Fprintf(x.stderr, "(or open %s and confirm the code)\n", codes.VerificationURIComplete)
	}
	fmt.Fprintf(x.stderr, "Waiting for you to sign in (until %s)…\n", codes.Expiry.Local().Format("15:04:05"))
	tok, err := conf.DeviceAccessToken(ctx, codes)
	if err != nil {
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && re.ErrorCode == "access_denied":
			return errors.New("the sign-in was denied; nothing was stored")
		case errors.As(err, &re) && re.ErrorCode == "expired_token", errors.Is(err, context.DeadlineExceeded):
			return errors.New("the code expired before the sign-in; nothing was stored")
		}
		return fmt.Errorf("waiting for the sign-in: %w; nothing was stored", err)
	}
	if !strings.Contains(" "+fmt.Sprint(tok.Extra("scope"))+" ", " "+domain.ScopeManagement+" ") {
		return fmt.Errorf("client %s of realm %s was not given scope management: it cannot use the admin API; nothing was stored", cfg.ClientID, cfg.Realm)
	}
	if tok.RefreshToken == "" {
		return fmt.Errorf("client %s of realm %s issues no refresh tokens, which a device login keeps (latchkey client update %s --realm %s --refresh-tokens --grant-type %s,refresh_token); nothing was stored",
			cfg.ClientID, cfg.Realm, cfg.ClientID, cfg.Realm, grantDevice)
	}
	cfg.AccessToken, cfg.Expiry, cfg.RefreshToken = tok.AccessToken, tok.Expiry, tok.RefreshToken
	return nil
}
