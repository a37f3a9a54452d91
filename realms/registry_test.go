package realms_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
	"github.com/latchkeyhq/latchkey/realms"
)

// A flood of requests for a name that is no realm asks the store once per
// period, not once per request; a realm created on another replica is
// found after that period at most, and one created here at once.
func TestUnknownRealmNamesAreRemembered(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	ctx := context.Background()
	off := realms.AuditConfig{CheckpointEvery: -1}
	here := auditRegistry(t, srv, off)
	t.Cleanup(here.Close)
	other := auditRegistry(t, srv, off)
	t.Cleanup(other.Close)

	sent := srv.NC.Stats().OutMsgs
	for range 1000 {
		if _, err := here.Get(ctx, "nope"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("an unknown realm: %v", err)
		}
	}
	if n := srv.NC.Stats().OutMsgs - sent; n > 20 {
		t.Fatalf("1000 requests for one unknown realm sent %d messages to NATS, want a handful", n)
	}

	// Created on the other replica right after the name was asked for
	// here: not found here for a moment, then found.
	if _, err := other.Create(ctx, "nope", sysMeta()); err != nil {
		t.Fatal(err)
	}
	created := time.Now()
	if _, err := here.Get(ctx, "nope"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a realm created elsewhere within the period: %v, want still not found", err)
	}
	for {
		if _, err := here.Get(ctx, "nope"); err == nil {
			break
		}
		if time.Since(created) > 3*time.Second {
			t.Fatal("a realm created on another replica is still not found here after 3 s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Created here after being asked for in vain: found at once.
	if _, err := here.Get(ctx, "later"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := here.Create(ctx, "later", sysMeta()); err != nil {
		t.Fatalf("creating a realm asked for in vain a moment ago: %v", err)
	}
	if _, err := here.Get(ctx, "later"); err != nil {
		t.Fatalf("a realm created here: %v", err)
	}
}
