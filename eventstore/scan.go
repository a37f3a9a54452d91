package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
)

// RawMsg is one message of a realm's stream exactly as stored: its body
// (one envelope, several token envelopes separated by '\n', or a revocation
// rule), where and when it was stored, and its per-message TTL.
type RawMsg struct {
	Seq     uint64
	Subject string
	Data    []byte
	// Time is when the stream stored the message (server clock).
	Time time.Time
	// TTL is the message's Nats-TTL (0 when it has none: kept for good).
	TTL time.Duration
	// Authenticated: the message carries a valid MAC (eventmac.go).
	// Foreign: it does not, and is not legacy either: someone else wrote
	// it. It holds no events; it has been reported. A message that is
	// neither is legacy (before the realm's MAC boundary), or read by a
	// store that checks no MAC.
	Authenticated, Foreign bool
	mac                    string // its Lk-Mac header
}

// NoEvents reports whether the message carries no event envelopes: a
// revocation rule, or a guard (a version check of a write, see
// Store.AppendChanges).
func (m *RawMsg) NoEvents() bool { return carriesNoEvent(m.Subject) }

// Envelopes decodes the message's events, each stamped with the message's
// sequence: none for a rule or a foreign message.
func (m *RawMsg) Envelopes() ([]Envelope, error) {
	if m.NoEvents() || m.Foreign {
		return nil, nil
	}
	return DecodeMessage(m.Data, m.Seq)
}

// judgeRaw marks a message read from the realm authenticated or foreign;
// from is the realm's MAC boundary.
func (s *Store) judgeRaw(realm string, from uint64, m *RawMsg) {
	m.Authenticated, m.Foreign = s.judge(realm, from, m.Seq, m.Subject, m.Data, m.mac)
}

// ScanOptions narrow a Scan. The zero value reads the whole stream as it is
// when the scan starts.
type ScanOptions struct {
	// FromSeq is the first sequence to read (0 or 1: the beginning).
	FromSeq uint64
	// Since, when set and FromSeq is not, starts at the first message the
	// stream stored at or after this time.
	Since time.Time
	// ToSeq is the last sequence to read; 0 is the stream's last sequence
	// when the scan starts. Messages appended during a scan beyond it are
	// not read, so a scan of a live stream ends.
	ToSeq uint64
	// Batch is how many messages are requested at once (default 8192).
	Batch int
	// OnStart, when set, is told before the first message how many
	// messages the scan expects to read (for progress reports).
	OnStart func(expected uint64)
}

// defaultScanBatch keeps a scan's pipe full: large enough that the server
// is never waiting for the next pull request, small enough to bound memory.
const defaultScanBatch = 8192

// ScanStats says what a scan read.
type ScanStats struct {
	Messages uint64
	Bytes    uint64
	FirstSeq uint64 // first sequence delivered (0 if none)
	LastSeq  uint64 // last sequence delivered (0 if none)
}

// ErrStopScan, returned by a Scan callback, ends the scan without error.
var ErrStopScan = errors.New("eventstore: stop scan")

// Scan reads a realm's stream in order, one message at a time, as stored:
// no envelope is decoded, so a reader that only copies bytes pays for
// nothing else. m is reused after fn returns; m.Data is the message's own
// and may be kept. Rule and guard messages are delivered too (m.NoEvents()).
func (s *Store) Scan(ctx context.Context, realm string, opts ScanOptions, fn func(m *RawMsg) error) (ScanStats, error) {
	var stats ScanStats
	if err := domain.ValidateName("realm name", realm); err != nil {
		return stats, err
	}
	stream, err := s.js.Stream(ctx, StreamName(realm))
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return stats, ErrNoRealm
		}
		return stats, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return stats, err
	}
	from, _, err := s.MACBoundary(ctx, realm)
	if err != nil {
		return stats, err
	}
	last := info.State.LastSeq
	if opts.ToSeq > 0 && opts.ToSeq < last {
		last = opts.ToSeq
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case opts.FromSeq > 1:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, opts.FromSeq
	case !opts.Since.IsZero():
		t := opts.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	if info.State.Msgs == 0 || last == 0 || opts.FromSeq > last {
		if opts.OnStart != nil {
			opts.OnStart(0)
		}
		return stats, nil
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return stats, err
	}
	defer s.dropConsumer(realm, cons)
	cinfo, err := cons.Info(ctx)
	if err != nil {
		return stats, err
	}
	// The messages the scan will see: those pending now (the stream may
	// grow meanwhile; the scan still ends at last).
	pending := cinfo.NumPending
	if opts.OnStart != nil {
		opts.OnStart(pending)
	}
	if pending == 0 {
		return stats, nil
	}
	batch := opts.Batch
	if batch <= 0 {
		batch = defaultScanBatch
	}
	// The callback runs on the consumer's delivery goroutine, one message at
	// a time; the scan's goroutine only waits for it to finish.
	var (
		m        RawMsg
		mu       sync.Mutex // the callback holds it; the scan's goroutine reads after done
		failed   error
		progress = make(chan struct{}, 1)
		done     = make(chan struct{})
		finished bool
		busy     atomic.Bool // fn is running
	)
	finish := func(err error) {
		if !finished {
			finished, failed = true, err
			close(done)
		}
	}
	cc, err := cons.Consume(func(jm jetstream.Msg) {
		mu.Lock()
		defer mu.Unlock()
		if finished {
			return
		}
		if err := fillRaw(&m, jm); err != nil {
			finish(err)
			return
		}
		if m.Seq > last {
			finish(nil)
			return
		}
		s.judgeRaw(realm, from, &m)
		if stats.FirstSeq == 0 {
			stats.FirstSeq = m.Seq
		}
		stats.LastSeq = m.Seq
		stats.Messages++
		stats.Bytes += uint64(len(m.Data))
		busy.Store(true)
		err := fn(&m)
		busy.Store(false)
		if err != nil {
			if errors.Is(err, ErrStopScan) {
				err = nil
			}
			finish(err)
			return
		}
		if m.Seq == last || stats.Messages == pending {
			finish(nil)
			return
		}
		select {
		case progress <- struct{}{}:
		default:
		}
	}, jetstream.PullMaxMessages(batch))
	if err != nil {
		return stats, err
	}
	idle := time.NewTimer(scanIdle)
	defer idle.Stop()
	end := func(err error) (ScanStats, error) {
		cc.Stop()
		<-cc.Closed()
		mu.Lock()
		defer mu.Unlock()
		if !finished {
			finish(err)
		}
		return stats, failed
	}
	for {
		select {
		case <-done:
			return end(nil)
		case <-ctx.Done():
			return end(ctx.Err())
		case <-progress:
			idle.Reset(scanIdle)
		case <-idle.C:
			// Nothing for a while: a slow callback, or messages counted as
			// pending were removed meanwhile and nothing more is coming.
			if busy.Load() {
				idle.Reset(scanIdle)
				continue
			}
			if info, err := cons.Info(ctx); err == nil && info.NumPending > 0 {
				idle.Reset(scanIdle)
				continue
			}
			return end(nil)
		}
	}
}

// scanIdle is how long a scan waits for a message it expects before it
// concludes that the stream no longer holds it.
const scanIdle = 2 * time.Second

// fillRaw reads a delivered message's sequence, time, TTL and MAC from its
// reply subject and headers.
func fillRaw(m *RawMsg, jm jetstream.Msg) error {
	seq, ts, ok := parseAckReply(jm.Reply())
	if !ok {
		md, err := jm.Metadata()
		if err != nil {
			return err
		}
		seq, ts = md.Sequence.Stream, md.Timestamp.UnixNano()
	}
	m.Seq = seq
	m.Subject = jm.Subject()
	m.Data = jm.Data()
	m.Time = time.Unix(0, ts)
	m.TTL, m.mac = 0, ""
	if h := jm.Headers(); len(h) > 0 {
		m.TTL = parseTTL(h.Get(headerTTL))
		m.mac = h.Get(headerMAC)
	}
	return nil
}

// headerTTL is JetStream's per-message TTL header.
const headerTTL = "Nats-TTL"

// parseTTL reads a Nats-TTL value: a Go duration or whole seconds; "never"
// and anything unreadable are 0.
func parseTTL(v string) time.Duration {
	if v == "" || strings.EqualFold(v, "never") {
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil {
		return d
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 0
}

// parseAckReply reads the stream sequence and the storage time (Unix
// nanoseconds) from a JetStream delivery's reply subject, without the
// allocations of Metadata:
//
//	$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>
//	$JS.ACK.<domain>.<acchash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>[.<token>]
func parseAckReply(reply string) (seq uint64, ts int64, ok bool) {
	var tok [12]string
	n := 0
	for n < len(tok) {
		i := strings.IndexByte(reply, '.')
		if i < 0 {
			tok[n] = reply
			n++
			break
		}
		tok[n] = reply[:i]
		reply = reply[i+1:]
		n++
	}
	if n < 9 || tok[0] != "$JS" || tok[1] != "ACK" {
		return 0, 0, false
	}
	off := 0
	if n >= 11 {
		off = 2
	}
	s, err1 := strconv.ParseUint(tok[5+off], 10, 64)
	t, err2 := strconv.ParseInt(tok[7+off], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return s, t, true
}

// RawSubscription is a live feed of a realm's raw messages.
type RawSubscription interface {
	Stop()
}

// TailRaw calls fn, in stream order and one at a time, with every message of
// the realm from fromSeq on (rules included, bodies not decoded), then with
// each new one as it is stored. m is only valid during the call. Stop
// deletes the consumer at once.
func (s *Store) TailRaw(ctx context.Context, realm string, fromSeq uint64, fn func(m *RawMsg), onErr func(error)) (RawSubscription, error) {
	if err := domain.ValidateName("realm name", realm); err != nil {
		return nil, err
	}
	boundary, _, err := s.MACBoundary(ctx, realm)
	if err != nil {
		return nil, err
	}
	cons, err := s.js.OrderedConsumer(ctx, StreamName(realm), jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       max(fromSeq, 1),
		InactiveThreshold: readerIdle,
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, ErrNoRealm
		}
		return nil, err
	}
	var m RawMsg
	cc, err := cons.Consume(func(jm jetstream.Msg) {
		if err := fillRaw(&m, jm); err != nil {
			onErr(err)
			return
		}
		s.judgeRaw(realm, boundary, &m)
		fn(&m)
	})
	if err != nil {
		s.dropConsumer(realm, cons)
		return nil, err
	}
	return &subscription{ConsumeContext: cc, drop: func() { s.dropConsumer(realm, cons) }}, nil
}

// LastMsg returns the last message stored on an exact subject of the
// realm's stream, or ok false when it holds none. A foreign one is returned
// as such (m.Foreign): the caller decides what a foreign last message
// means.
func (s *Store) LastMsg(ctx context.Context, realm, subject string) (m RawMsg, ok bool, err error) {
	stream, err := s.js.Stream(ctx, StreamName(realm))
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return m, false, ErrNoRealm
		}
		return m, false, err
	}
	raw, err := stream.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return m, false, nil
		}
		return m, false, err
	}
	m = RawMsg{Seq: raw.Sequence, Subject: raw.Subject, Data: raw.Data, Time: raw.Time}
	if raw.Header != nil {
		m.TTL = parseTTL(raw.Header.Get(headerTTL))
		m.mac = raw.Header.Get(headerMAC)
	}
	from, _, err := s.MACBoundary(ctx, realm)
	if err != nil {
		return m, false, err
	}
	s.judgeRaw(realm, from, &m)
	return m, true, nil
}

// StreamBounds returns the realm stream's first and last sequence and how
// many messages it holds.
func (s *Store) StreamBounds(ctx context.Context, realm string) (first, last, msgs uint64, err error) {
	stream, err := s.js.Stream(ctx, StreamName(realm))
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return 0, 0, 0, ErrNoRealm
		}
		return 0, 0, 0, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	return info.State.FirstSeq, info.State.LastSeq, info.State.Msgs, nil
}

// String renders a message for error reports.
func (m *RawMsg) String() string { return fmt.Sprintf("seq %d on %s", m.Seq, m.Subject) }
