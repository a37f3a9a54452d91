package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/realms/verifier"
)

// natsConfig is how serve reaches NATS: an external server or cluster
// (url), or the embedded server and, when listen is set, its TCP listener.
type natsConfig struct {
	url      string
	listen   string
	password string // of user latchkey: the listener's, or sent to url
	ca       string // with url: the CA of the server's certificate
	tlsCert  string
	tlsKey   string
	insecure bool
}

func natsFlags(fs *flag.FlagSet, c *natsConfig, envErrs map[string]error) {
	fs.StringVar(&c.url, "nats-url", envOr("LATCHKEY_NATS_URL", ""), "external NATS server or cluster; empty runs an embedded server (LATCHKEY_NATS_URL)")
	fs.StringVar(&c.listen, "nats-listen", envOr("LATCHKEY_NATS_LISTEN", ""), "also serve the embedded NATS on this TCP address, for downstream resource servers and other latchkey processes; clients always authenticate (LATCHKEY_NATS_LISTEN)")
	natsClientFlags(fs, &c.password, &c.ca)
	fs.StringVar(&c.tlsCert, "nats-tls-cert", envOr("LATCHKEY_NATS_TLS_CERT", ""), "PEM certificate of the --nats-listen listener; with --nats-tls-key, TCP clients must use TLS (LATCHKEY_NATS_TLS_CERT)")
	fs.StringVar(&c.tlsKey, "nats-tls-key", envOr("LATCHKEY_NATS_TLS_KEY", ""), "PEM private key of --nats-tls-cert (LATCHKEY_NATS_TLS_KEY)")
	insecure := envBool(envErrs, "nats-insecure", "LATCHKEY_NATS_INSECURE", false)
	fs.BoolVar(&c.insecure, "nats-insecure", insecure, "let --nats-listen serve a non-loopback address without TLS: passwords and events cross the network in the clear (LATCHKEY_NATS_INSECURE)")
}

// natsClientFlags are what a latchkey process needs to connect to another
// one's listener (or to a cluster) as user latchkey.
func natsClientFlags(fs *flag.FlagSet, password, ca *string) {
	fs.StringVar(password, "nats-password", envOr("LATCHKEY_NATS_PASSWORD", ""), "password of NATS user latchkey: required of it by --nats-listen (default: generated into <data>/"+eventstore.NATSPasswordFile+"), sent to --nats-url when the URL names no user; prefer the variable, flags show in ps (LATCHKEY_NATS_PASSWORD)")
	fs.StringVar(ca, "nats-ca", envOr("LATCHKEY_NATS_CA", ""), "with --nats-url: PEM file of the CA that signed the NATS server's certificate (LATCHKEY_NATS_CA)")
}

// check refuses settings that contradict each other, before anything
// starts.
func (c natsConfig) check() error {
	if c.listen != "" {
		if _, _, err := net.SplitHostPort(c.listen); err != nil {
			return fmt.Errorf("--nats-listen %q: %w", c.listen, err)
		}
	}
	embedded := c.embedded("")
	switch {
	case c.url != "" && (c.listen != "" || c.tlsCert != "" || c.tlsKey != "" || c.insecure):
		return errors.New("--nats-listen, --nats-tls-cert, --nats-tls-key and --nats-insecure configure the embedded NATS server; drop them or --nats-url")
	case c.url == "" && c.ca != "":
		return errors.New("--nats-ca is for --nats-url")
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return errors.New("--nats-tls-cert and --nats-tls-key go together")
	case c.tlsCert != "" && c.listen == "":
		return errors.New("--nats-tls-cert needs --nats-listen")
	case embedded.PlainTextExposed() && !c.insecure:
		return fmt.Errorf("--nats-listen %s is reachable from other hosts: give --nats-tls-cert and --nats-tls-key, or --nats-insecure to send passwords and events in the clear", c.listen)
	}
	return nil
}

// embedded is the embedded server's configuration, without credentials.
func (c natsConfig) embedded(dataDir string) eventstore.EmbeddedConfig {
	return eventstore.EmbeddedConfig{DataDir: dataDir, ListenAddr: c.listen, TLSCert: c.tlsCert, TLSKey: c.tlsKey, Insecure: c.insecure}
}

// natsBackend is the NATS connection and, when embedded, its server.
type natsBackend struct {
	nc *nats.Conn
	ns *server.Server
}

// openNATS connects to the external server, or starts the embedded one:
// Latchkey connects in process; the listener, if any, admits user
// latchkey and each realm's rs-<realm> (passwords derived from masterKey,
// permissions of verifier.Permissions).
func openNATS(c natsConfig, dataDir string, noSync bool, masterKey []byte, log *slog.Logger) (*natsBackend, error) {
	if c.url != "" {
		nc, err := eventstore.ConnectURL(c.url, eventstore.ClientOptions(c.password, c.ca)...)
		return &natsBackend{nc: nc}, err
	}
	cfg := c.embedded(dataDir)
	cfg.NoSync = noSync
	if c.listen != "" {
		password, err := eventstore.LoadNATSPassword(dataDir, c.password)
		if err != nil {
			return nil, err
		}
		realmKey, err := eventstore.DeriveKey(masterKey, eventstore.PurposeNATSRealmUsers)
		if err != nil {
			return nil, err
		}
		cfg.Auth = eventstore.ListenerAuth{Password: password, RealmKey: realmKey, RealmPermissions: verifier.Permissions}
	}
	ns, err := eventstore.StartEmbedded(cfg)
	if err != nil {
		return nil, err
	}
	nc, err := eventstore.ConnectInProcess(ns)
	if err != nil {
		ns.Shutdown()
		return nil, err
	}
	if c.listen != "" {
		passwordFrom := "--nats-password"
		if c.password == "" {
			passwordFrom = filepath.Join(dataDir, eventstore.NATSPasswordFile)
		}
		log.Info("nats listener", "addr", ns.Addr().String(), "tls", c.tlsCert != "",
			"server_user", eventstore.ServerUser, "server_password", passwordFrom, "realm_users", "latchkey nats-credentials --realm <realm>")
		if cfg.PlainTextExposed() {
			log.Warn("the NATS listener is reachable from other hosts without TLS (--nats-insecure): passwords and events cross the network in the clear", "addr", c.listen)
		}
	}
	return &natsBackend{nc: nc, ns: ns}, nil
}

func (b *natsBackend) close() {
	_ = b.nc.Drain()
	for b.nc.IsDraining() {
		time.Sleep(10 * time.Millisecond)
	}
	if b.ns != nil {
		b.ns.Shutdown()
		b.ns.WaitForShutdown()
	}
}

func envBool(errs map[string]error, flag, name string, def bool) bool {
	return envValue(errs, flag, name, def, strconv.ParseBool, "true or false")
}
