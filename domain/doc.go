// Package domain holds Latchkey's events, aggregates, commands and decisions.
//
// It is pure: no I/O, no NATS, no HTTP and no clock. Time is passed in by the
// caller, so every decision is reproducible from its inputs and every read
// model is a deterministic fold of the events defined here.
package domain
