// Package eventstore is Latchkey's JetStream event store: the event
// envelope and its codec, subjects and streams per realm, appends with
// optimistic concurrency, group-committed token events, reading an
// aggregate's history or a realm's stream, and the embedded nats-server.
package eventstore
