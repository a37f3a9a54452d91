package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/adminclient"
	"github.com/latchkeyhq/latchkey/domain"
)

// Grants a login may use to get admin tokens.
const (
	// grantClientCredentials: a realm-wide service client's id and secret.
	grantClientCredentials = "client_credentials"
	// grantDevice: a person signed in through a public client with the
	// device authorization grant (RFC 8628); the login holds the refresh
	// token, renewed (and so rotated) with every new access token.
	grantDevice = "urn:ietf:params:oauth:grant-type:device_code"
)

// cliConfig is what `latchkey login` stores: the server, the realm logged
// in to, the credentials and the last access token (so that a command
// does not write a token event each time it runs). It holds secrets:
// the file is 0600.
type cliConfig struct {
	URL          string    `json:"url"`
	Realm        string    `json:"realm"`
	Grant        string    `json:"grant"`
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	AccessToken  string    `json:"access_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`

	path string // where it was read from
}

// configPath is $LATCHKEY_CONFIG, or latchkey/config.json in the user's
// configuration directory ($XDG_CONFIG_HOME or ~/.config on Linux).
func configPath(x *cliIO) (string, error) {
	if p := x.getenv("LATCHKEY_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory (set LATCHKEY_CONFIG to a file): %w", err)
	}
	return filepath.Join(dir, "latchkey", "config.json"), nil
}

// errNotLoggedIn: no login is stored.
var errNotLoggedIn = errors.New("not logged in: run latchkey login --url URL first")

func loadConfig(x *cliIO) (*cliConfig, error) {
	path, err := configPath(x)
	if err != nil {
		return nil, err
	}
	return readConfig(path)
}

// readConfig reads the login stored at path.
func readConfig(path string) (*cliConfig, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotLoggedIn
	}
	if err != nil {
		return nil, err
	}
	cfg := &cliConfig{path: path}
	if err := json.Unmarshal(raw, cfg); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v): log in again", path, err)
	}
	if cfg.Grant != grantClientCredentials && cfg.Grant != grantDevice {
		return nil, fmt.Errorf("%s: unknown grant %q: log in again", path, cfg.Grant)
	}
	return cfg, nil
}

// save writes the configuration with mode 0600 (its directory 0700),
// replacing the file at once so that a reader never sees half of it.
func (c *cliConfig) save() error {
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".config-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.path)
}

// tokenEndpoint is the realm's token endpoint under the server URL.
func (c *cliConfig) tokenEndpoint() string {
	return c.URL + "/realms/" + url.PathEscape(c.Realm) + "/protocol/openid-connect/token"
}

// loginCommand is the command line that logs in again as this login did.
func (c *cliConfig) loginCommand() string {
	line := fmt.Sprintf("latchkey login --url %s --realm %s --client-id %s", c.URL, c.Realm, c.ClientID)
	if c.Grant == grantDevice {
		line += " --device"
	}
	return line
}

// deviceConfig is the OAuth configuration of a device login's client: a
// public client, authenticated by its client_id alone.
func (c *cliConfig) deviceConfig() *oauth2.Config {
	return &oauth2.Config{
		ClientID: c.ClientID,
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: c.URL + "/realms/" + url.PathEscape(c.Realm) + "/protocol/openid-connect/auth/device",
			TokenURL:      c.tokenEndpoint(),
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		Scopes: []string{domain.ScopeManagement},
	}
}

// configTokens gives admin tokens for a stored login, reusing the stored
// token until a minute before it expires.
type configTokens struct {
	cfg *cliConfig
	io  *cliIO
}

func (t *configTokens) Token(ctx context.Context, fresh bool) (string, error) {
	if !fresh && t.cfg.AccessToken != "" && time.Until(t.cfg.Expiry) > time.Minute {
		return t.cfg.AccessToken, nil
	}
	if t.cfg.Grant == grantDevice {
		// One renewal at a time: two commands presenting one refresh
		// token would be taken for a stolen token, and the login revoked.
		unlock, err := lockConfig(ctx, t.cfg.path)
		if err != nil {
			return "", err
		}
		defer unlock()
		if cur, err := readConfig(t.cfg.path); err == nil && cur.Grant == grantDevice && cur.RefreshToken != t.cfg.RefreshToken &&
			time.Until(cur.Expiry) > time.Minute {
			// Another command renewed the login while this one waited:
			// its access token is newer than the one this command holds.
			*t.cfg = *cur
			return cur.AccessToken, nil
		}
	}
	tok, err := t.fetch(ctx)
	if err != nil {
		return "", err
	}
	t.cfg.AccessToken, t.cfg.Expiry, t.cfg.RefreshToken = tok.AccessToken, tok.Expiry, tok.RefreshToken
	if err := t.cfg.save(); err != nil {
		if t.cfg.Grant == grantDevice {
			// The stored refresh token is spent: the next command presents
			// it again, and the server revokes the login (reuse).
			fmt.Fprintf(t.io.stderr, "latchkey: warning: cannot keep the renewed login in %s (%v): the next command will ask you to log in again\n", t.cfg.path, err)
		} else {
			fmt.Fprintf(t.io.stderr, "latchkey: warning: cannot keep the token in %s: %v\n", t.cfg.path, err)
		}
	}
	return tok.AccessToken, nil
}

// fetch gets a new access token by the login's grant.
func (t *configTokens) fetch(ctx context.Context) (*oauth2.Token, error) {
	if t.cfg.Grant == grantDevice {
		return t.refresh(ctx)
	}
	cc := clientcredentials.Config{
		ClientID: t.cfg.ClientID, ClientSecret: t.cfg.ClientSecret, TokenURL: t.cfg.tokenEndpoint(),
		Scopes: []string{domain.ScopeManagement}, AuthStyle: oauth2.AuthStyleInHeader,
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, t.io.httpClient())
	tok, err := cc.Token(ctx)
	if err != nil {
		return nil, adminclient.TokenError(fmt.Errorf("getting a token from %s: %w", t.cfg.tokenEndpoint(), err))
	}
	if !strings.Contains(" "+fmt.Sprint(tok.Extra("scope"))+" ", " "+domain.ScopeManagement+" ") {
		return nil, fmt.Errorf("client %s of realm %s was not given scope management: it cannot use the admin API", t.cfg.ClientID, t.cfg.Realm)
	}
	return tok, nil
}

// refresh renews a device login's access token with its refresh token;
// the answer carries the rotated refresh token, which the caller stores.
func (t *configTokens) refresh(ctx context.Context) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, t.io.httpClient())
	// A token with no access token is renewed at once.
	tok, err := t.cfg.deviceConfig().TokenSource(ctx, &oauth2.Token{RefreshToken: t.cfg.RefreshToken}).Token()
	if err != nil {
		return nil, adminclient.TokenError(fmt.Errorf("renewing the login at %s: %w", t.cfg.tokenEndpoint(), err))
	}
	return tok, nil
}

// lockConfig takes the lock of the login at path (a file beside it, made
// only if it does not exist), waiting while another command holds it. A
// lock older than staleLock was left by a command that was killed.
func lockConfig(ctx context.Context, path string) (unlock func(), err error) {
	lock := path + ".lock"
	for {
		f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(lock) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("locking the login: %w", err)
		}
		if info, err := os.Stat(lock); err == nil && time.Since(info.ModTime()) > staleLock {
			os.Remove(lock)
			continue
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for another latchkey command to renew the login (or remove %s): %w", lock, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// staleLock is longer than a renewal can take (one token request).
const staleLock = 2 * time.Minute
