package realms_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// TestRevokeGrantWinsOverConcurrentRefreshes: a grant whose version keeps
// moving (its client refreshing as fast as it can) is still revoked: the
// expected-version write that keeps concurrent revocations from
// duplicating must not let a busy grant escape revocation.
func TestRevokeGrantWinsOverConcurrentRefreshes(t *testing.T) {
	srv, _, rl := acmeRealm(t, realms.AuditConfig{CheckpointEvery: -1})
	ctx := context.Background()
	ref := domain.GrantRef("g1")
	seq, err := srv.Store.Append(ctx, "acme", ref, 0, sysMeta(),
		domain.GrantCreated{GrantID: "g1", ClientID: "c", UserID: "u", RefreshHash: "h0", RefreshExpires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.WaitFor(ctx, seq); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() { // rotations, each at the version the last one returned, as a sequential refresher writes them
		defer close(done)
		v := seq
		for !stop.Load() {
			s, err := srv.Store.Append(ctx, "acme", ref, v, sysMeta(), domain.GrantRefreshed{RefreshHash: "h", RefreshExpires: time.Now().Add(time.Hour).Unix()})
			if err != nil {
				return // revoked under it
			}
			v = s
		}
	}()
	time.Sleep(50 * time.Millisecond)
	err = rl.Grants().Revoke(ctx, "g1", "refresh token reused", sysMeta())
	stop.Store(true)
	<-done
	if err != nil {
		t.Fatalf("RevokeGrant while the grant is being refreshed: %v", err)
	}
	if g, _ := rl.Models().Authz.Grant("g1"); !g.Revoked {
		t.Fatal("RevokeGrant returned, and the grant is not revoked")
	}
}
