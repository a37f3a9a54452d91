package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkeyhq/latchkey/eventstore"
)

// foreignMessages reports the stored messages without a valid MAC that the
// store met (written by someone else with publish rights on a stream;
// never read as events): one warning per message, stream.foreign_message,
// with its realm, subject and sequence (never its body), and a counter by
// realm.
type foreignMessages struct {
	log   *slog.Logger
	count *prometheus.CounterVec
}

func newForeignMessages(log *slog.Logger) *foreignMessages {
	return &foreignMessages{log: log, count: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_foreign_messages_total",
		Help: "Stored messages without a valid MAC, by realm: not written by Latchkey, ignored by every reader.",
	}, []string{"realm"})}
}

func (f *foreignMessages) report(m eventstore.ForeignMessage) {
	if m.Seq == 0 { // the stream's MAC boundary, not a message
		f.log.Error("event MAC boundary does not verify", "realm", m.Realm, "detail", m.Reason)
		return
	}
	f.log.Warn("stream.foreign_message", "realm", m.Realm, "seq", m.Seq, "subject", m.Subject, "reason", m.Reason)
	f.count.WithLabelValues(m.Realm).Inc()
}
