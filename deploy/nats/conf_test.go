// Package nats_test keeps deploy/nats/nats.conf and docker-compose.yml in
// step with the code: the configuration is read by nats-server's own parser.
package nats_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/latchkeyhq/latchkey/realms/verifier"
)

func TestNATSConfHardening(t *testing.T) {
	env := map[string]string{
		"LATCHKEY_NATS_PASSWORD": "lk-password", "ACME_RS_NATS_PASSWORD": "rs-password",
		"NATS_ROUTE_PASSWORD": "route-password",
		"NATS_ROUTE_1":        "nats-route://route:route-password@nats-1:6222",
		"NATS_ROUTE_2":        "nats-route://route:route-password@nats-2:6222",
		"NATS_ROUTE_3":        "nats-route://route:route-password@nats-3:6222",
		"NATS_STORE_DIR":      "/data/jetstream",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	opts, err := server.ProcessConfigFile("nats.conf")
	if err != nil {
		t.Fatal(err)
	}

	// Routes authenticate, both ways.
	if opts.Cluster.Username != "route" || opts.Cluster.Password != "route-password" {
		t.Errorf("cluster authorization: user %q, password %q", opts.Cluster.Username, opts.Cluster.Password)
	}
	if len(opts.Routes) != 3 {
		t.Fatalf("routes %v", opts.Routes)
	}
	for _, r := range opts.Routes {
		if pw, _ := r.User.Password(); r.User.Username() != "route" || pw != "route-password" {
			t.Errorf("route %s does not carry the route user's credentials", r.Redacted())
		}
	}
	if opts.StoreDir != "/data/jetstream" {
		t.Errorf("JetStream store %q, want $NATS_STORE_DIR", opts.StoreDir)
	}
	// Monitoring answers on loopback only.
	if opts.HTTPHost != "127.0.0.1" || opts.HTTPPort != 8222 {
		t.Errorf("monitoring on %s:%d, want 127.0.0.1:8222", opts.HTTPHost, opts.HTTPPort)
	}
	if opts.NoAuthUser != "" {
		t.Errorf("no_auth_user %q lets clients in without credentials", opts.NoAuthUser)
	}

	// Users: latchkey with everything, rs-acme with exactly the
	// verifier's permissions.
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	if len(users) != 2 || users["latchkey"] == nil || users["rs-acme"] == nil {
		t.Fatalf("users %v, want latchkey and rs-acme", users)
	}
	if users["latchkey"].Password != "lk-password" || users["rs-acme"].Password != "rs-password" {
		t.Error("passwords are not taken from the environment")
	}
	perms := users["rs-acme"].Permissions
	pub, sub := verifier.Permissions("acme")
	if perms == nil || perms.Publish == nil || perms.Subscribe == nil ||
		!sameSet(perms.Publish.Allow, pub) || !sameSet(perms.Subscribe.Allow, sub) ||
		len(perms.Publish.Deny) > 0 || len(perms.Subscribe.Deny) > 0 || perms.Response != nil {
		t.Errorf("rs-acme permissions %+v / %+v, want publish %v and subscribe %v", perms.Publish, perms.Subscribe, pub, sub)
	}
}

func TestComposeHardening(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	compose := string(raw)
	if strings.Contains(compose, "8222:") {
		t.Error("docker-compose.yml publishes the NATS monitoring port")
	}
	for _, want := range []string{"NATS_ROUTE_PASSWORD", "NATS_ROUTE_1", "NATS_ROUTE_2", "NATS_ROUTE_3", "NATS_STORE_DIR"} {
		if !strings.Contains(compose, want+":") {
			t.Errorf("docker-compose.yml does not pass %s to the NATS nodes", want)
		}
	}
	if strings.Contains(compose, "nats://latchkey:") {
		t.Error("docker-compose.yml puts the latchkey user's password in a command line")
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}
