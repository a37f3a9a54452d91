// Package eventstore is Latchkey's JetStream event store: the event
// envelope and its codec, subjects and streams per realm, appends with
// optimistic concurrency, group-committed token events, the MAC on every
// message and its check on every read (eventmac.go), the keys derived from
// the master key (subkeys.go), reading an aggregate's history or a realm's
// stream (pages, raw scans, short ranges, live tails), the buckets beside
// the streams (sealed secrets, snapshots), and the embedded nats-server.
// No other package opens a JetStream stream, consumer, bucket or object
// store.
package eventstore
