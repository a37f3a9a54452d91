package eventstore

import (
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
	// NoSync turns off fsync on every write. Only benchmarks that compare
	// against it set this; the default is durable.
	NoSync bool
}

// StartEmbedded starts a JetStream-enabled nats-server inside this process.
// Every acknowledged write is fsynced unless NoSync is set.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "latchkey",
		JetStream:  true,
		StoreDir:   filepath.Join(cfg.DataDir, "nats"),
		SyncAlways: !cfg.NoSync,
		NoSigs:     true,
		NoLog:      true,
		DontListen: cfg.ListenAddr == "",
	}
	if cfg.ListenAddr != "" {
		host, port, err := splitHostPort(cfg.ListenAddr)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
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

// ConnectInProcess opens a client connection that bypasses the network.
func ConnectInProcess(ns *server.Server) (*nats.Conn, error) {
	return nats.Connect("", nats.InProcessServer(ns), nats.Name("latchkey"), nats.MaxReconnects(-1))
}

// ConnectURL opens a client connection to an external server or cluster.
func ConnectURL(url string) (*nats.Conn, error) {
	return nats.Connect(url, nats.Name("latchkey"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true))
}
