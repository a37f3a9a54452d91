// Package projections builds Latchkey's read models: pure folds of a realm's
// events, fed in stream order by a Runner, which also lets a writer wait
// until its own write has been applied (read-your-writes).
package projections
