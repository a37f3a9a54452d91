// Package projections builds Latchkey's read models: pure folds of a realm's
// events, fed in stream order by a Runner, which also lets a writer wait
// until its own write has been applied (read-your-writes). The same
// decoding (DecodeEvents) feeds every Rebuild, which CheckRebuild uses to
// prove the folds deterministic. It also reads raw history for people: the
// audit log (entries, filters, cursors, backwards scans, live tails) and
// replay's ScanHistory.
package projections
