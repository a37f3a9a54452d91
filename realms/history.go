package realms

import (
	"context"

	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
)

// Raw history: the queries that read the realm's stream itself rather than
// its read models. The events API pages through it in order; the audit log
// reads it backwards a window at a time, or tails it live. Neither holds
// the history in memory, and neither leaves a consumer behind.
type History struct{ rl *Realm }

// History is the realm's raw history.
func (rl *Realm) History() History { return History{rl} }

// Events returns up to limit of the realm's events stored after sequence
// afterSeq, in stream order (at most eventstore.MaxPage).
func (h History) Events(ctx context.Context, afterSeq uint64, limit int) ([]eventstore.Envelope, error) {
	return h.rl.reg.store.ReadRealm(ctx, h.rl.Name, afterSeq, limit)
}

// AuditTop is where a scan of the newest audit entries f selects starts
// (projections.AuditTop).
func (h History) AuditTop(ctx context.Context, f *projections.AuditFilter) (projections.AuditPos, error) {
	return projections.AuditTop(ctx, h.rl.reg.store, h.rl.Name, f)
}

// ScanAudit walks the audit log backwards from pos, newest first, calling
// visit with each entry f selects, within budget messages (0: no bound);
// window, when set, runs after each window read. It returns where to
// continue and whether anything may be left there (projections.ScanAudit).
func (h History) ScanAudit(ctx context.Context, f *projections.AuditFilter, pos projections.AuditPos, budget uint64,
	visit func(projections.AuditEntry, projections.AuditPos) bool, window func() error) (projections.AuditPos, bool, error) {
	return projections.ScanAudit(ctx, h.rl.reg.store, h.rl.Name, f, pos, budget, visit, window)
}

// TailAudit calls fn with the events of every message of the realm from
// fromSeq on, one message at a time in stream order, then of each new one
// as it is stored; fromSeq 0 starts with the next message stored. Stop the
// tail when done (projections.TailAudit).
func (h History) TailAudit(ctx context.Context, fromSeq uint64, fn func(seq uint64, events []eventstore.Envelope)) (*projections.AuditTail, error) {
	if fromSeq == 0 {
		last, err := h.rl.reg.store.LastSeq(ctx, h.rl.Name)
		if err != nil {
			return nil, err
		}
		fromSeq = last + 1
	}
	return projections.TailAudit(ctx, h.rl.reg.store, h.rl.Name, fromSeq, fn)
}

// Verify checks the realm's whole stream against its checkpoint chain
// (VerifyChain, with the keys its own events publish): what the chain
// covers and any break. It reads every message once.
func (h History) Verify(ctx context.Context) (*VerifyReport, error) {
	return VerifyChain(ctx, h.rl.reg.store, h.rl.Name, VerifyOptions{})
}

// LastSeq is the sequence of the last message the realm's stream holds
// now: a live tail from after it misses nothing stored later.
func (h History) LastSeq(ctx context.Context) (uint64, error) {
	return h.rl.reg.store.LastSeq(ctx, h.rl.Name)
}
