package realms

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
)

// testRealm is realm acme on a real embedded JetStream server.
func testRealm(t *testing.T) *Realm {
	t.Helper()
	srv := estest.Start(t, t.TempDir())
	ctx := context.Background()
	keys, err := OpenKeyStore(ctx, srv.Store, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	passwords, err := OpenPasswordStore(ctx, srv.Store, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(srv.Store, keys, passwords, "https://id.example.test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := reg.SetAudit(AuditConfig{CheckpointEvery: -1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	rl, err := reg.Create(ctx, "acme", testMeta())
	if err != nil {
		t.Fatal(err)
	}
	return rl
}

func testMeta() eventstore.Meta {
	return eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
}

// fewRetries makes the retry policy short for one test.
func fewRetries(t *testing.T, attempts int) {
	saved := retry
	retry = retryPolicy{attempts: attempts, first: time.Millisecond, most: 2 * time.Millisecond}
	t.Cleanup(func() { retry = saved })
}

// renameAt is a plan renaming node slug at an expected version.
func renameAt(slug string, expected uint64, name string) plan {
	return write(domain.NodeRef(slug), expected, domain.NodeRenamed{Name: name})
}

func TestLostRaceIsDecidedAgainOnFreshState(t *testing.T) {
	rl := testRealm(t)
	ctx := context.Background()
	n, err := rl.Structure().CreateNode(ctx, domain.CreateNode{Slug: "org", Kind: domain.NodeOrganization}, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	stale := n.Version
	// Another writer moves the node on after the first decision read it.
	if _, err := rl.Structure().RenameNode(ctx, "org", "Other", false, testMeta()); err != nil {
		t.Fatal(err)
	}
	var seen []uint64
	err = rl.execute(ctx, testMeta(), command{decide: func() (plan, error) {
		version := stale
		if len(seen) > 0 {
			cur, err := rl.Structure().Node("org")
			if err != nil {
				return plan{}, err
			}
			version = cur.Version
		}
		seen = append(seen, version)
		return renameAt("org", version, "Mine"), nil
	}})
	if err != nil {
		t.Fatalf("a lost race decided again: %v", err)
	}
	if len(seen) != 2 || seen[1] == stale {
		t.Fatalf("decisions at versions %v, want the stale one, then the fresh one", seen)
	}
	// Read your writes: the models show it when execute returns.
	if cur, _ := rl.Structure().Node("org"); cur.Name != "Mine" {
		t.Fatalf("after execute the node is named %q, want Mine", cur.Name)
	}
}

func TestLostRaceDeclaredFinal(t *testing.T) {
	rl := testRealm(t)
	ctx := context.Background()
	if _, err := rl.Structure().CreateNode(ctx, domain.CreateNode{Slug: "org", Kind: domain.NodeOrganization}, testMeta()); err != nil {
		t.Fatal(err)
	}
	final := &domain.OAuthError{Code: domain.ErrInvalidGrant, Description: "already used"}
	decisions := 0
	err := rl.execute(ctx, testMeta(), command{lostRace: final, decide: func() (plan, error) {
		decisions++
		return renameAt("org", 1, "x"), nil // version 1 is the realm's first event, never the node's
	}})
	if err != final || decisions != 1 {
		t.Fatalf("err %v after %d decisions, want the declared error after one", err, decisions)
	}
}

func TestRetriesAreBounded(t *testing.T) {
	fewRetries(t, 4)
	rl := testRealm(t)
	ctx := context.Background()
	if _, err := rl.Structure().CreateNode(ctx, domain.CreateNode{Slug: "org", Kind: domain.NodeOrganization}, testMeta()); err != nil {
		t.Fatal(err)
	}
	alwaysStale := func(decisions *int) func() (plan, error) {
		return func() (plan, error) {
			*decisions++
			return renameAt("org", 1, "never"), nil
		}
	}
	decisions := 0
	err := rl.execute(ctx, testMeta(), command{decide: alwaysStale(&decisions)})
	if !errors.Is(err, eventstore.ErrConflict) || decisions != 4 {
		t.Fatalf("err %v after %d decisions, want a conflict after 4", err, decisions)
	}
	if n, _ := rl.Structure().Node("org"); n.Name == "never" {
		t.Fatal("a stale decision was written")
	}

	// A revocation's last attempt is written whatever the version.
	decisions = 0
	err = rl.execute(ctx, testMeta(), command{unconditionalLast: true, decide: alwaysStale(&decisions)})
	if err != nil || decisions != 4 {
		t.Fatalf("unconditional last attempt: err %v after %d decisions, want success on the 4th", err, decisions)
	}
	if n, _ := rl.Structure().Node("org"); n.Name != "never" {
		t.Fatalf("node named %q after the unconditional attempt", n.Name)
	}
}

func TestDecisionErrorsAndEmptyPlansWriteNothing(t *testing.T) {
	rl := testRealm(t)
	ctx := context.Background()
	before := rl.runner.Applied()
	refused := &domain.ValidationError{Message: "no"}
	if err := rl.execute(ctx, testMeta(), command{decide: func() (plan, error) {
		return renameAt("org", 0, "x"), refused
	}}); err != refused {
		t.Fatalf("err %v, want the decision's error", err)
	}
	if err := rl.execute(ctx, testMeta(), command{decide: func() (plan, error) { return plan{}, nil }}); err != nil {
		t.Fatal(err)
	}
	last, err := rl.reg.store.LastSeq(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if last != before {
		t.Fatalf("the stream grew from %d to %d", before, last)
	}
}

func TestConditions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cond    Condition
		version uint64
		want    error // nil, domain.ErrPreconditionFailed, or a *domain.ConflictError
	}{
		{"none", Condition{}, 7, nil},
		{"If-Match met", Condition{IfMatch: 7}, 7, nil},
		{"If-Match stale", Condition{IfMatch: 6}, 7, domain.ErrPreconditionFailed},
		{"version met", Condition{Version: 7}, 7, nil},
		{"version stale", Condition{Version: 6}, 7, &domain.ConflictError{}},
		{"both stale: If-Match decides", Condition{IfMatch: 6, Version: 6}, 7, domain.ErrPreconditionFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cond.check(tc.version)
			var cerr *domain.ConflictError
			switch want := tc.want.(type) {
			case nil:
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
			case *domain.ConflictError:
				if !errors.As(err, &cerr) {
					t.Fatalf("got %v, want a conflict", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("got %v, want %v", err, want)
				}
			}
		})
	}
}

func TestRetryPauseGrowsJitteredAndCapped(t *testing.T) {
	p := retryPolicy{attempts: 32, first: time.Millisecond, most: 32 * time.Millisecond}
	for n, step := range []time.Duration{1, 2, 4, 8, 16, 32, 32, 32} {
		step *= time.Millisecond
		for range 50 {
			if d := p.pause(n); d < step/2 || d > step {
				t.Fatalf("pause(%d) = %v, want within [%v, %v]", n, d, step/2, step)
			}
		}
	}
	if d := p.pause(1000); d < p.most/2 || d > p.most {
		t.Fatalf("pause(1000) = %v: the shift must not overflow past the cap", d)
	}
}
