package main

// A person's login with the device authorization grant: the command shows
// a code and waits while the test, as the person, enters it on the
// verification page, signs in and allows; later commands renew the access
// token with the stored refresh token and keep the rotated one.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestCLIDeviceLogin(t *testing.T) {
	lk := startLatchkey(t, serverOpts{name: "cli-device", data: t.TempDir(), bootstrapSecret: cliBootstrapSecret})
	admin := newCLIUser(t, lk)
	admin.login(cliBootstrapSecret)
	admin.ok("", "realm", "create", "acme")

	// What an administrator does once: the command line's client and a
	// person with a realm role.
	cli := decodeJSON[apiClient](t, "client create", admin.ok("", "client", "create", "--realm", "acme", "--name", "latchkey command line",
		"--type", "public", "--kind", "user_app", "--grant-type", grantDevice+",refresh_token", "--scope", "management", "--refresh-tokens", "-o", "json")).ClientID
	admin.env["LATCHKEY_USER_PASSWORD"] = "correct horse battery"
	admin.ok("", "user", "create", "--realm", "acme", "--username", "alice", "--password")
	admin.ok("", "user", "set-realm-roles", "alice", "--role", "realm-admin", "--realm", "acme")

	u := newCLIUser(t, lk)
	u.fails(2, "--client-id is required", "login", "--url", lk.base, "--realm", "acme", "--device")

	// Denied: nothing is stored.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	login := []string{"login", "--url", lk.base, "--realm", "acme", "--device", "--client-id", cli}
	if r := deviceSignIn(ctx, t, u, lk, "deny", login...); r.status != 1 || !strings.Contains(r.stderr, "the sign-in was denied; nothing was stored") {
		t.Errorf("a denied login:\n%s", r)
	}
	if _, err := os.Stat(u.config); !os.IsNotExist(err) {
		t.Errorf("a denied login left %s behind (%v)", u.config, err)
	}

	// The login waits while the person signs in and allows.
	r := deviceSignIn(ctx, t, u, lk, "approve", login...)
	if r.status != 0 || !strings.Contains(r.stdout, "Logged in to "+lk.base+" as the user who signed in through client "+cli+" of realm acme") {
		t.Fatalf("device login:\n%s", r)
	}
	if info, err := os.Stat(u.config); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v", info, err)
	}
	first := readCLIConfig(t, u.config)
	if first.Grant != grantDevice || first.RefreshToken == "" || first.ClientSecret != "" || first.Realm != "acme" {
		t.Fatalf("stored login: grant %q, refresh token %t, secret %t, realm %q", first.Grant, first.RefreshToken != "", first.ClientSecret != "", first.Realm)
	}

	// A verb works with the person's token, in the realm logged in to.
	if out := u.ok("", "client", "list"); !strings.Contains(out, cli) {
		t.Errorf("client list as alice:\n%s", out)
	}
	if got := readCLIConfig(t, u.config); got.RefreshToken != first.RefreshToken {
		t.Errorf("a fresh access token was renewed without need")
	}

	// Once the access token has expired, the next verb renews it and
	// stores the rotated refresh token.
	expireAccessToken(t, u.config)
	if out := u.ok("", "user", "list"); !strings.Contains(out, "alice") {
		t.Errorf("user list after renewal:\n%s", out)
	}
	second := readCLIConfig(t, u.config)
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken || time.Until(second.Expiry) < 10*time.Minute {
		t.Fatalf("after renewal: new refresh token %t, new access token %t, expiry %s", second.RefreshToken != first.RefreshToken, second.AccessToken != first.AccessToken, second.Expiry)
	}
	if info, err := os.Stat(u.config); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("config file after renewal: %v %v", info, err)
	}
	// And again: every renewal keeps the newest refresh token.
	expireAccessToken(t, u.config)
	u.ok("", "client", "list")
	if third := readCLIConfig(t, u.config); third.RefreshToken == second.RefreshToken {
		t.Errorf("the second renewal did not store its refresh token")
	}

	// Commands run at once renew the login one at a time: none presents
	// a refresh token another has just rotated (which the server would
	// take for a stolen one, revoking the login).
	expireAccessToken(t, u.config)
	results := make(chan cliResult, 4)
	for range 4 {
		go func() { results <- u.runWith(ctx, "", &syncBuffer{}, &syncBuffer{}, "client", "list") }()
	}
	for range 4 {
		if r := <-results; r.status != 0 {
			t.Errorf("a command run beside others:\n%s", r)
		}
	}
	expireAccessToken(t, u.config)
	u.ok("", "client", "list")
	if _, err := os.Stat(u.config + ".lock"); !os.IsNotExist(err) {
		t.Errorf("the lock was left behind: %v", err)
	}

	// The refresh token revoked (RFC 7009): the next renewal is refused,
	// and the command says how to log in again.
	stored := readCLIConfig(t, u.config)
	lk.postForm(t, "/realms/acme/protocol/openid-connect/revoke",
		url.Values{"token": {stored.RefreshToken}, "client_id": {cli}}.Encode()).requireStatus(t, http.StatusOK)
	expireAccessToken(t, u.config)
	u.fails(1, "invalid_grant", "client", "list")
	u.fails(1, "log in again: latchkey login --url "+lk.base+" --realm acme --client-id "+cli+" --device", "client", "list")
}

func readCLIConfig(t *testing.T, path string) cliConfig {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg cliConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg
}

// expireAccessToken makes the stored access token look expired, as it is
// an hour after the login: the next command renews it.
func expireAccessToken(t *testing.T, path string) {
	t.Helper()
	cfg := readCLIConfig(t, path)
	cfg.Expiry = time.Now().Add(-time.Second)
	cfg.path = path
	if err := cfg.save(); err != nil {
		t.Fatal(err)
	}
}

// deviceSignIn runs a device login while the person, in a browser, enters
// the code it shows (in lower case: case does not matter), signs in as
// alice and answers the consent page with action (approve or deny).
func deviceSignIn(ctx context.Context, t *testing.T, u *cliUser, lk *latchkey, action string, args ...string) cliResult {
	t.Helper()
	stderr := &syncBuffer{}
	done := make(chan cliResult, 1)
	go func() { done <- u.runWith(ctx, "", &syncBuffer{}, stderr, args...) }()
	waitOutput(t, stderr, "Waiting for you to sign in", 30*time.Second)
	shown := regexp.MustCompile(`open (\S+)\nand enter the code ([A-Z]{4}-[A-Z]{4})\n\(or open (\S+) and confirm the code\)`).FindStringSubmatch(stderr.String())
	if shown == nil || shown[1] != lk.base+"/realms/acme/device" || shown[3] != shown[1]+"?user_code="+shown[2] {
		t.Fatalf("the login shows no verification URI and code:\n%s", stderr)
	}
	b := newBrowser(t)
	page := b.get(shown[1])
	form, fields := formOf(t, lk.base, page.body)
	fields.Set("user_code", strings.ToLower(shown[2]))
	signIn := b.post(form, fields)
	if signIn.status != http.StatusOK || !strings.Contains(signIn.body, "Sign in") {
		t.Fatalf("after the code: %d\n%s", signIn.status, signIn.body)
	}
	form, fields = formOf(t, lk.base, signIn.body)
	fields.Set("username", "alice")
	fields.Set("password", "correct horse battery")
	consent := b.post(form, fields)
	if consent.status != http.StatusOK || !strings.Contains(consent.body, "wants access") {
		t.Fatalf("consent: %d\n%s", consent.status, consent.body)
	}
	form, fields = formOf(t, lk.base, consent.body)
	fields.Set("action", action)
	if answered := b.post(form, fields); !strings.Contains(answered.body, "return to your device") {
		t.Fatalf("after consent: %d\n%s", answered.status, answered.body)
	}
	return <-done
}
