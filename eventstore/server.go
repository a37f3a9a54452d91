package eventstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// EmbeddedConfig configures the in-process nats-server.
type EmbeddedConfig struct {
	// DataDir holds the JetStream file store under DataDir/nats.
	DataDir string
	// ListenAddr, when set (host:port), also serves NATS clients on TCP so
	// that downstream services can subscribe; empty keeps it in-process only.
	ListenAddr string
	// Auth says who may connect on ListenAddr; its Password is required
	// with a ListenAddr.
	Auth ListenerAuth
	// TLSCert and TLSKey (PEM files), when set, make TCP clients use TLS.
	TLSCert, TLSKey string
	// Insecure lets a ListenAddr that is not loopback serve without TLS:
	// passwords and events then cross the network in the clear.
	Insecure bool
	// NoSync turns off fsync on every write. Only benchmarks that compare
	// against it set this; the default is durable.
	NoSync bool
}

// ErrPlainTextListener: a NATS listener reachable from other hosts would
// carry passwords and events in the clear.
var ErrPlainTextListener = errors.New("a NATS listen address that is not loopback needs TLS")

// PlainTextExposed reports a listener that other hosts can reach and that
// serves without TLS (allowed only with Insecure).
func (cfg EmbeddedConfig) PlainTextExposed() bool {
	if cfg.ListenAddr == "" || cfg.TLSCert != "" {
		return false
	}
	host, _, err := splitHostPort(cfg.ListenAddr)
	return err != nil || !isLoopback(host)
}

// StartEmbedded starts a JetStream-enabled nats-server inside this process.
// Every acknowledged write is fsynced unless NoSync is set. Clients always
// authenticate (see ListenerAuth).
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "latchkey",
		JetStream:  true,
		StoreDir:   filepath.Join(cfg.DataDir, "nats"),
		SyncAlways: !cfg.NoSync,
		NoSigs:     true,
		NoLog:      true,
		DontListen: cfg.ListenAddr == "",
		// Never a client without credentials, listener or not.
		CustomClientAuthentication: listenerAuth{cfg.Auth},
	}
	if err := configureListener(opts, cfg); err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats-server did not become ready")
	}
	return ns, nil
}

// configureListener sets the TCP listener's address and TLS, refusing a
// listener without a password, or one that other hosts reach in the clear
// unless Insecure.
func configureListener(opts *server.Options, cfg EmbeddedConfig) error {
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("embedded nats-server: a TLS certificate needs its key, and a key its certificate")
	}
	if cfg.ListenAddr == "" {
		if cfg.TLSCert != "" {
			return errors.New("embedded nats-server: TLS is configured but there is no listen address")
		}
		return nil
	}
	if cfg.Auth.Password == "" {
		return errors.New("embedded nats-server: a listener needs the password of user " + ServerUser)
	}
	host, port, err := splitHostPort(cfg.ListenAddr)
	if err != nil {
		return err
	}
	opts.Host, opts.Port = host, port
	if cfg.PlainTextExposed() && !cfg.Insecure {
		return fmt.Errorf("%w: %s", ErrPlainTextListener, cfg.ListenAddr)
	}
	if cfg.TLSCert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey})
		if err != nil {
			return fmt.Errorf("embedded nats-server TLS: %w", err)
		}
		opts.TLSConfig, opts.TLS = tc, true
	}
	return nil
}

// ConnectInProcess opens a client connection that bypasses the network
// (and needs no credentials).
func ConnectInProcess(ns *server.Server) (*nats.Conn, error) {
	return nats.Connect("", nats.InProcessServer(ns), nats.Name("latchkey"), nats.MaxReconnects(-1))
}

// ConnectURL opens a client connection to an external server or cluster;
// auth comes from ClientOptions.
func ConnectURL(url string, auth ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{nats.Name("latchkey"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true)}, auth...)
	return nats.Connect(url, opts...)
}
