// Package estest starts a real embedded nats-server with JetStream for
// tests, on a directory the test owns.
package estest

import (
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/latchkeyhq/latchkey/eventstore"
)

// EventKey is the MAC key of the stores tests start: every message they
// append is authenticated, as in production.
var EventKey = []byte("estest: the event MAC key of tests")

// Server is a running embedded server and a store connected to it.
type Server struct {
	Dir   string
	NS    *server.Server
	NC    *nats.Conn
	Store *eventstore.Store

	mu      sync.Mutex
	foreign []eventstore.ForeignMessage
}

// Foreign returns the foreign messages the store reported so far.
func (s *Server) Foreign() []eventstore.ForeignMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]eventstore.ForeignMessage(nil), s.foreign...)
}

// Start runs a server on dir (usually t.TempDir()) and stops it when the
// test ends. Every write is fsynced, as in production.
func Start(t testing.TB, dir string) *Server {
	return StartWith(t, eventstore.EmbeddedConfig{DataDir: dir})
}

// StartWith runs a server with a given configuration (benchmarks compare
// fsync on and off).
func StartWith(t testing.TB, cfg eventstore.EmbeddedConfig) *Server {
	t.Helper()
	dir := cfg.DataDir
	ns, err := eventstore.StartEmbedded(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := eventstore.ConnectInProcess(ns)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: dir, NS: ns, NC: nc}
	st, err := eventstore.New(nc, eventstore.Options{EventKey: EventKey, OnForeign: func(f eventstore.ForeignMessage) {
		s.mu.Lock()
		s.foreign = append(s.foreign, f)
		s.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	s.Store = st
	t.Cleanup(s.Stop)
	return s
}

// Stop shuts the server down; calling it twice is harmless.
func (s *Server) Stop() {
	if s.NS == nil {
		return
	}
	s.Store.Close()
	s.NC.Close()
	s.NS.Shutdown()
	s.NS.WaitForShutdown()
	s.NS = nil
}
