package eventstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/eventstore"
)

// The counter bucket: compare-and-set on the revision read, a TTL per key,
// deletion, and values that outlive a restart of the server.
func TestCountersCompareAndSetExpireAndSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ts := startTestServer(t, dir)
	ctx := context.Background()
	c, err := ts.Store.OpenCounters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	value, rev, err := c.Get(ctx, "acme.user.k1")
	if err != nil || value != nil || rev != 0 {
		t.Fatalf("a key never written: %q rev %d, %v", value, rev, err)
	}
	if err := c.Set(ctx, "acme.user.k1", []byte("one"), 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	// A writer that read before the first write loses.
	if err := c.Set(ctx, "acme.user.k1", []byte("stale"), 0, time.Hour); !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("a write at a stale revision: %v, want ErrConflict", err)
	}
	value, rev, err = c.Get(ctx, "acme.user.k1")
	if err != nil || string(value) != "one" || rev == 0 {
		t.Fatalf("after the write: %q rev %d, %v", value, rev, err)
	}
	if err := c.Set(ctx, "acme.user.k1", []byte("two"), rev, time.Hour); err != nil {
		t.Fatalf("a write at the revision read: %v", err)
	}

	// A key with a short TTL is gone after it, and can be written again
	// at the revision Get gives then.
	if err := c.Set(ctx, "acme.ip.short", []byte("x"), 0, time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		value, rev, err = c.Get(ctx, "acme.ip.short")
		if err != nil {
			t.Fatal(err)
		}
		if value == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a counter with a 1 s TTL is still there after 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.Set(ctx, "acme.ip.short", []byte("again"), rev, time.Hour); err != nil {
		t.Fatalf("writing an expired key again at revision %d: %v", rev, err)
	}

	// Deleted, a key reads as never written.
	if err := c.Delete(ctx, "acme.ip.short"); err != nil {
		t.Fatal(err)
	}
	if value, rev, err = c.Get(ctx, "acme.ip.short"); err != nil || value != nil || rev != 0 {
		t.Fatalf("a deleted key: %q rev %d, %v", value, rev, err)
	}

	// The server restarts: the counter is still there.
	ts.Stop()
	ts = startTestServer(t, dir)
	c, err = ts.Store.OpenCounters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if value, _, err = c.Get(ctx, "acme.user.k1"); err != nil || string(value) != "two" {
		t.Fatalf("after a restart: %q, %v", value, err)
	}
}
