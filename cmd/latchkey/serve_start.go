package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/latchkeyhq/latchkey/realms"
)

// startup is where `latchkey serve` is on its way to ready. Several
// replicas may start at once on a fresh cluster, where creating a stream
// or bucket can time out while another replica creates the same one: every
// provisioning step is safe to run again, and run again with backoff
// until the start deadline. HTTP answers from the first moment: /healthz
// is 200, /readyz is 503 naming the step it waits for, and anything else
// is 503 until the service is wired.
type startup struct {
	log      *slog.Logger
	deadline time.Time
	stage    atomic.Pointer[string] // nil once ready
	app      atomic.Pointer[http.Handler]
}

// Stages of start-up, as /readyz names them.
const (
	stageKeys      = "key store"
	stagePasswords = "password store"
	stageSnapshots = "snapshot store"
	stageLimits    = "abuse counters"
	stageMACs      = "event MAC boundaries"
	stageRealms    = "realms' read models"
	stageBootstrap = "master realm and admin client"
	// The console's session store, and every realm's console client.
	stageConsoleSessions = "console session store"
	stageConsoles        = "console clients"
)

func newStartup(log *slog.Logger, timeout time.Duration) *startup {
	s := &startup{log: log, deadline: time.Now().Add(timeout)}
	first := stageKeys
	s.stage.Store(&first)
	return s
}

// waiting is what start-up still waits for; empty once ready.
func (s *startup) waiting() string {
	if p := s.stage.Load(); p != nil {
		return *p
	}
	return ""
}

func (s *startup) setReady() { s.stage.Store(nil) }

// serve hands requests to the application once it is wired.
func (s *startup) serve(h http.Handler) { s.app.Store(&h) }

func (s *startup) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if app := s.app.Load(); app != nil {
		(*app).ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/healthz":
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
	case "/readyz":
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "starting", "waiting_for": s.waiting()})
	default:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "temporarily_unavailable", "error_description": "the server is starting"})
	}
}

// Backoff between attempts of one step: doubling, jittered, capped.
const (
	startFirstPause = 100 * time.Millisecond
	startMostPause  = 2 * time.Second
)

// step runs one provisioning step until it succeeds, retrying a failure
// with backoff until the start deadline. A failure no retry can mend (a
// wrong master key, refused credentials) ends it at once.
func (s *startup) step(ctx context.Context, stage string, run func(context.Context) error) error {
	s.stage.Store(&stage)
	began := time.Now()
	pause := startFirstPause
	for attempt := 1; ; attempt++ {
		err := run(ctx)
		if err == nil {
			s.log.Info("start-up step done", "step", stage, "attempts", attempt, "ms", time.Since(began).Milliseconds())
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if permanent(err) {
			return err
		}
		if time.Now().Add(pause).After(s.deadline) {
			return fmt.Errorf("%s: still failing at the start deadline after %d attempts: %w", stage, attempt, err)
		}
		s.log.Warn("start-up step failed; retrying", "step", stage, "attempt", attempt, "retry_in", pause.String(), "err", err)
		t := time.NewTimer(pause/2 + rand.N(pause/2+1))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		pause = min(2*pause, startMostPause)
	}
}

// permanent reports a start-up failure that retrying cannot mend.
func permanent(err error) bool {
	return errors.Is(err, realms.ErrWrongMasterKey) || errors.Is(err, nats.ErrAuthorization) ||
		errors.Is(err, nats.ErrConnectionClosed)
}
